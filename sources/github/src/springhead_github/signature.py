"""GitHub's delivery signatures, checked with the shared HMAC authenticator.

GitHub signs every delivery of a hook that has a secret twice: ``X-Hub-Signature-256``
(``sha256=<hex HMAC-SHA256 of the raw body>``) and the legacy ``X-Hub-Signature`` (SHA-1).
Knative checks only the SHA-1 one; Springhead checks the SHA-256 one and accepts SHA-1 alone only
when told to (very old GitHub Enterprise Server versions send nothing else).
"""

from __future__ import annotations

from springhead.webhook import Authenticator, Rejection, WebhookRequest, hmac_signature

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_HEADER_SHA1", "github_signature"]

#: The header carrying ``sha256=<hex HMAC-SHA256 of the body>``.
SIGNATURE_HEADER = "X-Hub-Signature-256"
#: The legacy header carrying ``sha1=<hex HMAC-SHA1 of the body>``.
SIGNATURE_HEADER_SHA1 = "X-Hub-Signature"


def github_signature(secret: str, *, allow_sha1: bool = False) -> Authenticator:
    """Checks a delivery's signature against ``secret`` in constant time.

    ``X-Hub-Signature-256`` is required and must match (401 when missing, 403 when it does not
    match). With ``allow_sha1``, a delivery without it may instead carry a matching legacy
    ``X-Hub-Signature``; when both are present, only the SHA-256 one counts.
    """
    sha256 = hmac_signature(secret, SIGNATURE_HEADER, "sha256")
    sha1 = hmac_signature(secret, SIGNATURE_HEADER_SHA1, "sha1") if allow_sha1 else None

    def check(request: WebhookRequest) -> None:
        if request.header(SIGNATURE_HEADER):
            header, verify = SIGNATURE_HEADER, sha256
        elif request.header(SIGNATURE_HEADER_SHA1):
            if sha1 is None:
                raise Rejection(
                    401,
                    f"signature header {SIGNATURE_HEADER} missing; the legacy SHA-1 "
                    f"{SIGNATURE_HEADER_SHA1} is not accepted",
                )
            header, verify = SIGNATURE_HEADER_SHA1, sha1
        else:
            raise Rejection(401, f"signature header {SIGNATURE_HEADER} missing")
        # A signature is ASCII hex; anything else cannot match, and must not reach the byte
        # comparison (a header with undecodable bytes would not encode).
        if not (request.header(header) or "").isascii():
            raise Rejection(403, f"signature in {header} is malformed")
        verify(request)

    return Authenticator(check)
