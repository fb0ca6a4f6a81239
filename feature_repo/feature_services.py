"""Feature services: the exact feature sets models are trained and served with."""

from feast import FeatureService

from feature_views import customer_spend_view, merchant_risk_view

fraud_model_v1_service = FeatureService(
    name="fraud_model_v1",
    features=[customer_spend_view, merchant_risk_view],
    description="Features of the card-fraud model, version 1.",
    tags={"owner": "risk-ml"},
)
