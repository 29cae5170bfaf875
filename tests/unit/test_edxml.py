"""The edXML codec: packages, Status messages, vendors' variants, signatures and attacks."""

from __future__ import annotations

import base64
import os
import re
import socket
import threading
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.signer import XMLSigner

from adapters.edxml import (
    Attachment,
    EdxmlError,
    Organization,
    Package,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusMessage,
    TraceEntry,
    build_package,
    build_status,
    parse,
    parse_package,
    parse_status,
)
from adapters.edxml.dsig import placeholder
from adapters.edxml.mapping import TYPE_NAMES, document_from_package, package_from_document, slug
from adapters.edxml.xmlsafe import VIETNAM, parse_date, parse_time
from tests.support.pki import Signer, make_signer

FIXTURES = Path(__file__).parent.parent / "fixtures" / "edxml"
SENT = datetime(2026, 11, 24, 8, 30, 15, tzinfo=UTC)


def full_package() -> Package:
    """A package with every field the codec carries set."""
    return Package(
        sender=Organization(
            "000.00.00.H41", "UBND tỉnh Nghệ An", "Văn phòng", "Vinh", "a@b.vn", "1"
        ),
        to=[Organization("000.00.00.G22", "Văn phòng Chính phủ"), Organization("000.00.01.H41")],
        document_id="000.00.00.H41,2026/11/24,123/UBND-VX",
        code_number="123",
        code_notation="UBND-VX",
        promulgated_on=date(2026, 11, 24),
        subject="  Về việc đẩy mạnh dịch vụ công\ntrực tuyến & <mức độ 4>  ",
        type_name="Công văn",
        type_code=2,
        place="Nghệ An",
        content="Nội dung",
        signer=SignerInfo("Ngô Hùng", "Phó Chủ tịch", "KT. CHỦ TỊCH"),
        due_on=date(2026, 12, 1),
        to_places=["Như trên", "Lưu: VT"],
        priority=4,
        sphere_of_promulgation="Tỉnh",
        type_number="7",
        page_amount=2,
        appendixes=["Phụ lục I"],
        response_for=[ResponseFor("000.00.00.G22,2026/11/01,9/VPCP", "000.00.00.G22", "9/VPCP")],
        steering_type=1,
        trace=[TraceEntry("000.00.00.H41", SENT)],
        business_type=3,
        business_reason="Thay thế văn bản sai số",
        business_affected=["000.00.00.G22"],
        attachments=[
            Attachment("cv123.pdf", "application/pdf", b"%PDF-1.7 \x00\xff", "Bản ký số"),
            Attachment("rong.txt", "text/plain", b""),
        ],
    )


@pytest.fixture(scope="module")
def signer() -> Signer:
    """An ECDSA P-256 signer under a throwaway CA."""
    return make_signer("ecdsa")


def test_a_built_package_parses_back_to_the_same_package() -> None:
    package = full_package()
    assert parse_package(build_package(package)) == package


def test_a_vendor_package_with_messy_dates_namespaces_and_attachments_is_read() -> None:
    package = parse_package((FIXTURES / "vendor-messy.xml").read_bytes())
    assert package.sender.code == "000.00.00.G22"
    assert package.sender.address == "16 Lê Hồng Phong, Ba Đình, Hà Nội"
    assert [o.code for o in package.to] == ["000.00.00.H41", "000.00.00.H29"]
    assert package.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert package.promulgated_on == date(2015, 9, 30)
    assert package.due_on == date(2015, 10, 15)
    assert package.priority == 4
    assert package.signer == SignerInfo(
        "Nguyễn Văn Nên", "Phó Chủ nhiệm", "KT. BỘ TRƯỞNG, CHỦ NHIỆM"
    )
    assert package.trace == [
        TraceEntry("000.00.00.G22", datetime(2015, 9, 30, 9, 45, 10, tzinfo=UTC))
    ]
    assert package.response_for[0].promulgated_on == date(2015, 9, 1)
    assert package.steering_type == 1
    assert package.to_places == [
        "Các Bộ, cơ quan ngang Bộ",
        "UBND các tỉnh, thành phố trực thuộc TW",
    ]
    assert package.page_amount == 3


