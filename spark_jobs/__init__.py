"""Spark jobs: raw card-payment events to contract-checked Delta feature tables."""
