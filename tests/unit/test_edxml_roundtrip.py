"""Property: an API document survives export to edXML bytes and import, field by field."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.edxml import (
    ApiAttachment,
    ApiDocument,
    ApiSigner,
    Organization,
    ResponseFor,
    StaffInfo,
    StatusMessage,
    build_package,
    build_status,
    document_from_package,
    package_from_document,
    parse_package,
    parse_status,
)
from adapters.edxml.mapping import PRIORITIES, TYPE_NAMES
from domain.codes import Priority, national_document_id

VIETNAMESE = "Ủy ban nhân dân, Thượng khẩn, đ, ữ, Hỏa tốc; Sở Nội vụ, Công văn số 12/ƯB & <ĐT>"
# Text XML 1.0 can carry: no control characters but tab and newline, no surrogates.
text = st.text(
    alphabet=st.one_of(
        st.sampled_from(VIETNAMESE),
        st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
        st.sampled_from("\t\n "),
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() != "")
code = st.from_regex(r"\A[0-9]{3}\.[0-9]{2}\.[0-9]{2}\.[A-Z][0-9]{2}\Z")
day = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)).map(date.isoformat)
slug = st.one_of(st.sampled_from(sorted(TYPE_NAMES)), st.from_regex(r"\A[a-z][a-z0-9]{1,12}\Z"))
attachment = st.builds(
    ApiAttachment,
    name=text,
    content_type=st.sampled_from(["application/pdf", "text/plain", "image/png"]),
    content_base64=st.binary(max_size=300),
)


@st.composite
def documents(draw: st.DrawFn) -> ApiDocument:
    """An API document as an agency system would send it."""
    sender = draw(code)
    document = ApiDocument(
        sender=sender,
        to=draw(st.lists(code.filter(lambda c: c != sender), min_size=1, max_size=50, unique=True)),
        code_number=draw(st.from_regex(r"\A[0-9]{1,6}\Z")),
        code_notation=draw(text),
        document_type=draw(slug),
        subject=draw(text),
        promulgated_on=draw(day),
        place=draw(text),
        priority=draw(st.sampled_from(PRIORITIES)),
        due_on=draw(st.none() | day),
        signer=draw(st.none() | st.builds(ApiSigner, name=text, position=text)),
        in_reply_to=draw(st.none() | st.uuids().map(str)),
        attachments=draw(st.lists(attachment, max_size=3)),
    )
    national = national_document_id(
        sender, document.promulgated_on, document.code_number, document.code_notation
    )
    return msgspec.structs.replace(document, external_id=national)


def test_every_api_priority_has_an_edxml_code() -> None:
    assert set(PRIORITIES) == {p.value for p in Priority}


@settings(max_examples=150, deadline=None)
@given(documents())
def test_an_api_document_survives_edxml_export_and_import(document: ApiDocument) -> None:
    answered = {document.in_reply_to: "000.00.00.G22,2026/01/02,5/VPCP"}
    response_for = [ResponseFor(answered[document.in_reply_to])] if document.in_reply_to else []
    package = package_from_document(
        document, response_for=response_for, sent_at=datetime(2026, 11, 24, 1, 2, 3, tzinfo=UTC)
    )
    parsed = parse_package(build_package(package))
    assert msgspec.structs.asdict(parsed) == msgspec.structs.asdict(package)
    local = {national: ours for ours, national in answered.items()}
    assert document_from_package(parsed, local.get) == document


@settings(max_examples=100, deadline=None)
@given(
    sender=code,
    note=st.none() | text,
    by=st.none() | st.builds(StaffInfo, name=text, department=text),
    status=st.sampled_from(["01", "02", "03", "04", "05", "06", "13", "15", "16"]),
    at=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
    ).map(lambda t: t.replace(microsecond=0)),
)
def test_a_status_message_survives_build_and_parse(
    sender: str, note: str | None, by: StaffInfo | None, status: str, at: datetime
) -> None:
    message = StatusMessage(Organization(sender), "a,2026/01/02,5/VPCP", status, at, note, by)
    assert parse_status(build_status(message)) == message