def test_bussiness_inside_trace_header_list_is_read() -> None:
    package = parse_package((FIXTURES / "vendor-messy.xml").read_bytes())
    assert package.business_type == 2
    assert package.business_reason == "Cập nhật hạn xử lý"
    assert package.business_affected == ["000.00.00.H41"]


def test_attachments_in_an_attachment_encoded_section_are_matched_by_cid() -> None:
    package = parse_package((FIXTURES / "vendor-messy.xml").read_bytes())
    pdf, annex = package.attachments
    assert (pdf.name, pdf.content_type, pdf.description) == (
        "7816_VPCP-TTĐT.pdf",
        "application/pdf",
        "Văn bản ký số",
    )
    assert pdf.data.startswith(b"%PDF-1.4\n")
    assert annex.data.decode() == "Phụ lục: danh sách đơn vị"


def test_a_vendor_package_maps_to_the_api_document_shape() -> None:
    package = parse_package((FIXTURES / "vendor-messy.xml").read_bytes())
    document = document_from_package(package, {"000.00.00.H41,2015/09/01,1205/UBND-VX": "u1"}.get)
    assert document.sender == "000.00.00.G22"
    assert document.external_id == package.document_id
    assert document.document_type == "cong-van"
    assert document.priority == "flash"
    assert document.promulgated_on == "2015-09-30"
    assert document.in_reply_to == "u1"
    assert package_from_document(document, package) == package


@pytest.mark.parametrize(
    ("raw", "day"),
    [
        ("2015/09/30", date(2015, 9, 30)),
        ("30/09/2015", date(2015, 9, 30)),
        ("2015-09-30", date(2015, 9, 30)),
        (" 1/2/2026 ", date(2026, 2, 1)),
        ("2015/09/30 16:45:10", date(2015, 9, 30)),
    ],
)
def test_dates_in_every_vendor_format_are_read(raw: str, day: date) -> None:
    assert parse_date(raw, "d") == day


@pytest.mark.parametrize(
    ("raw", "moment"),
    [
        ("2015/09/30 16:45:10", datetime(2015, 9, 30, 16, 45, 10, tzinfo=VIETNAM)),
        ("30/09/2015 16:45:10", datetime(2015, 9, 30, 16, 45, 10, tzinfo=VIETNAM)),
        ("2015-09-30T09:45:10Z", datetime(2015, 9, 30, 9, 45, 10, tzinfo=UTC)),
        ("2015-09-30T16:45:10.123+07:00", datetime(2015, 9, 30, 9, 45, 10, tzinfo=UTC)),
    ],
)
def test_times_are_vietnam_time_unless_they_carry_an_offset(raw: str, moment: datetime) -> None:
    assert parse_time(raw, "t") == moment


@pytest.mark.parametrize("raw", ["30/13/2015", "yesterday", "2015/02/30", ""])
def test_a_wrong_date_is_refused_naming_the_field(raw: str) -> None:
    with pytest.raises(EdxmlError, match="PromulgationDate"):
        parse_date(raw, "PromulgationDate")


def test_every_known_document_type_name_comes_back_as_its_slug() -> None:
    assert {kind: slug(name) for kind, name in TYPE_NAMES.items()} == {k: k for k in TYPE_NAMES}


def test_a_status_message_round_trips() -> None:
    status = StatusMessage(
        sender=Organization("000.00.00.H29", "UBND thành phố Hà Nội"),
        document_id="000.00.00.H41,2026/11/24,123/UBND-VX",
        status="02",
        at=datetime(2026, 11, 25, 1, 2, 3, tzinfo=UTC),
        note="Từ chối: sai thẩm quyền",
        by=StaffInfo("Lê Văn Đức", "Văn thư"),
    )
    assert parse_status(build_status(status)) == status
    bare = StatusMessage(Organization("000.00.00.H29"), "x,y,z", "01", SENT)
    assert parse_status(build_status(bare)) == bare


