"""Delta feature tables written by spark_jobs, as standard Feast FileSources."""

from feast import FileSource
from feast.data_format import DeltaFormat

from featurestore.services.project import table_ref

# The registry keeps a table reference (featurestore://<table>): the offline
# store locates it through featurestore.yaml (or $FS_DATA_DIR) on every read,
# so a server follows the project's config, not the day of `feast apply`.

customer_spend_source = FileSource(
    name="customer_spend",
    path=table_ref("customer_spend"),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_customer_spend.",
)

merchant_risk_source = FileSource(
    name="merchant_risk",
    path=table_ref("merchant_risk"),
    file_format=DeltaFormat(),
    timestamp_field="event_timestamp",
    created_timestamp_column="created_timestamp",
    description="Delta table published by spark_jobs.jobs.build_merchant_risk.",
)
