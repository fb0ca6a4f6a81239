"""Point-in-time joins and training sets on Spark, as the offline store joins."""

from __future__ import annotations

from featurestore.spark_jobs.pit.join import SparkViewInput, point_in_time_join

__all__ = ["SparkViewInput", "point_in_time_join"]