def test_a_vendor_status_message_is_read() -> None:
    status = parse_status((FIXTURES / "vendor-status.xml").read_bytes())
    assert status.sender.code == "000.00.00.H41"
    assert status.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"
    assert status.status == "03"
    assert status.note == "Đã vào sổ văn bản đến"
    assert status.at == datetime(2015, 10, 1, 1, 5, tzinfo=UTC)
    assert status.by == StaffInfo("Trần Thị Hồng", "Văn phòng UBND tỉnh")


def test_parse_tells_packages_and_status_messages_apart() -> None:
    assert isinstance(parse((FIXTURES / "vendor-status.xml").read_bytes()), StatusMessage)
    assert isinstance(parse((FIXTURES / "vendor-messy.xml").read_bytes()), Package)
    with pytest.raises(EdxmlError, match="Status message, not a package"):
        parse_package((FIXTURES / "vendor-status.xml").read_bytes())
    with pytest.raises(EdxmlError, match="package, not a Status"):
        parse_status((FIXTURES / "vendor-messy.xml").read_bytes())


def test_a_status_code_outside_the_standard_is_refused() -> None:
    raw = (FIXTURES / "vendor-status.xml").read_bytes().replace(b">03<", b">99<")
    with pytest.raises(EdxmlError, match="StatusCode"):
        parse_status(raw)


# Signatures


@pytest.mark.parametrize("kind", ["ecdsa", "rsa"])
def test_a_signed_package_verifies_against_its_ca(kind: str) -> None:
    signer = make_signer(kind)
    package = parse_package(build_package(full_package(), signer.key, signer.cert), [signer.ca])
    assert package.signature.verified, package.signature.reason
    assert package.signature.signer_subject is not None
    assert "UBND tỉnh Nghệ An" in package.signature.signer_subject
    assert package == msgspec.structs.replace(full_package(), signature=package.signature)


def test_a_signed_status_message_verifies(signer: Signer) -> None:
    status = StatusMessage(Organization("000.00.00.H29"), "a,b,c", "05", SENT)
    parsed = parse_status(build_status(status, signer.key, signer.cert), [signer.ca])
    assert parsed.signature.verified, parsed.signature.reason


def test_an_unsigned_package_is_reported_as_not_present() -> None:
    check = parse_package(build_package(full_package())).signature
    assert (check.present, check.verified) == (False, False)


def test_a_tampered_package_does_not_verify(signer: Signer) -> None:
    signed = build_package(full_package(), signer.key, signer.cert)
    tampered = signed.replace(b"<edXML:CodeNumber>123<", b"<edXML:CodeNumber>124<")
    check = parse_package(tampered, [signer.ca]).signature
    assert (check.present, check.verified) == (True, False)
    assert "Digest mismatch" in check.reason


def test_a_tampered_attachment_does_not_verify(signer: Signer) -> None:
    signed = build_package(full_package(), signer.key, signer.cert)
    encoded = base64.b64encode(b"%PDF-1.7 \x00\xff")
    tampered = signed.replace(encoded, base64.b64encode(b"%PDF-1.7 \x00\xfe"))
    assert tampered != signed
    assert not parse_package(tampered, [signer.ca]).signature.verified


def test_a_signature_from_an_unknown_ca_does_not_verify(signer: Signer) -> None:
    signed = build_package(full_package(), signer.key, signer.cert)
    check = parse_package(signed, [make_signer(ca_name="Other CA").ca]).signature
    assert not check.verified
    assert "does not chain to a trusted CA" in check.reason
    assert check.certificate_sha256 is not None


def test_a_signature_without_trust_anchors_does_not_verify(signer: Signer) -> None:
    check = parse_package(build_package(full_package(), signer.key, signer.cert)).signature
    assert (check.present, check.verified) == (True, False)
    assert "no trust anchors" in check.reason


def _cut_certificate(signed: bytes, keep: int) -> bytes:
    def cut(match: re.Match[bytes]) -> bytes:
        return match[1] + match[2][:keep] + match[3]

    return re.sub(rb"(<ds:X509Certificate>)(.*?)(</ds:X509Certificate>)", cut, signed, flags=re.S)


