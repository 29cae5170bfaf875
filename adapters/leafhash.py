"""Leaf bytes of stored events, fast: a faithful JSON encoding of the events-API item that is,
for the states this router writes, byte for byte the RFC 8785 one.

`canonical_item` (adapters/evidence.py) decodes a state into Python objects, builds the item and
encodes it with sorted keys (or through the reference implementation): exact, and most of the
cost of `audit verify`. Here a state is decoded into a msgspec Struct learnt from the first
state of its shape (event type and set of fields): a field that held a string, an integer or a
boolean is a `msgspec.Raw` (its JSON text kept as stored, not decoded), any other is decoded (so
that the encoder sorts the keys of its objects); the hidden fields are set to UNSET so that the
encoder leaves them out. The result always is a JSON text whose
value is the item `canonical_item` builds (the same fields, the values as stored, duplicate keys
resolved the same way), but not always the canonical text of it: a number or escape stored in
another form stays in that form. So the caller compares its hash with the recorded leaf and, on
any difference, recomputes the event with `canonical_item` before it names a difference: equal
hashes mean equal texts, and a faithful text equal to the canonical text of the recorded item
means the event still is that item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from adapters.eventlog import HIDDEN, recorded_at
from adapters.evidence import stream_text

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode
# An event type seen in more shapes than this (fields added over time) goes the generic way.
_MAX_SHAPES = 8


class _Item(msgspec.Struct):
    """An events-API item (the sorted encoder puts its fields in JCS order)."""

    data: Any
    position: int
    recorded_at: str
    stream: str
    type: str
    version: int


@dataclass(frozen=True)
class _Shape:
    """A decoder of states with exactly one set of fields, and the names of its hidden ones."""

    decode: Any
    hidden: tuple[str, ...]


class Leaves:
    """Computes leaf bytes of stored rows, learning the shapes of each event type's states."""

    def __init__(self) -> None:
        self._shapes: dict[str, list[_Shape]] = {}

    def leaf(
        self, position: int, originator_id: Any, version: int, topic: str, state: bytes
    ) -> bytes:
        """Returns a faithful JSON text of the event's item (usually its canonical text)."""
        shapes = self._shapes.setdefault(topic, [])
        for shape in shapes:
            try:
                data = shape.decode(state)
            except msgspec.ValidationError:
                continue
            stamp = data.timestamp
            for name in shape.hidden:
                setattr(data, name, msgspec.UNSET)
            break
        else:
            data = _decode_dict(state)
            if len(shapes) < _MAX_SHAPES and "timestamp" in data:
                shapes += _shape(data)
            stamp = data.pop("timestamp")
            for key in HIDDEN:
                data.pop(key, None)
        # A 36-character text (PostgreSQL's uuid as text) stands as it is: if it is not the
        # canonical form `stream_text` would give, the text differs from any recorded leaf's.
        stream = (
            originator_id
            if originator_id.__class__ is str and len(originator_id) == 36
            else stream_text(originator_id)
        )
        item = _Item(data, position, recorded_at(stamp), stream, topic, version)
        return _encode_sorted(item)


def _shape(sample: dict[str, Any]) -> list[_Shape]:
    """Returns the shape of states with exactly the sample's fields (the hidden ones but the
    timestamp optional), if msgspec can name them all: kept as stored where the sample held a
    string, an integer or a boolean, decoded elsewhere (objects need their keys sorted)."""
    fields: list[tuple[str, Any, Any]] = []
    hidden = []
    for n, (key, value) in enumerate(sample.items()):
        if key in HIDDEN:
            name = "timestamp" if key == "timestamp" else f"hidden{n}"
            hidden.append(name)
            default = msgspec.NODEFAULT if key == "timestamp" else msgspec.UNSET
            fields.append((name, Any, msgspec.field(default=default, name=key)))
        elif isinstance(value, str | int):  # bool is an int
            fields.append((f"f{n}", msgspec.Raw, msgspec.field(name=key)))
        else:
            fields.append((f"f{n}", Any, msgspec.field(name=key)))
    try:
        struct = msgspec.defstruct("State", fields, kw_only=True, forbid_unknown_fields=True)
    except ValueError:  # a key msgspec cannot rename a field to (a quote, a backslash...)
        return []
    return [_Shape(msgspec.json.Decoder(struct).decode, tuple(hidden))]
