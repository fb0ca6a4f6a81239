"""Feature references: one parser for the DuckDB, online and Spark paths."""

from __future__ import annotations

import pytest

from featurestore.services.offline import InvalidRequestError, Reason
from featurestore.services.offline.refs import FeatureRef, group_refs, parse_ref


def test_parse_splits_view_and_feature():
    assert parse_ref("driver:rate") == FeatureRef("driver", "rate")
    assert str(parse_ref("driver:rate")) == "driver:rate"


# "v:a:b" was view v, feature "a:b": NOT_FOUND "unknown feature" for what is
# a malformed reference (feature names are identifiers, no colon).
@pytest.mark.parametrize(
    "ref", ["", "rate", ":rate", "driver:", ":", "v:a:b", "v::a", "v:a:"]
)
def test_malformed_references_are_invalid_requests(ref):
    with pytest.raises(InvalidRequestError) as err:
        parse_ref(ref)
    assert err.value.reason == Reason.INVALID_REQUEST
    assert err.value.metadata == ({"ref": ref} if ref else {})


def test_group_keeps_first_seen_order():
    assert group_refs(["b:x", "a:y", "b:z"]) == {"b": ["x", "z"], "a": ["y"]}


def test_every_caller_uses_the_one_parser():
    # The server catalog, the DuckDB path and the Spark path parse through
    # refs; none keeps its own split of "view:feature".
    import inspect

    from featurestore.services.offline import historical
    from featurestore.services.server import catalog
    from featurestore.spark_jobs.pit import training_set

    for module in (historical, catalog, training_set):
        source = inspect.getsource(module)
        assert 'partition(":")' not in source, module.__name__
        assert "group_refs" in source or "resolve_views" in source, module.__name__
    # Both offline joins resolve services (their projections) the one way.
    for module in (historical, training_set):
        assert "resolve_views" in inspect.getsource(module), module.__name__
