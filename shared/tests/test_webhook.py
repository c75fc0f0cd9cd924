"""The shared webhook pieces that are pure: credential checks, signatures, the rate limiter."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from springhead.webhook import (
    Rejection,
    TokenBucket,
    WebhookRequest,
    basic_auth,
    bearer_auth,
    hmac_signature,
    sign,
)


def request(headers: dict[str, str], body: bytes = b"payload") -> WebhookRequest:
    return WebhookRequest("POST", "/", headers, body)


def status_of(check: object, req: WebhookRequest) -> int:
    try:
        check(req)  # type: ignore[operator]
    except Rejection as rejection:
        return rejection.status
    return 200


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Bearer", 401),
        ("Basic dG9rZW4=", 401),
        ("Bearer wrong", 403),
        ("Bearer token2", 403),
        ("Bearer token", 200),
        ("bearer token", 200),
    ],
)
def test_bearer(header: str | None, status: int) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert status_of(bearer_auth("token"), request(headers)) == status


def basic(value: str) -> str:
    return "Basic " + base64.b64encode(value.encode()).decode()


@pytest.mark.parametrize(
    ("header", "status"),
    [
        (None, 401),
        ("Basic", 401),
        ("Basic ***", 401),
        ("Bearer x", 401),
        (basic("user:nope"), 403),
        (basic("user:pass:extra"), 403),
        (basic("user:pass"), 200),
    ],
)
def test_basic(header: str | None, status: int) -> None:
    headers = {"Authorization": header} if header is not None else {}
    assert status_of(basic_auth("user", "pass"), request(headers)) == status


def test_sign_matches_hmac_sha256() -> None:
    expected = hmac.new(b"secret", b"body", hashlib.sha256).hexdigest()
    assert sign("secret", b"body") == f"sha256={expected}"
    assert sign(b"secret", b"body", "sha1").startswith("sha1=")


@pytest.mark.parametrize(
    ("signature", "body", "status"),
    [
        (None, b"body", 401),
        ("", b"body", 401),
        ("sha256=00", b"body", 403),
        ("sha1=" + hmac.new(b"k", b"body", hashlib.sha1).hexdigest(), b"body", 403),
        (sign("other", b"body"), b"body", 403),
        (sign("k", b"body"), b"body!", 403),
        (sign("k", b"body"), b"body", 200),
    ],
)
def test_hmac_signature(signature: str | None, body: bytes, status: int) -> None:
    headers = {"X-Sig": signature} if signature is not None else {}
    assert status_of(hmac_signature("k", "X-Sig"), request(headers, body)) == status


def test_header_lookup_is_case_insensitive() -> None:
    assert request({"x-sig": "v"}).header("X-Sig") == "v"


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_token_bucket_allows_burst_then_refills_at_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0
    assert bucket.take() > 0
    clock.now += 100
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() > 0
