"""Element building and reading shared by packages and Status messages."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from lxml import etree

from adapters.edxml import dsig
from adapters.edxml.model import NAMESPACE, EdxmlError, Organization, ResponseFor
from adapters.edxml.xmlsafe import child, format_date, local, parse_date, required, text, verbatim

_ORGANIZATION = (
    ("code", "OrganId"),
    ("in_charge", "OrganizationInCharge"),
    ("name", "OrganName"),
    ("address", "OrganAdd"),
    ("email", "Email"),
    ("telephone", "Telephone"),
)


class Builder:
    """Writes edXML elements with the `edXML:` prefix; refuses text XML cannot carry."""

    def root(self, name: str) -> etree._Element:
        """Returns a new root element declaring the edXML namespace."""
        return etree.Element(f"{{{NAMESPACE}}}{name}", nsmap={"edXML": NAMESPACE})

    def add(self, parent: etree._Element, name: str) -> etree._Element:
        """Appends an empty edXML element."""
        return etree.SubElement(parent, f"{{{NAMESPACE}}}{name}")

    def leaf(self, parent: etree._Element, name: str, value: str | None) -> None:
        """Appends an element holding text, or nothing when value is None."""
        if value is None:
            return
        node = self.add(parent, name)
        try:
            node.text = value
        except ValueError:
            raise EdxmlError(f"{name} holds characters XML 1.0 cannot carry") from None

    def organization(self, parent: etree._Element, name: str, org: Organization) -> None:
        """Appends a From or To element."""
        node = self.add(parent, name)
        for attribute, element in _ORGANIZATION:
            value: str = getattr(org, attribute)
            self.leaf(node, element, value if value or attribute == "code" else None)

    def response_for(self, parent: etree._Element, answered: ResponseFor) -> None:
        """Appends a ResponseFor element."""
        node = self.add(parent, "ResponseFor")
        self.leaf(node, "OrganId", answered.organ_id or None)
        self.leaf(node, "Code", answered.code or None)
        day = answered.promulgated_on
        self.leaf(node, "PromulgationDate", format_date(day) if day else None)
        self.leaf(node, "DocumentId", answered.document_id)

    def finish(
        self,
        root: etree._Element,
        key: PrivateKeyTypes | None,
        cert: x509.Certificate | Sequence[x509.Certificate] | None,
    ) -> bytes:
        """Indents the document, signs it when a key is given, and serialises it as UTF-8."""
        # Indent before signing: whitespace added afterwards would break the digest.
        etree.indent(root, space=" ")
        if key is not None:
            if cert is None:
                raise EdxmlError("signing needs the signer's certificate")
            chain = [cert] if isinstance(cert, x509.Certificate) else list(cert)
            root = dsig.sign(root, key, chain)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def envelope_parts(root: etree._Element) -> tuple[etree._Element, etree._Element]:
    """Returns the edXMLEnvelope and its edXMLHeader of a message, whichever root it has."""
    if etree.QName(root).namespace not in (NAMESPACE, None):
        raise EdxmlError(f"not an edXML message: the root element is {etree.QName(root).text}")
    envelope = root if local(root) == "edXMLEnvelope" else child(root, "edXMLEnvelope")
    if envelope is None:
        raise EdxmlError(f"not an edXML message: no edXMLEnvelope under {local(root)}")
    header = child(envelope, "edXMLHeader")
    if header is None:
        raise EdxmlError("edXMLEnvelope has no edXMLHeader")
    return envelope, header


def organization(node: etree._Element, where: str) -> Organization:
    """Reads a From or To element."""
    values = {attribute: text(node, element) or "" for attribute, element in _ORGANIZATION}
    values["code"] = required(node, "OrganId") if values["code"].strip() else ""
    if not values["code"]:
        raise EdxmlError(f"{where}/OrganId is missing or empty")
    return Organization(**values)


def response_for(node: etree._Element) -> ResponseFor:
    """Reads a ResponseFor element."""
    day = text(node, "PromulgationDate")
    return ResponseFor(
        document_id=verbatim(node, "DocumentId"),
        organ_id=(text(node, "OrganId") or "").strip(),
        code=text(node, "Code") or "",
        promulgated_on=parse_date(day, "ResponseFor/PromulgationDate") if day else None,
    )
