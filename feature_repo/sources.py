"""Delta feature tables written by spark_jobs, as standard Feast FileSources."""

from pathlib import Path

from feast import FileSource
from feast.data_format import DeltaFormat

from featurestore.services.project import table_uri

# featurestore.yaml beside this file (or $FS_DATA_DIR) decides where the tables
# are: the path is baked into the registry at `feast apply`.
REPO = Path(__file__).resolve().parent

customer_spend_source = FileSource(
    name="customer_spend",
    path=table_uri("customer_spend", REPO),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_customer_spend.",
)

merchant_risk_source = FileSource(
    name="merchant_risk",
    path=table_uri("merchant_risk", REPO),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_merchant_risk.",
)
