"""Run by the wheel's own Python: an online read and a training set through the
server at argv[1]; prints one JSON document. Imports only the installed wheel."""

import json
import sys

import pandas as pd

from featurestore.services.client import FeatureStoreClient

with FeatureStoreClient(sys.argv[1]) as client:
    online = client.get_online_features(
        {"customer_id": [1, 2, 3]},
        features=["customer_purchases:purchase_count_1d"],
    )
    entities = pd.DataFrame(
        {
            "customer_id": [1, 2, 3],
            "event_timestamp": [pd.Timestamp.now(tz="UTC").floor("s")] * 3,
        }
    )
    historical = client.get_historical_features(
        entities, feature_service="example_model_v1"
    ).to_pandas()
json.dump(
    {
        "online": online.astype(object).where(online.notna(), None).to_dict("list"),
        "historical_columns": list(historical.columns),
        "historical_rows": len(historical),
        "historical_nulls": int(historical["purchase_count_1d"].isna().sum()),
        "module": __import__("featurestore").__file__,
    },
    sys.stdout,
    default=str,
)
