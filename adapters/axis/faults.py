"""Fault injection: for each call, every kind of fault is drawn independently from one generator.

The generator is seeded by `Faults.seed` whenever the faults are set, so a run is reproducible:
each call draws the same seven numbers in the same order, whatever the outcome.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from adapters.axis.wire import Faults

KINDS = ("drop_request", "drop_response", "duplicate", "error", "delay", "reorder")
T = TypeVar("T")
_decode = msgspec.json.Decoder(Faults)


@dataclass(frozen=True)
class Draw:
    """The faults that hit one call."""

    drop_request: bool = False
    drop_response: bool = False
    duplicate: bool = False
    error: int | None = None  # 500 or 503
    delay_ms: int = 0
    reorder: bool = False

    def kinds(self) -> list[str]:
        """Names the faults of this draw."""
        hit = {
            "drop_request": self.drop_request,
            "drop_response": self.drop_response,
            "duplicate": self.duplicate,
            "error": self.error is not None,
            "delay": self.delay_ms > 0,
            "reorder": self.reorder,
        }
        return [kind for kind, on in hit.items() if on]


def parse_faults(raw: str) -> Faults:
    """Decodes faults from JSON text (the `--faults` flag), else raises ValueError."""
    try:
        return _decode.decode(raw)
    except msgspec.DecodeError as e:
        raise ValueError(f"--faults: {e}") from None


class FaultInjector:
    """Holds the current fault probabilities and the one seeded generator they are drawn from."""

    def __init__(self, faults: Faults | None = None) -> None:
        self.faults = Faults()
        self._random = random.Random(0)  # noqa: S311 -- reproducible faults, not secrets
        self.set(faults or Faults())

    def set(self, faults: Faults) -> None:
        """Replaces the probabilities and reseeds the generator."""
        self.faults = faults
        self._random = random.Random(faults.seed)  # noqa: S311 -- reproducible faults

    def draw(self) -> Draw:
        """Draws every kind of fault for one call."""
        f, r = self.faults, self._random.random
        drop_request, drop_response, duplicate = (
            r() < f.drop_request,
            r() < f.drop_response,
            r() < f.duplicate,
        )
        error, which, delay, reorder = r() < f.error, r(), r() < f.delay, r() < f.reorder
        return Draw(
            drop_request=drop_request,
            drop_response=drop_response,
            duplicate=duplicate,
            error=(500 if which < 0.5 else 503) if error else None,
            delay_ms=f.delay_ms if delay else 0,
            reorder=reorder,
        )

    def shuffle(self, items: list[T]) -> None:
        """Reorders a list in place with the generator (the reorder fault), never leaving a list
        of two or more distinct items in its first order."""
        first = list(items)
        self._random.shuffle(items)
        if items == first:
            items.reverse()
