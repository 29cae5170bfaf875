"""Leaf bytes of stored events, fast: a JSON encoding of the events-API item that is, for the
states this router writes, byte for byte the RFC 8785 one.

`canonical_item` (adapters/evidence.py) decodes a state into Python objects, builds the item and
encodes it with sorted keys (or through the reference implementation): exact, and most of the
cost of `audit verify`. Here a state is decoded into a msgspec Struct learnt from the first
state of its shape (event type and set of fields, and the same for the objects inside it, and
for lists whose objects all have one set of fields): a field that held a string, an integer or
a boolean is a `msgspec.Raw` (its JSON text kept as stored, not decoded), an object a Struct of
its own, any other is decoded (so that the encoder sorts the keys of its objects); the hidden
fields are set to UNSET so that the encoder leaves them out.

The result is a JSON text whose value is the item `canonical_item` builds (the same fields, the
values as stored, duplicate keys resolved the same way), but for `recorded_at`, which is the
timestamp as stored; and not always the canonical text of it: a number or escape stored in
another form stays in that form. A recorded leaf's `recorded_at` always is in the one form
`recorded_at()` writes, which it leaves as it is, so a timestamp stored in any other form gives
a text that no recorded leaf has. So the caller compares its hash with the recorded leaf and,
on any difference, recomputes the event with `canonical_item` before it names a difference:
equal hashes mean equal texts, and a text equal to the canonical text of the recorded item
means the event still is that item.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from adapters.eventlog import HIDDEN, recorded_at
from adapters.evidence import stream_text

_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_encode = msgspec.json.encode
_decode_dict = msgspec.json.Decoder(dict[str, Any]).decode
# An event type seen in more shapes than this (fields added over time) goes the generic way.
_MAX_SHAPES = 8


class _Item(msgspec.Struct):
    """An events-API item (the sorted encoder puts its fields in JCS order)."""

    data: Any
    position: int
    recorded_at: msgspec.Raw
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
        """Returns a JSON text of the event's item (usually its canonical text)."""
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
            stamp = msgspec.Raw(_encode(recorded_at(data.pop("timestamp"))))
            for key in HIDDEN:
                data.pop(key, None)
        # A 36-character text (PostgreSQL's uuid as text) stands as it is: if it is not the
        # canonical form `stream_text` would give, the text differs from any recorded leaf's.
        stream = (
            originator_id
            if originator_id.__class__ is str and len(originator_id) == 36
            else stream_text(originator_id)
        )
        return _encode_sorted(_Item(data, position, stamp, stream, topic, version))


def _shape(sample: dict[str, Any]) -> list[_Shape]:
    """Returns the shape of states with exactly the sample's fields (the hidden ones but the
    timestamp optional, the timestamp kept as stored), if msgspec can name them all."""
    fields: list[tuple[str, Any, Any]] = []
    hidden = []
    for n, (key, value) in enumerate(sample.items()):
        if key in HIDDEN:
            name = "timestamp" if key == "timestamp" else f"hidden{n}"
            hidden.append(name)
            if key == "timestamp":
                fields.append((name, msgspec.Raw, msgspec.field(name=key)))
            else:
                fields.append((name, Any, msgspec.field(default=msgspec.UNSET, name=key)))
        else:
            fields.append((f"f{n}", _type(value), msgspec.field(name=key)))
    try:
        struct = msgspec.defstruct("State", fields, kw_only=True, forbid_unknown_fields=True)
    except ValueError:  # a key msgspec cannot rename a field to (a quote, a backslash...)
        return []
    return [_Shape(msgspec.json.Decoder(struct).decode, tuple(hidden))]


def _type(sample: Any) -> Any:
    """The type a value like the sample decodes to: its JSON text as stored for a string, an
    integer or a boolean (bool is an int), a Struct for an object (or a list of objects that
    all have one set of fields), decoded Python values otherwise."""
    if isinstance(sample, str | int):
        return msgspec.Raw
    if isinstance(sample, dict):
        return _struct(sample)
    if isinstance(sample, list) and sample:
        if all(isinstance(v, str | int) for v in sample):
            return list[msgspec.Raw]
        if all(isinstance(v, dict) and v.keys() == sample[0].keys() for v in sample):
            item = _struct(sample[0])
            return Any if item is Any else list[item]  # type: ignore[valid-type]
    return Any


def _struct(sample: dict[str, Any]) -> Any:
    """A Struct of exactly the sample's keys, or Any if msgspec cannot name them all."""
    fields = [
        (f"f{n}", _type(value), msgspec.field(name=key))
        for n, (key, value) in enumerate(sample.items())
    ]
    try:
        return msgspec.defstruct("Object", fields, kw_only=True, forbid_unknown_fields=True)
    except ValueError:
        return Any
