"""The serving side: contracts, offline and online reads, the gRPC server. No JVM."""