@pytest.mark.parametrize("keep", [200, 0])
def test_a_truncated_certificate_is_reported_never_raised(signer: Signer, keep: int) -> None:
    signed = _cut_certificate(build_package(full_package(), signer.key, signer.cert), keep)
    check = parse_package(signed, [signer.ca]).signature
    assert (check.present, check.verified) == (True, False)
    assert "truncated or garbled" in check.reason


def test_a_garbled_certificate_is_reported_never_raised(signer: Signer) -> None:
    signed = build_package(full_package(), signer.key, signer.cert)
    garbled = re.sub(
        rb"<ds:X509Certificate>.*?</ds:X509Certificate>",
        b"<ds:X509Certificate>"
        + base64.b64encode(b"\x30\x82garbage" * 20)
        + b"</ds:X509Certificate>",
        signed,
        flags=re.S,
    )
    check = parse_package(garbled, [signer.ca]).signature
    assert not check.verified
    assert "truncated or garbled" in check.reason


def _strip_dsig_namespace(signed: bytes) -> bytes:
    opening = b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#">'
    assert opening in signed
    head, rest = signed.split(opening)
    body, tail = rest.split(b"</ds:Signature>")
    return head + b"<Signature>" + body.replace(b"ds:", b"") + b"</Signature>" + tail


def test_an_unprefixed_signature_in_the_edxml_namespace_verifies(signer: Signer) -> None:
    # A vendor's document in the default edXML namespace, signed, then its dsig namespace lost.
    root = etree.fromstring((FIXTURES / "vendor-messy.xml").read_bytes())
    header = root[0][0]
    header.append(placeholder())
    signer_ = XMLSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256)
    signed = etree.tostring(signer_.sign(root, key=signer.key, cert=[signer.cert]))
    messy = _strip_dsig_namespace(signed)
    assert (
        etree.fromstring(messy)[0][0][-1].tag
        == "{http://www.mic.gov.vn/TBT/QCVN_102_2016}Signature"
    )
    check = parse_package(messy, [signer.ca]).signature
    assert check.verified, check.reason
    assert "edXML namespace" in check.reason


def test_an_unprefixed_signature_over_changed_content_does_not_verify(signer: Signer) -> None:
    messy = _strip_dsig_namespace(build_package(full_package(), signer.key, signer.cert))
    assert parse_package(messy, [signer.ca]).signature.verified
    tampered = messy.replace(">Nghệ An<".encode(), ">Hà Nội<".encode())
    assert not parse_package(tampered, [signer.ca]).signature.verified


def test_two_signatures_are_never_trusted(signer: Signer) -> None:
    signed = build_package(full_package(), signer.key, signer.cert)
    signature = re.search(rb"<ds:Signature .*?</ds:Signature>", signed, flags=re.S)
    assert signature is not None
    doubled = signed.replace(b"</edXML:edXMLBody>", b"</edXML:edXMLBody>" + signature[0])
    check = parse_package(doubled, [signer.ca]).signature
    assert (check.present, check.verified) == (True, False)


def test_an_ed25519_key_is_refused_for_xml_dsig(signer: Signer) -> None:
    with pytest.raises(EdxmlError, match="RSA or ECDSA"):
        build_package(full_package(), ed25519.Ed25519PrivateKey.generate(), signer.cert)


# Attacks and refused input


def test_xxe_reading_a_local_file_is_refused_and_nothing_is_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42")
    xml = f'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file://{secret}">]><edXML>&x;</edXML>'
    with pytest.raises(EdxmlError, match="DOCTYPE") as refused:
        parse(xml.encode())
    assert "TOP-SECRET" not in str(refused.value)


def _opened_by_parser(tmp_path: Path, xml_for: str) -> bool:
    """Parses a message pointing at a FIFO; tells whether the parser opened the FIFO."""
    fifo = tmp_path / "probe"
    os.mkfifo(fifo)
    thread = threading.Thread(target=lambda: _refused(xml_for.format(path=fifo).encode()))
    thread.start()
    thread.join(timeout=3)
    try:
        # A reader blocked in open() makes this succeed; without one it fails with ENXIO.
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        opened = True
    except OSError:
        opened = False
    thread.join()
    return opened


