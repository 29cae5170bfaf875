"""Hardened XML reading and the value formats of edXML (dates, times, codes)."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone

from lxml import etree

from adapters.edxml.model import NAMESPACE, EdxmlError

MAX_BYTES = 80 * 1024 * 1024
MAX_DEPTH = 48
VIETNAM = timezone(timedelta(hours=7), "ICT")


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def parse_xml(
    data: bytes, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH
) -> etree._Element:
    """Parses untrusted bytes into an element tree, refusing DOCTYPEs, depth and size bombs."""
    if not isinstance(data, bytes):
        raise EdxmlError("the message must be bytes")
    if len(data) > max_bytes:
        raise EdxmlError(f"the message is {len(data)} bytes; the limit is {max_bytes}")
    if not data.strip():
        raise EdxmlError("the message is empty")
    depth = 0
    # No DTD, no entity expansion, no network, libxml2's own limits on (huge_tree=False).
    events = etree.iterparse(
        io.BytesIO(data),
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        dtd_validation=False,
    )
    try:
        for event, element in events:
            if event == "end":
                depth -= 1
                continue
            depth += 1
            if depth == 1 and element.getroottree().docinfo.doctype:
                raise EdxmlError("DOCTYPE declarations are refused (no DTDs, no entities)")
            if depth > max_depth:
                raise EdxmlError(f"the XML is nested deeper than {max_depth} elements")
    except etree.XMLSyntaxError as e:
        raise EdxmlError(f"not well-formed XML: {_one_line(str(e.msg))}") from None
    root = events.root
    if root is None:
        raise EdxmlError("the message holds no XML element")
    return root


def local(element: etree._Element) -> str:
    """Returns an element's name without its namespace."""
    return etree.QName(element).localname


def is_edxml(element: etree._Element) -> bool:
    """Tells whether an element is in the edXML namespace or, as some vendors send, in none."""
    return etree.QName(element).namespace in (NAMESPACE, None)


def children(parent: etree._Element | None, name: str) -> Iterator[etree._Element]:
    """Yields the edXML children of parent with this local name."""
    if parent is None:
        return
    for child in parent.iterchildren(tag=etree.Element):
        if local(child) == name and is_edxml(child):
            yield child


def child(parent: etree._Element | None, name: str) -> etree._Element | None:
    """Returns the first edXML child of parent with this local name, or None."""
    return next(children(parent, name), None)


def text(parent: etree._Element | None, *path: str) -> str | None:
    """Returns the text at a path of child names, verbatim ("" if empty), or None if absent."""
    node = parent
    for name in path:
        node = child(node, name)
    if node is None:
        return None
    return "".join(node.itertext())


def required(parent: etree._Element | None, *path: str) -> str:
    """Returns the stripped, non-empty text at a path, else raises EdxmlError naming it."""
    value = (text(parent, *path) or "").strip()
    if not value:
        raise EdxmlError(f"{'/'.join(path)} is missing or empty")
    return value


def verbatim(parent: etree._Element | None, *path: str) -> str:
    """Returns the text at a path exactly as sent, else raises EdxmlError if it is blank."""
    value = text(parent, *path) or ""
    if not value.strip():
        raise EdxmlError(f"{'/'.join(path)} is missing or empty")
    return value


def integer(raw: str | None, where: str, low: int, high: int) -> int | None:
    """Parses an optional integer in [low, high]; None when absent or empty."""
    if raw is None or not raw.strip():
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        raise EdxmlError(f"{where} is not a number: {_one_line(raw)!r}") from None
    if not low <= value <= high:
        raise EdxmlError(f"{where} must be {low}..{high}, not {value}")
    return value


_YMD = re.compile(r"(\d{4})[/-](\d{1,2})[/-](\d{1,2})")
_DMY = re.compile(r"(\d{1,2})[/-](\d{1,2})[/-](\d{4})")
_TIME = re.compile(r"[ T](\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?\s*(Z|[+-]\d{2}:?\d{2})?")


def parse_date(raw: str, where: str) -> date:
    """Reads yyyy/MM/dd, yyyy-MM-dd or dd/MM/yyyy (a time after it is ignored)."""
    value = raw.strip()
    ymd = _YMD.match(value)
    dmy = None if ymd else _DMY.match(value)
    try:
        if ymd:
            return date(int(ymd[1]), int(ymd[2]), int(ymd[3]))
        if dmy:
            return date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
    except ValueError:
        pass
    raise EdxmlError(f"{where} is not a date: {_one_line(raw)!r}")


def parse_time(raw: str, where: str) -> datetime:
    """Reads a date and time; without an offset it is Vietnam time (UTC+7)."""
    day = parse_date(raw, where)
    value = raw.strip()
    match = _TIME.search(value)
    if match is None:
        return datetime(day.year, day.month, day.day, tzinfo=VIETNAM)
    zone = VIETNAM
    if match[4] == "Z":
        zone = UTC
    elif match[4]:
        sign = -1 if match[4][0] == "-" else 1
        digits = match[4][1:].replace(":", "")
        zone = timezone(sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime(
            day.year,
            day.month,
            day.day,
            int(match[1]),
            int(match[2]),
            int(match[3] or 0),
            tzinfo=zone,
        )
    except ValueError:
        raise EdxmlError(f"{where} is not a time: {_one_line(raw)!r}") from None


def format_date(day: date) -> str:
    """Writes a date as edXML does: yyyy/MM/dd."""
    return f"{day.year:04d}/{day.month:02d}/{day.day:02d}"


def format_time(moment: datetime) -> str:
    """Writes an aware time as yyyy/MM/dd HH:mm:ss in Vietnam time (to the second)."""
    return moment.astimezone(VIETNAM).strftime("%Y/%m/%d %H:%M:%S")
