"""`lienthong audit verify-bundle`: an evidence bundle checked offline, without any store."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from adapters import bundle


def run(file: Path, router_cert: Path | None) -> tuple[int, str]:
    """Verifies a bundle file; returns the exit code (0 ok, 1 failed, 2 unreadable) and the
    message to print."""
    try:
        data = file.read_bytes()
        if router_cert is not None:
            certificate = x509.load_pem_x509_certificate(router_cert.read_bytes())
            origin = f"the router certificate {router_cert}"
        else:
            certificate = bundle.bundled_certificate(data)
            origin = (
                "the bundle's own router certificate: this checked internal consistency only, "
                "not who signed; give --router-cert with a certificate obtained independently"
            )
        summary = bundle.verify(data, certificate)
    except bundle.Failed as e:
        return 1, f"verify-bundle: FAILED: {e}"
    except (OSError, ValueError, bundle.Unreadable) as e:
        return 2, f"verify-bundle: unreadable: {e}"
    redacted = f" ({summary.redacted} trimmed to the caller's part)" if summary.redacted else ""
    return 0, (
        f"verify-bundle: OK: document {summary.document_id}: {summary.events} events{redacted} "
        f"included in the checkpoint of size {summary.checkpoint_size} (root {summary.root}), "
        f"{summary.receipts} receipts, {summary.attachments} attachments; signatures checked "
        f"against {origin}"
    )
