"""The axis's hardened reading of edXML routing fields: what it takes and what it refuses."""

from __future__ import annotations

import pytest

from adapters.axis.envelope import MalformedEnvelope, parse
from tests.support.axis import NS, package, status

H41, H29 = "000.00.00.H41", "000.00.01.H29"
DOC = f"{H41},2015/09/30,7816/VPCP-TTĐT"

BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>'
)
XXE = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
# A DOCTYPE past the first 4 KiB, behind a long comment: refused by the parsed tree's check.
LATE_DOCTYPE = b"<?xml version='1.0'?><!--" + b"x" * 5000 + b'--><!DOCTYPE x [<!ENTITY e "e">]><x/>'
DEEP = b"<a>" * 100_000 + b"</a>" * 100_000


def test_a_package_gives_its_sender_recipients_and_national_id_verbatim() -> None:
    envelope = parse(package(H41, [H29, "000.00.02.H29", H29], DOC, business_type=2))
    assert (envelope.kind, envelope.document_id, envelope.sender) == ("package", DOC, H41)
    assert (envelope.recipients, envelope.business_type) == ((H29, "000.00.02.H29"), 2)


def test_the_edxml_namespace_may_be_the_default_one() -> None:
    xml = (
        f'<edXMLEnvelope xmlns="{NS}"><edXMLHeader><MessageHeader><From><OrganId>{H41}</OrganId>'
        f"</From><To><OrganId>{H29}</OrganId></To><DocumentId>{DOC}</DocumentId></MessageHeader>"
        f"</edXMLHeader></edXMLEnvelope>"
    )
    assert parse(xml.encode()).recipients == (H29,)


def test_a_status_is_addressed_to_the_issuer_named_or_implied_by_the_document_id() -> None:
    named = parse(status(H29, DOC, "000.00.05.H41"))
    assert (named.kind, named.sender, named.recipients) == ("status", H29, ("000.00.05.H41",))
    assert parse(status(H29, DOC, None)).recipients == (H41,)


@pytest.mark.parametrize(
    "data",
    [
        BILLION_LAUGHS,
        XXE,
        LATE_DOCTYPE,
        DEEP,
        package(H41, [H29], DOC).replace(NS.encode(), b"urn:other"),
        status(H29, "not-a-national-id", None),
        b"",
    ],
    ids=["billion-laughs", "xxe", "late-doctype", "deep", "other-namespace", "no-issuer", "empty"],
)
def test_hostile_or_foreign_input_is_refused(data: bytes) -> None:
    with pytest.raises(MalformedEnvelope):
        parse(data)


def test_a_package_above_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedEnvelope, match="larger than 1000 bytes"):
        parse(package(H41, [H29], DOC, subject="x" * 1000), max_bytes=1000)
