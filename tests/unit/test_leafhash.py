"""The fast leaf texts of `audit verify`: always a JSON text of the item `canonical_item` builds,
and that item's canonical text itself for the states this router writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import msgspec
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from adapters.eventlog import recorded_at, rfc3339
from adapters.evidence import canonical_item
from adapters.leafhash import Leaves

STAMP = "2026-11-24T08:00:00.123456Z"
STREAM = uuid.UUID("7d444840-9dc0-11d1-b245-5ffdce74fad2").hex

_keys = st.text(max_size=8).filter(lambda k: k not in ("timestamp", "originator_topic"))
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.text(max_size=12)
)


def _json(scalars: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=4),
        max_leaves=20,
    )


_data = st.dictionaries(_keys, _json(_scalars), max_size=8)
_data_with_floats = st.dictionaries(
    _keys, _json(_scalars | st.floats(allow_nan=False, allow_infinity=False)), max_size=8
)


def _stored(data: dict[str, Any], **hidden: Any) -> bytes:
    return msgspec.json.encode(
        {"timestamp": STAMP, "originator_topic": "Document", **hidden, **data}
    )


def _both(leaves: Leaves, stored: bytes, topic: str = "DocumentSent") -> tuple[bytes, bytes]:
    fast = leaves.leaf(42, STREAM, 3, topic, stored)
    return fast, canonical_item(42, STREAM, 3, topic, stored)[1]


def _same_value(fast: bytes, exact: bytes) -> bool:
    """Whether the exact text is the canonical text of the value the fast one denotes, its
    timestamp (kept as stored) written the way `recorded_at` writes it."""
    item = msgspec.json.decode(fast)
    item["recorded_at"] = recorded_at(item["recorded_at"])
    return rfc8785.dumps(item) == exact


@given(_data, st.booleans())
def test_the_fast_text_is_the_canonical_text_of_what_msgspec_stored(
    data: dict[str, Any], token: bool
) -> None:
    stored = _stored(data, token_sha256="ab" * 32) if token else _stored(data)
    leaves = Leaves()
    # The first state of a type is decoded whole (and its shape learnt), the next by shape.
    for _ in range(2):
        fast, exact = _both(leaves, stored)
        if any(ord(c) >= 0xE000 for c in exact.decode()):
            assert _same_value(fast, exact)  # keys may sort differently in UTF-16 (JCS)
        else:
            assert fast == exact


@given(_data_with_floats, _data_with_floats)
def test_the_fast_text_always_holds_the_exact_item(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    leaves = Leaves()
    for data in (first, second, first, second):
        fast, exact = _both(leaves, _stored(data))
        assert _same_value(fast, exact)


def test_a_state_stored_in_another_form_gives_another_text_of_the_same_item() -> None:
    leaves = Leaves()
    leaves.leaf(1, STREAM, 1, "DocumentSent", _stored({"subject": "A", "n": 1, "to": {"b": 1}}))
    for stored in (
        b'{"timestamp":"%s","originator_topic":"Document","subject":"\\u0041","n":1,'
        b'"to":{"b":1}}' % STAMP.encode(),
        b'{ "timestamp" : "%s", "originator_topic":"Document", "subject":"A", "n":1.0,'
        b'"to":{"b":1}}' % STAMP.encode(),
        b'{"timestamp":"%s","originator_topic":"Document","subject":{"z":1,"a":2},"n":1,'
        b'"to":{"b":1}}' % STAMP.encode(),
    ):
        fast, exact = _both(leaves, stored)
        assert fast != exact
        assert _same_value(fast, exact)


def test_a_duplicate_key_counts_as_the_exact_path_counts_it() -> None:
    leaves = Leaves()
    leaves.leaf(1, STREAM, 1, "DocumentSent", _stored({"subject": "A", "n": 1}))
    stored = b'{"timestamp":"%s","originator_topic":"D","subject":"A","n":1,"subject":"B"}' % (
        STAMP.encode()
    )
    fast, exact = _both(leaves, stored)
    assert fast == exact
    assert msgspec.json.decode(fast)["data"] == {"subject": "B", "n": 1}


def test_hidden_fields_and_the_timestamp_are_left_out_whatever_the_shape() -> None:
    leaves = Leaves()
    states = [
        _stored({"code": "X"}, token_sha256=None),
        _stored({"code": "X"}),
        _stored({"code": "X", "added": [1, {"b": 2, "a": 1}]}, token_sha256="ff"),
    ]
    for stored in states * 2:
        fast, exact = _both(leaves, stored, "AgencyRegistered")
        assert fast == exact
        assert set(msgspec.json.decode(fast)["data"]) <= {"code", "added"}


def test_a_timestamp_stored_in_another_form_stays_so_and_gives_a_text_no_leaf_has() -> None:
    leaves = Leaves()
    leaves.leaf(1, STREAM, 1, "AgencyRegistered", _stored({"code": "X"}))
    for stamp in ("2026-11-24T15:00:00.123456+07:00", "2026-11-24T08:00:00.123456+00:00"):
        stored = b'{"timestamp":"%s","code":"X"}' % stamp.encode()
        fast, exact = _both(leaves, stored, "AgencyRegistered")
        assert msgspec.json.decode(fast)["recorded_at"] == stamp
        assert fast != exact
        assert _same_value(fast, exact)
        assert msgspec.json.decode(exact)["recorded_at"] == STAMP


def test_objects_and_lists_of_objects_take_their_own_shapes() -> None:
    leaves = Leaves()
    recipients = [{"agency": "B", "tier": "province", "ancestors": ["A"]}] * 2
    states = [
        _stored({"to": recipients, "signature": {"z": 1, "a": "x"}}),
        _stored({"to": recipients, "signature": None}),
        _stored({"to": [*recipients, {"agency": "C", "tier": "commune"}], "signature": {}}),
        _stored({"to": [], "signature": {"z": 1, "a": "x", "b": [{"y": 1, "x": 2}]}}),
    ]
    for stored in states * 2:
        fast, exact = _both(leaves, stored)
        assert fast == exact


def test_a_stream_read_as_text_stands_only_in_its_canonical_form() -> None:
    leaves, stored, dashed = Leaves(), _stored({"code": "X"}), str(uuid.UUID(STREAM))
    for stream in (STREAM, uuid.UUID(STREAM), dashed):
        assert _both_with(leaves, stream, stored)[0] == _both_with(leaves, stream, stored)[1]
    fast, exact = _both_with(leaves, dashed.upper(), stored)
    assert fast != exact
    assert fast.replace(dashed.upper().encode(), dashed.encode()) == exact


def _both_with(leaves: Leaves, stream: Any, stored: bytes) -> tuple[bytes, bytes]:
    return (
        leaves.leaf(1, stream, 1, "AgencyRegistered", stored),
        canonical_item(1, stream, 1, "AgencyRegistered", stored)[1],
    )


@given(
    st.datetimes(
        min_value=datetime(1900, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC)
        | st.builds(
            timezone, st.timedeltas(min_value=-timedelta(hours=23), max_value=timedelta(hours=23))
        ),
    )
)
def test_rfc3339_is_the_utc_isoformat_with_microseconds(moment: datetime) -> None:
    reference = moment.astimezone(UTC).isoformat(timespec="microseconds")
    assert rfc3339(moment) == reference.removesuffix("+00:00") + "Z"
