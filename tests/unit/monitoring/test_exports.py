from __future__ import annotations

import featurestore.services.monitoring as monitoring


def test_public_api_is_pinned():
    assert sorted(monitoring.__all__) == [
        "Against",
        "BaselineNotFoundError",
        "ColumnProfile",
        "DriftScore",
        "InvalidTableNameError",
        "MonitoringError",
        "MonitoringErrorReason",
        "ProfileNotFoundError",
        "ProfileSource",
        "TableNotFoundError",
        "Verdict",
        "VersionProfile",
        "js_distance",
        "psi",
        "read_drift",
        "read_profiles",
        "table_location",
    ]
    for name in monitoring.__all__:
        assert getattr(monitoring, name) is not None


def test_errors_mix_in_builtins():
    assert issubclass(monitoring.ProfileNotFoundError, LookupError)
    assert issubclass(monitoring.InvalidTableNameError, ValueError)
    assert issubclass(monitoring.TableNotFoundError, monitoring.MonitoringError)
