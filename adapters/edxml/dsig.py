"""Enveloped XML-DSig: signing outgoing messages and verifying incoming ones against a trust store.

Chains are validated by `cryptography.x509.verification` (RFC 5280 path building); signxml checks
the signature value and the digest. A signature counts only if it covers the whole message (one
Reference with URI="" and the enveloped-signature transform).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Sequence
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store
from lxml import etree
from signxml.algorithms import SignatureMethod
from signxml.signer import XMLSigner
from signxml.verifier import SignatureConfiguration, XMLVerifier

from adapters.edxml.model import DSIG, UNSIGNED, EdxmlError, SignatureCheck
from adapters.edxml.xmlsafe import is_edxml, local

_ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_PLACEHOLDER = "placeholder"


def placeholder() -> etree._Element:
    """Returns the empty Signature element that marks where `sign` puts the signature."""
    return etree.Element(f"{{{DSIG}}}Signature", Id=_PLACEHOLDER, nsmap={"ds": DSIG})


def _method(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> SignatureMethod:
    if isinstance(key, rsa.RSAPrivateKey):
        return SignatureMethod.RSA_SHA256
    return SignatureMethod.ECDSA_SHA384 if key.key_size > 256 else SignatureMethod.ECDSA_SHA256


def sign(
    root: etree._Element, key: PrivateKeyTypes, certificates: Sequence[x509.Certificate]
) -> etree._Element:
    """Signs the whole document (URI="") at its Signature placeholder; returns the new root."""
    if not certificates:
        raise EdxmlError("signing needs the signer's certificate")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise EdxmlError(f"XML-DSig signing needs an RSA or ECDSA key, not {type(key).__name__}")
    signer = XMLSigner(signature_algorithm=_method(key))
    signed: etree._Element = signer.sign(root, key=key, cert=list(certificates))
    return signed


def _signatures(root: etree._Element) -> list[etree._Element]:
    found = []
    for element in root.iter(tag=etree.Element):
        if local(element) == "Signature" and (
            etree.QName(element).namespace == DSIG or is_edxml(element)
        ):
            found.append(element)
    return found


def _into_dsig(signature: etree._Element) -> etree._Element:
    """Rebuilds a Signature written in the edXML namespace (or none) in the dsig namespace."""

    def rebuild(source: etree._Element, parent: etree._Element | None) -> etree._Element:
        tag = f"{{{DSIG}}}{local(source)}" if is_edxml(source) else source.tag
        if parent is None:
            node = etree.Element(tag, dict(source.attrib), nsmap={"ds": DSIG})
        else:
            node = etree.SubElement(parent, tag, dict(source.attrib))
        node.text, node.tail = source.text, source.tail
        for item in source.iterchildren(tag=etree.Element):
            rebuild(item, node)
        return node

    return rebuild(signature, None)


def _covers_whole_document(signature: etree._Element) -> bool:
    references = signature.findall(f"{{{DSIG}}}SignedInfo/{{{DSIG}}}Reference")
    if len(references) != 1 or references[0].get("URI") != "":
        return False
    transforms = references[0].findall(f"{{{DSIG}}}Transforms/{{{DSIG}}}Transform")
    return any(t.get("Algorithm") == _ENVELOPED for t in transforms)


def _certificates(signature: etree._Element) -> list[x509.Certificate]:
    path = f"{{{DSIG}}}KeyInfo/{{{DSIG}}}X509Data/{{{DSIG}}}X509Certificate"
    found = []
    for node in signature.findall(path):
        raw = "".join((node.text or "").split())
        try:
            found.append(x509.load_der_x509_certificate(base64.b64decode(raw, validate=True)))
        except (ValueError, binascii.Error):
            raise _Unverified("the signer's certificate is truncated or garbled") from None
    if not found:
        raise _Unverified("the signature carries no X.509 certificate")
    return found


class _Unverified(Exception):
    """Why a signature does not verify."""


def _validate_chain(
    chain: list[x509.Certificate], anchors: Sequence[x509.Certificate], at: datetime
) -> x509.Certificate:
    """Returns the leaf after RFC 5280 path validation to one of the anchors."""
    if not anchors:
        raise _Unverified("no trust anchors are configured")
    verifier = (
        PolicyBuilder()
        .store(Store(list(anchors)))
        .time(at)
        .extension_policies(
            ee_policy=ExtensionPolicy.permit_all(), ca_policy=ExtensionPolicy.webpki_defaults_ca()
        )
        .build_client_verifier()
    )
    error = ""
    # X509Data implies no order (XML-DSig 4.5.4): try each certificate as the leaf.
    for i, leaf in enumerate(chain):
        try:
            verifier.verify(leaf, chain[:i] + chain[i + 1 :])
        except x509.verification.VerificationError as e:
            error = str(e)
        else:
            return leaf
    raise _Unverified(f"the signer's certificate does not chain to a trusted CA ({error})")


def verify(
    root: etree._Element,
    anchors: Sequence[x509.Certificate] = (),
    at: datetime | None = None,
) -> SignatureCheck:
    """Checks the message's enveloped signature; never raises, and never trusts what fails."""
    found = _signatures(root)
    if not found:
        return UNSIGNED
    if len(found) > 1:
        return SignatureCheck(present=True, verified=False, reason="more than one Signature")
    if etree.QName(found[0]).namespace == DSIG:
        return _verify(copy.deepcopy(root.getroottree()).getroot(), anchors, at, "")
    # Lost namespace: rebuilt as `ds:Signature`, the form signxml and Java's XMLSignature write.
    document = copy.deepcopy(root.getroottree()).getroot()
    signature = _signatures(document)[0]
    parent = signature.getparent()
    if parent is None:
        return SignatureCheck(present=True, verified=False, reason="the root is a Signature")
    parent.replace(signature, _into_dsig(signature))
    return _verify(document, anchors, at, " (its Signature element was in the edXML namespace)")


def _verify(
    document: etree._Element, anchors: Sequence[x509.Certificate], at: datetime | None, note: str
) -> SignatureCheck:
    signature = _signatures(document)[0]
    leaf: x509.Certificate | None = None
    try:
        chain = _certificates(signature)
        leaf = chain[0]
        if not _covers_whole_document(signature):
            raise _Unverified("the signature does not cover the whole message")
        leaf = _validate_chain(chain, anchors, at or datetime.now(UTC))
        config = SignatureConfiguration(expect_references=1, ignore_ambiguous_key_info=True)
        XMLVerifier().verify(document, x509_cert=leaf, expect_config=config)
    except _Unverified as e:
        return _check(False, str(e) + note, leaf)
    # signxml and cryptography raise many types for hostile input; none of them may escape.
    except Exception as e:
        return _check(False, f"the signature does not verify: {_reason(e)}{note}", leaf)
    return _check(True, "signature verified" + note, leaf)


def _reason(error: Exception) -> str:
    return " ".join(str(error).split())[:200] or type(error).__name__


def _check(verified: bool, reason: str, leaf: x509.Certificate | None) -> SignatureCheck:
    if leaf is None:
        return SignatureCheck(present=True, verified=verified, reason=reason)
    try:
        subject: str | None = leaf.subject.rfc4514_string()
    except ValueError:
        subject = None
    return SignatureCheck(
        present=True,
        verified=verified,
        reason=reason,
        signer_subject=subject,
        certificate_sha256=leaf.fingerprint(hashes.SHA256()).hex(),
    )
