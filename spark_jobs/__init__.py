"""Spark jobs that turn raw card-payment events into contract-checked Delta feature tables."""
