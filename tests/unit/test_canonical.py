"""RFC 8785 canonical JSON: our fast path gives the reference implementation's bytes."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from adapters.canonical import canonical

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)


@given(_json)
def test_equals_the_reference_implementation(value: Any) -> None:
    assert canonical(value) == rfc8785.dumps(value)


def test_rfc8785_examples() -> None:
    # RFC 8785 section 3.2.2 (numbers and escapes) and 3.2.3 (sorting by UTF-16 code units).
    assert canonical(
        {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]}
    ) == (b'{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}')
    assert canonical({"string": "\u20ac$\u000f\u000aA'\u0042\u0022\u005c\\\"/"}) == (
        b'{"string":"\xe2\x82\xac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    keys = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    assert list(canonical(keys).decode()) == list(
        '{"\\r":2,"1":4,"\u0080":6,"\u00f6":7,"\u20ac":1,"\U0001f600":5,"\ufb33":3}'
    )


def test_vietnamese_text_stays_utf8() -> None:
    assert canonical({"subject": "Ủy ban nhân dân, Thượng khẩn"}) == (
        '{"subject":"Ủy ban nhân dân, Thượng khẩn"}'.encode()
    )
