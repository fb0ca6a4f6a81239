"""The gRPC server: FeatureStoreService, ContractService, health and reflection."""
