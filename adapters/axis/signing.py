"""The axis request signature: HMAC-SHA256 over method, request target, timestamp and body digest.

`X-Axis-Signature` is the lowercase hex HMAC-SHA256, keyed with the system's secret (UTF-8), of
`METHOD\\nTARGET\\nTIMESTAMP\\nSHA256HEX(BODY)`, where TARGET is the request target exactly as sent
on the request line: the path, then `?` and the query only when there is a query.
"""

from __future__ import annotations

import hashlib
import hmac

SYSTEM = "X-Axis-System"
TIMESTAMP = "X-Axis-Timestamp"
SIGNATURE = "X-Axis-Signature"
MAX_SKEW = 300


def canonical(method: str, target: str, timestamp: str, body: bytes) -> bytes:
    """Returns the bytes that are signed for one request."""
    digest = hashlib.sha256(body).hexdigest()
    return f"{method.upper()}\n{target}\n{timestamp}\n{digest}".encode()


def sign(secret: str, method: str, target: str, timestamp: str, body: bytes) -> str:
    """Returns the lowercase hex signature of one request."""
    message = canonical(method, target, timestamp, body)
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def matches(secret: str, method: str, target: str, timestamp: str, body: bytes, given: str) -> bool:
    """Tells, in constant time, whether `given` is the signature of this request."""
    expected = sign(secret, method, target, timestamp, body)
    return hmac.compare_digest(expected.encode(), given.encode("ascii", "replace"))
