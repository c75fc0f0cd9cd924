"""The pure receiver (request -> CloudEvent or Rejection) and GitHub's signature check, without a
process; GitHub's published HMAC test vector."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from springhead.config import load_settings
from springhead.webhook import Rejection, WebhookRequest, hmac_signature, sign
from springhead_github.adapter import github_receiver
from springhead_github.config import GitHubSettings
from springhead_github.signature import github_signature

DATA = Path(__file__).parent / "data"
SECRET = "s3cret"
BASE = {
    "K_SINK": "http://sink.example/",
    "GITHUB_OWNER_AND_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_EVENT_TYPES": "push,issues",
    "GITHUB_WEBHOOK_SECRET": SECRET,
}
PUSH = (DATA / "payloads/push/payload.json").read_bytes()


def settings(**env: str) -> GitHubSettings:
    return load_settings(GitHubSettings, BASE | env)


def request(headers: Mapping[str, str], body: bytes = PUSH, method: str = "POST") -> WebhookRequest:
    return WebhookRequest(method, "/", dict(headers), body)


def github_headers(event: str = "push", delivery: str = "d-1") -> dict[str, str]:
    return {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
    }


def rejection(receiver_input: WebhookRequest, config: GitHubSettings | None = None) -> Rejection:
    with pytest.raises(Rejection) as caught:
        github_receiver(config or settings())(receiver_input)
    return caught.value


def test_a_delivery_becomes_one_event_with_the_raw_body() -> None:
    body = b'{"ref": "refs/heads/main", "zeta": 1, "alpha": [1.0, 1e2],  "x": "\\u00e9"}\n'
    [event] = github_receiver(settings())(request(github_headers("push", "abc-1"), body))
    assert event.get_data() == body  # not re-serialised: spacing, order, escapes kept
    assert event.get_type() == "dev.knative.source.github.push"
    assert event.get_source() == "https://github.com/octo-org/octo-repo"
    assert event.get_id() == "abc-1"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_extension("ref") == "refs/heads/main"
    assert event.get_subject() is None  # no compare URL in this body


@pytest.mark.parametrize(
    ("env", "source"),
    [
        ({}, "https://github.com/octo-org/octo-repo"),
        ({"GITHUB_OWNER_AND_REPOSITORY": "octo-org"}, "https://github.com/octo-org"),
        (
            {"GITHUB_API_URL": "https://ghe.example.com/api/v3"},
            "https://ghe.example.com/octo-org/octo-repo",
        ),
        (
            {"GITHUB_API_URL": "https://api.octocorp.ghe.com"},
            "https://octocorp.ghe.com/octo-org/octo-repo",
        ),
        (
            {
                "GITHUB_API_URL": "https://ghe.example.com/api/v3",
                "GITHUB_WEB_URL": "https://code.example.com/",
            },
            "https://code.example.com/octo-org/octo-repo",
        ),
    ],
)
def test_event_source(env: dict[str, str], source: str) -> None:
    [event] = github_receiver(settings(**env))(request(github_headers()))
    assert event.get_source() == source


@pytest.mark.parametrize(
    ("headers", "body", "status", "reason"),
    [
        ({"X-GitHub-Delivery": "d"}, PUSH, 400, "X-GitHub-Event header missing"),
        ({"X-GitHub-Event": " ", "X-GitHub-Delivery": "d"}, PUSH, 400, "X-GitHub-Event"),
        ({"X-GitHub-Event": "push"}, PUSH, 400, "X-GitHub-Delivery header missing"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "a\tb"}, PUSH, 400, "delivery id"),
        ({"X-GitHub-Event": "push", "X-GitHub-Delivery": "x" * 257}, PUSH, 400, "delivery id"),
        ({"X-GitHub-Event": "Push!", "X-GitHub-Delivery": "d"}, PUSH, 400, "event name"),
        (
            {"X-GitHub-Event": "pull_request", "X-GitHub-Delivery": "d"},
            PUSH,
            404,
            "pull_request is not configured",
        ),
        (github_headers(), b"", 400, "not JSON"),
        (github_headers(), b"{not json", 400, "not JSON"),
        (github_headers(), b"\xff\xfe{}", 400, "not JSON"),
        (github_headers(), b"[" * 100_000, 400, "not JSON"),
        (github_headers(), b"[1, 2]", 400, "not a JSON object"),
        (
            github_headers() | {"Content-Type": "application/x-www-form-urlencoded"},
            b"payload=%7B%7D",
            415,
            "application/json",
        ),
    ],
)
def test_rejections(headers: dict[str, str], body: bytes, status: int, reason: str) -> None:
    caught = rejection(request(headers, body))
    assert caught.status == status
    assert reason in caught.reason


def test_ping_is_forwarded_even_when_not_configured() -> None:
    ping = (DATA / "payloads/ping/payload.json").read_bytes()
    [event] = github_receiver(settings())(request(github_headers("ping"), ping))
    assert event.get_type() == "dev.knative.source.github.ping"
    assert event.get_subject() == "109948940"


def test_a_star_accepts_every_event() -> None:
    config = settings(GITHUB_EVENT_TYPES="*")
    [event] = github_receiver(config)(request(github_headers("workflow_job"), b"{}"))
    assert event.get_type() == "dev.knative.source.github.workflow_job"
    assert rejection(request(github_headers("NOT-AN-EVENT"), b"{}"), config).status == 400


def test_headers_are_case_insensitive() -> None:
    headers = {"x-github-event": "push", "x-github-delivery": "lower-1"}
    [event] = github_receiver(settings())(request(headers))
    assert event.get_id() == "lower-1"


# --- signatures -------------------------------------------------------------------------------


def check(headers: Mapping[str, str], body: bytes = PUSH, *, allow_sha1: bool = False) -> int:
    """The status github_signature rejects with, 0 when it accepts."""
    try:
        github_signature(SECRET, allow_sha1=allow_sha1)(request(headers, body))
    except Rejection as exc:
        return exc.status
    return 0


@pytest.mark.parametrize(
    ("headers", "allow_sha1", "status"),
    [
        ({"X-Hub-Signature-256": sign(SECRET, PUSH)}, False, 0),
        ({"x-hub-signature-256": " " + sign(SECRET, PUSH) + " "}, False, 0),
        ({"X-Hub-Signature-256": sign(SECRET, PUSH + b" ")}, False, 403),
        ({"X-Hub-Signature-256": sign("other", PUSH)}, False, 403),
        ({"X-Hub-Signature-256": sign(SECRET, PUSH).upper()}, False, 403),
        ({"X-Hub-Signature-256": "sha256=" + "é" * 64}, False, 403),
        ({}, False, 401),
        ({"X-Hub-Signature-256": ""}, False, 401),
        ({"X-Hub-Signature": sign(SECRET, PUSH, "sha1")}, False, 401),
        ({"X-Hub-Signature": sign(SECRET, PUSH, "sha1")}, True, 0),
        ({"X-Hub-Signature": sign("other", PUSH, "sha1")}, True, 403),
        ({"X-Hub-Signature": "sha1=\udcff"}, True, 400),  # bytes that are not UTF-8
        ({"X-Hub-Signature": sign(SECRET, PUSH, "sha256")}, True, 403),
        (
            {
                "X-Hub-Signature-256": sign("other", PUSH),
                "X-Hub-Signature": sign(SECRET, PUSH, "sha1"),
            },
            True,
            403,
        ),
        (
            {"X-Hub-Signature-256": sign(SECRET, PUSH), "X-Hub-Signature": "sha1=junk"},
            True,
            0,
        ),
    ],
)
def test_github_signature(headers: dict[str, str], allow_sha1: bool, status: int) -> None:
    assert check(headers, allow_sha1=allow_sha1) == status


def test_settings_install_the_signature_check_unless_insecure() -> None:
    assert len(settings().authenticators()) == 1
    insecure = settings(GITHUB_WEBHOOK_SECRET="", GITHUB_INSECURE_NO_SECRET="true")
    assert insecure.authenticators() == []
    with_bearer = settings(WEBHOOK_BEARER_TOKEN="t")
    assert len(with_bearer.authenticators()) == 2


def test_github_official_hmac_vector() -> None:
    vectors = json.loads((DATA / "hmac-official-vector.json").read_text())["vectors"]
    assert vectors
    for vector in vectors:
        body = vector["payload_utf8"].encode()
        expected = vector["x_hub_signature_256"]
        assert sign(vector["secret"], body) == expected
        verify = hmac_signature(vector["secret"], "X-Hub-Signature-256")
        verify(request({"X-Hub-Signature-256": expected}, body))  # does not raise
        github_signature(vector["secret"])(request({"X-Hub-Signature-256": expected}, body))
        with pytest.raises(Rejection):
            github_signature(vector["secret"])(
                request({"X-Hub-Signature-256": expected}, body + b"\n")
            )


# --- events are built without the SDK's validation: they must always pass it ---------------


def _keys(value: object) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in _keys(item)}
    if isinstance(value, list):
        return {key for item in value for key in _keys(item)}
    return set()


_PAYLOADS = sorted((DATA / "payloads").glob("*/payload.json"))
#: Event names and the object keys of GitHub's own payloads, so that generated payloads reach the
#: fields the mapping reads (repository.owner.login, comment.html_url, pages[].page_name ...).
_EVENTS = sorted({path.parent.name for path in _PAYLOADS} | {"ping", "not_a_known_event"})
_VOCABULARY = sorted(set().union(*(_keys(json.loads(p.read_bytes())) for p in _PAYLOADS)))
_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=6),
    st.sampled_from(["", "https://github.com/o/r/pull/1", "a/", "\ud800"]),
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(_VOCABULARY), inner, max_size=5),
    ),
    max_leaves=25,
)


@examples(max_examples=300, deadline=None)
@given(
    event=st.sampled_from(_EVENTS),
    payload=st.dictionaries(st.sampled_from(_VOCABULARY), _JSON, max_size=8),
    delivery=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
)
def test_events_pass_the_sdks_validation(
    event: str, payload: dict[str, Any], delivery: str
) -> None:
    body = json.dumps(payload).encode()
    [built] = github_receiver(settings(GITHUB_EVENT_TYPES="*"))(
        request(github_headers(event, delivery), body)
    )
    attributes = dict(built.get_attributes())
    CloudEvent._validate_attribute(attributes)  # raises CloudEventValidationError when invalid
    assert CloudEvent(attributes, body).get_attributes() == attributes  # nothing defaulted


def test_the_legacy_sha1_signature_is_refused_unless_asked_for() -> None:
    # the default, called without allow_sha1: a delivery signed with SHA-1 only is not accepted
    headers = {"X-Hub-Signature": sign(SECRET, PUSH, "sha1")}
    with pytest.raises(Rejection) as caught:
        github_signature(SECRET)(request(headers, PUSH))
    assert caught.value.status == 401
    github_signature(SECRET)(request({"X-Hub-Signature-256": sign(SECRET, PUSH)}, PUSH))


def test_a_signature_that_is_not_hex_is_called_malformed() -> None:
    headers = {"X-Hub-Signature-256": "sha256=" + "é" * 64}
    with pytest.raises(Rejection) as caught:
        github_signature(SECRET)(request(headers, PUSH))
    assert (caught.value.status, caught.value.reason) == (
        403,
        "signature in X-Hub-Signature-256 is malformed",
    )