def _refused(data: bytes) -> None:
    with pytest.raises(EdxmlError):
        parse(data)


def test_xxe_never_opens_the_entity_file(tmp_path: Path) -> None:
    xml = '<!DOCTYPE edXML [<!ENTITY x SYSTEM "file://{path}">]><edXML>&x;</edXML>'
    assert not _opened_by_parser(tmp_path, xml)


def test_an_external_dtd_file_is_never_opened(tmp_path: Path) -> None:
    assert not _opened_by_parser(tmp_path, '<!DOCTYPE edXML SYSTEM "file://{path}"><edXML/>')


def test_an_external_dtd_on_the_network_is_never_fetched() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        xml = f'<!DOCTYPE edXML SYSTEM "http://127.0.0.1:{port}/evil.dtd"><edXML>&x;</edXML>'
        with pytest.raises(EdxmlError, match=r"DOCTYPE|well-formed"):
            parse(xml.encode())
        with pytest.raises(TimeoutError):
            listener.accept()


def test_billion_laughs_is_refused() -> None:
    entities = "".join(
        f'<!ENTITY l{i} "{"".join(f"&l{i - 1};" for _ in range(10))}">' for i in range(1, 10)
    )
    xml = f'<!DOCTYPE edXML [<!ENTITY l0 "ha">{entities}]><edXML>&l9;</edXML>'
    with pytest.raises(EdxmlError, match="DOCTYPE"):
        parse(xml.encode())


def test_quadratic_blowup_is_refused() -> None:
    xml = f'<!DOCTYPE edXML [<!ENTITY a "{"x" * 50_000}">]><edXML>{"&a;" * 5_000}</edXML>'
    with pytest.raises(EdxmlError, match="DOCTYPE"):
        parse(xml.encode())


def test_too_deep_nesting_is_refused() -> None:
    xml = "<edXML>" + "<a>" * 100 + "</a>" * 100 + "</edXML>"
    with pytest.raises(EdxmlError, match="nested deeper than 48"):
        parse(xml.encode())


def test_a_message_over_the_size_limit_is_refused_before_parsing() -> None:
    with pytest.raises(EdxmlError, match="the limit is 1000"):
        parse(b"<edXML>" + b" " * 1000 + b"</edXML>", max_bytes=1000)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"%PDF-1.4 not xml", "not well-formed XML"),
        (b"<edXML><unclosed></edXML>", "not well-formed XML"),
        (b'<Invoice xmlns="urn:other"/>', "root element is {urn:other}Invoice"),
        (b"<edXML/>", "no edXMLEnvelope"),
        (b"<edXML><edXMLEnvelope/></edXML>", "no edXMLHeader"),
    ],
)
def test_input_that_is_not_edxml_is_refused_with_one_line(data: bytes, message: str) -> None:
    with pytest.raises(EdxmlError, match=re.escape(message)) as refused:
        parse(data)
    assert "\n" not in str(refused.value)


def test_a_manifest_reference_without_content_is_refused() -> None:
    raw = (
        (FIXTURES / "vendor-messy.xml")
        .read_bytes()
        .replace(b"<ContentId>&lt;phuluc", b"<ContentId>&lt;x")
    )
    with pytest.raises(EdxmlError, match=r"'phu-luc.txt' \(cid:phuluc\) has no content"):
        parse(raw)


def test_an_attachment_with_broken_base64_is_refused() -> None:
    raw = (FIXTURES / "vendor-messy.xml").read_bytes().replace(b"UGjhu6Ug", b"UGj!u6Ug")
    with pytest.raises(EdxmlError, match="cid:phuluc is not valid base64"):
        parse(raw)


def test_a_package_without_a_document_id_is_refused() -> None:
    raw = re.sub(
        rb"<DocumentId>.*?</DocumentId>", b"", (FIXTURES / "vendor-messy.xml").read_bytes()
    )
    with pytest.raises(EdxmlError, match="DocumentId is missing"):
        parse(raw)


def test_text_xml_cannot_carry_is_refused_when_building() -> None:
    with pytest.raises(EdxmlError, match="Subject"):
        build_package(msgspec.structs.replace(full_package(), subject="bell \x07"))
