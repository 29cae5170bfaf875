"""Small edXML packages and Status messages for the axis simulator's tests."""

from __future__ import annotations

from xml.sax.saxutils import escape

NS = "http://www.mic.gov.vn/TBT/QCVN_102_2016"
ADMIN_TOKEN = "axis-admin-" + "a" * 32


def package(
    sender: str,
    to: list[str],
    document_id: str,
    *,
    subject: str = "Về việc đẩy mạnh dịch vụ công trực tuyến",
    business_type: int | None = None,
) -> bytes:
    """Returns an edXML package from `sender` to `to` with the given national id."""
    recipients = "".join(f"<edXML:To><edXML:OrganId>{c}</edXML:OrganId></edXML:To>" for c in to)
    business = (
        ""
        if business_type is None
        else f"<edXML:Bussiness><edXML:BussinessDocType>{business_type}"
        "</edXML:BussinessDocType></edXML:Bussiness>"
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader><edXML:MessageHeader>'
        f"<edXML:From><edXML:OrganId>{sender}</edXML:OrganId>"
        f"<edXML:OrganName>Ủy ban nhân dân</edXML:OrganName></edXML:From>{recipients}"
        f"<edXML:DocumentId>{escape(document_id)}</edXML:DocumentId>"
        f"<edXML:Subject>{escape(subject)}</edXML:Subject></edXML:MessageHeader>"
        f"<edXML:TraceHeaderList>{business}</edXML:TraceHeaderList></edXML:edXMLHeader>"
        f"<edXML:edXMLBody/></edXML:edXMLEnvelope>"
    ).encode()


def status(sender: str, document_id: str, issuer: str | None, code: str = "01") -> bytes:
    """Returns an edXML Status message from `sender` about `document_id` of `issuer`."""
    organ = f"<edXML:OrganId>{issuer}</edXML:OrganId>" if issuer else ""
    return (
        f'<edXML:edXMLEnvelope xmlns:edXML="{NS}"><edXML:edXMLHeader><edXML:Status>'
        f"<edXML:ResponseFor>{organ}<edXML:Code>7816/VPCP-TTĐT</edXML:Code>"
        f"<edXML:DocumentId>{escape(document_id)}</edXML:DocumentId></edXML:ResponseFor>"
        f"<edXML:From><edXML:OrganId>{sender}</edXML:OrganId></edXML:From>"
        f"<edXML:StatusCode>{code}</edXML:StatusCode>"
        f"<edXML:Description>Đã đến</edXML:Description>"
        f"<edXML:Timestamp>2026/11/24 08:00:00</edXML:Timestamp>"
        f"</edXML:Status></edXML:edXMLHeader></edXML:edXMLEnvelope>"
    ).encode()
