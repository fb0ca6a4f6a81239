"""Delta feature tables written by spark_jobs, as standard Feast FileSources."""

import os
from pathlib import Path

from feast import FileSource
from feast.data_format import DeltaFormat

# Same rule as spark_jobs.paths.default_data_root: $FS_DATA_DIR or <repo>/data.
DATA_DIR = Path(
    os.environ.get("FS_DATA_DIR", Path(__file__).resolve().parent.parent / "data")
).resolve()

customer_spend_source = FileSource(
    name="customer_spend",
    path=str(DATA_DIR / "features" / "customer_spend"),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_customer_spend.",
)

merchant_risk_source = FileSource(
    name="merchant_risk",
    path=str(DATA_DIR / "features" / "merchant_risk"),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_merchant_risk.",
)
