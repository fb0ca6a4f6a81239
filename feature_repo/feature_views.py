"""Feature views over the Delta tables; each names the contract of its table."""

from datetime import timedelta

from feast import FeatureView, Field
from feast.types import Float64, Int64

from entities import customer, merchant
from sources import customer_spend_source, merchant_risk_source

customer_spend_view = FeatureView(
    name="customer_spend",
    entities=[customer],
    ttl=timedelta(days=7),
    schema=[
        Field(name="spend_1h", dtype=Float64),
        Field(name="count_1h", dtype=Int64),
        Field(name="spend_24h", dtype=Float64),
        Field(name="count_24h", dtype=Int64),
        Field(name="spend_7d", dtype=Float64),
        Field(name="count_7d", dtype=Int64),
    ],
    online=True,
    source=customer_spend_source,
    tags={"contract": "customer_spend", "team": "risk"},
    description="Trailing card spend and counts per customer.",
)

merchant_risk_view = FeatureView(
    name="merchant_risk",
    entities=[merchant],
    ttl=timedelta(days=2),
    schema=[
        Field(name="txn_count_30d", dtype=Int64),
        Field(name="fraud_count_30d", dtype=Int64),
        Field(name="fraud_rate_30d", dtype=Float64),
    ],
    online=True,
    source=merchant_risk_source,
    tags={"contract": "merchant_risk", "team": "risk"},
    description="Thirty-day fraud rate per merchant, as known each day.",
)
