"""The lookup form's integer keys: what the gRPC API would take, nothing more."""

from __future__ import annotations

import pytest

from featurestore.services.online import JoinKeyType
from featurestore.services.ui.console import PageError
from featurestore.services.ui.pages.lookup import _integers


def test_decimal_integers_in_range_are_read() -> None:
    texts = ["0", "-7", "+12", str(2**63 - 1), str(-(2**63))]
    assert _integers("k", JoinKeyType.INT64, texts) == [0, -7, 12, 2**63 - 1, -(2**63)]


@pytest.mark.parametrize("text", ["1_000", "٣", "1.0", "0x10", "1e3", "", "--1"])
def test_anything_python_int_reads_beyond_ascii_decimals_is_refused(text: str) -> None:
    # int() took "1_000" as 1000 and Arabic-Indic "٣" as 3.
    with pytest.raises(PageError) as refused:
        _integers("customer_id", JoinKeyType.INT64, [text])
    assert refused.value.status == 400
    assert refused.value.message == "customer_id values must be integers"


def test_a_value_outside_the_key_type_names_the_range() -> None:
    with pytest.raises(PageError, match="outside the int32 range"):
        _integers("k", JoinKeyType.INT32, [str(2**31)])
