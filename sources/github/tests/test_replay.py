"""Every example payload as a signed GitHub delivery through the real source process into the
real loopback sink; signature and header rejections; a sink that is down, then back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

import aiohttp
import pytest
from springhead.webhook import sign
from springhead_github.attributes import MAPPED_EVENTS
from springhead_testing import RecordingSink, SourceProcess, adapter_env
from springhead_testing.slow_clients import open_slow_clients, rss_bytes

DATA = Path(__file__).parent / "data"
PAYLOADS = sorted((DATA / "payloads").glob("*/*.json"))
SECRET = "It's a Secret to Everybody"
REPO = "Codertocat/Hello-World"
SOURCE = f"https://github.com/{REPO}"
SPEC_ATTRIBUTES = {"specversion", "id", "source", "type", "datacontenttype", "time", "subject"}

# What each example payload must become: (subject, extensions). Written from Knative's mapping
# (eventing-github pkg/common/events.go) and read off each payload by hand; events Knative does
# not know carry owner/repository/sender/action and the subject named in the README.
CR = {"owner": "Codertocat", "repository": "Hello-World", "sender": "Codertocat"}
EXPECTED: dict[str, tuple[str | None, dict[str, str]]] = {
    "branch_protection_rule": (
        "21796960",
        {
            "owner": "octo-org",
            "repository": "octo-repo",
            "sender": "Codertocat",
            "action": "created",
        },
    ),
    "check_run": ("128620228", {**CR, "action": "created"}),
    "check_suite": ("118578147", {**CR, "action": "completed"}),
    "code_scanning_alert": ("10", {**CR, "sender": "github", "action": "created"}),
    "commit_comment": (
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246#commitcomment-33548674",
        {**CR, "action": "created"},
    ),
    "create": ("tag", {**CR, "ref": "simple-tag"}),
    "delete": ("tag", {**CR, "ref": "simple-tag"}),
    "dependabot_alert": (
        "20",
        {"owner": "wolfy1339", "repository": "pika-pack", "sender": "github", "action": "created"},
    ),
    "deploy_key": ("100", {**CR, "action": "created"}),
    "deployment": ("145988746", CR),
    "deployment_review": (
        "5453085689",
        {
            "owner": "terraform-test-github",
            "repository": "sample-app",
            "sender": "ilmax",
            "action": "requested",
        },
    ),
    "deployment_status": ("145988746", CR),
    "discussion": ("4", {**CR, "action": "created"}),
    "discussion_comment": ("4#discussioncomment-550062", {**CR, "action": "created"}),
    "fork": ("186853261", {**CR, "sender": "Octocoders"}),
    "github_app_authorization": (None, {"sender": "octocat", "action": "revoked"}),
    "gollum": ("Home", {**CR, "sender": "rachmari"}),
    "installation": (
        "957387",
        {"installation": "957387", "sender": "Codertocat", "action": "created"},
    ),
    "installation_repositories": (
        "957387",
        {"installation": "957387", "sender": "Codertocat", "action": "added"},
    ),
    "issue_comment": ("1#issuecomment-492700400", {**CR, "action": "created"}),
    "issues": ("1", {**CR, "action": "opened"}),
    "label": (":bug: Bugfix", {**CR, "action": "created", "label": ":bug: Bugfix"}),
    "marketplace_purchase": ("organizationUsername", {"sender": "username", "action": "cancelled"}),
    "member": ("39652351", {**CR, "sender": "hacktocat", "action": "added"}),
    "membership": (
        "21031067",
        {"owner": "Octocoders", "scope": "team", "sender": "Codertocat", "action": "added"},
    ),
    "merge_group": (
        "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
        {
            "owner": "octo-org",
            "repository": "octo-repo",
            "sender": "Codertocat",
            "action": "checks_requested",
        },
    ),
    "meta": ("101047067", {**CR, "action": "deleted"}),
    "milestone": ("1", {**CR, "action": "created"}),
    "org_block": ("blocked", {"owner": "Octocoders", "sender": "Octocoders", "action": "blocked"}),
    "organization": (
        "member_added",
        {"owner": "Octocoders", "sender": "Codertocat", "action": "member_added"},
    ),
    "package": ("10696", {**CR, "repository": "hello-world-npm", "action": "published"}),
    "page_build": ("130514899", CR),
    "ping": ("109948940", {**CR, "owner": "Octocoders"}),
    "project": ("created", {**CR, "action": "created"}),
    "project_card": ("created", {**CR, "action": "created"}),
    "project_column": ("created", {**CR, "action": "created"}),
    "projects_v2_item": (
        "5678510",
        {"owner": "Octocoders", "sender": "Codertocat", "action": "created"},
    ),
    "public": ("186853002", CR),
    "pull_request": ("2", {**CR, "installation": "1", "action": "opened", "number": "2"}),
    "pull_request_review": (
        "237895671",
        {**CR, "installation": "1", "action": "dismissed", "review": "dismissed"},
    ),
    "pull_request_review_comment": ("284312630", {**CR, "installation": "1", "action": "created"}),
    "pull_request_review_thread": ("2", {**CR, "action": "resolved"}),
    "push": (
        "6113728f27ae...000000000000",
        {
            **CR,
            "pusher": "Codertocat",
            "ref": "refs/tags/simple-tag",
            "created": "false",
            "deleted": "true",
            "forced": "false",
        },
    ),
    "registry_package": (
        "10696",
        {
            **CR,
            "repository": "hello-world-npm",
            "sender": "github-actions[bot]",
            "action": "published",
        },
    ),
    "release": ("0.0.1", {**CR, "action": "created"}),
    "repository": ("186853261", {**CR, "owner": "Octocoders", "action": "created"}),
    "repository_dispatch": (
        "on-demand-test",
        {
            "owner": "octo-org",
            "repository": "octo-repo",
            "sender": "Codertocat",
            "action": "on-demand-test",
        },
    ),
    "repository_import": ("135493233", CR),
    "repository_vulnerability_alert": ("91095730", {"action": "create"}),
    "secret_scanning_alert": ("191", {**CR, "action": "reopened"}),
    "security_advisory": ("GHSA-rf4j-j272-fj86", {"action": "published"}),
    "sponsorship": ("monalisa", {"sender": "monalisa", "action": "created"}),
    "star": ("186853002", {**CR, "action": "created"}),
    "status": (
        "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
        {**CR, "state": "success", "name": "Codertocat/Hello-World", "context": "default"},
    ),
    "team": ("3253328", {"sender": "Codertocat", "action": "created"}),
    "team_add": ("186853261", {**CR, "owner": "Octocoders", "sender": "Octocoders"}),
    "watch": ("186853002", {**CR, "action": "started"}),
    "workflow_dispatch": (
        ".github/workflows/hello-world-workflow.yml",
        {"owner": "octo-org", "repository": "octo-repo", "sender": "Codertocat"},
    ),
    "workflow_job": (
        "289782451",
        {**CR, "owner": "Octocoders", "action": "in_progress"},
    ),
    "workflow_run": (
        "289782451",
        {
            "owner": "octo-org",
            "repository": "octo-repo",
            "sender": "Codertocat",
            "action": "completed",
        },
    ),
}


def delivery(
    event: str,
    body: bytes,
    *,
    secret: str | None = SECRET,
    delivery_id: str | None = None,
) -> dict[str, str]:
    """The headers GitHub sends with ``body``."""
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery_id or str(uuid.uuid4()),
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/044aadd",
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(secret, body)
    return headers


def github_env(sink_url: str, **settings: str) -> dict[str, str]:
    defaults = {
        "GITHUB_OWNER_AND_REPOSITORY": REPO,
        "GITHUB_EVENT_TYPES": "push,pull_request",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "SPRINGHEAD_DELIVERY_RETRY": "0",
    }
    return adapter_env(sink_url, **(defaults | settings))


async def post(
    process: SourceProcess, headers: Mapping[str, str], body: bytes
) -> tuple[int, Mapping[str, str], str]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"http://127.0.0.1:{process.port}/", data=body, headers=headers) as response,
    ):
        return response.status, dict(response.headers), await response.text()


def test_every_mapped_event_is_replayed() -> None:
    # every row of the attribute table is asserted here, on GitHub's own payload, except the
    # two legacy names of the installation events (tests/test_attributes.py asserts those)
    legacy = {"integration_installation", "integration_installation_repositories"}
    assert MAPPED_EVENTS - legacy <= set(EXPECTED)


def test_every_payload_has_an_expectation() -> None:
    assert len(PAYLOADS) == 60
    assert {path.parent.name for path in PAYLOADS} == set(EXPECTED)


async def test_every_payload_becomes_the_expected_cloudevent(sink: RecordingSink) -> None:
    events = ",".join(sorted(path.parent.name for path in PAYLOADS))
    async with SourceProcess(
        "springhead_github", github_env(sink.url, GITHUB_EVENT_TYPES=events)
    ) as process:
        for count, path in enumerate(PAYLOADS, start=1):
            event = path.parent.name
            body = path.read_bytes()
            headers = delivery(event, body)
            status, _, text = await post(process, headers, body)
            assert status == 202, (event, text)
            [*_, request] = await sink.wait_for(count)

            assert request.body == body, event  # byte for byte, never re-serialised
            assert request.header("Content-Type") == "application/json"
            assert request.header("Kn-Namespace") == "testns"
            attributes = request.event.get_attributes()
            assert attributes["type"] == f"dev.knative.source.github.{event}"
            assert attributes["source"] == SOURCE
            assert attributes["id"] == headers["X-GitHub-Delivery"]
            assert attributes["datacontenttype"] == "application/json"
            assert attributes["specversion"] == "1.0"
            assert attributes["time"] is not None
            subject, extensions = EXPECTED[event]
            assert attributes.get("subject") == subject, event
            assert {
                k: v for k, v in attributes.items() if k not in SPEC_ATTRIBUTES
            } == extensions, event
    assert len(sink.requests) == len(PAYLOADS)


async def test_a_redelivery_keeps_the_event_id(sink: RecordingSink) -> None:
    body = (DATA / "payloads/push/payload.json").read_bytes()
    headers = delivery("push", body, delivery_id="72d3162e-cc78-11e3-81ab-4c9367dc0958")
    async with SourceProcess("springhead_github", github_env(sink.url)) as process:
        assert (await post(process, headers, body))[0] == 202
        assert (await post(process, headers, body))[0] == 202
    ids = [event.get_id() for event in sink.events]
    assert ids == ["72d3162e-cc78-11e3-81ab-4c9367dc0958"] * 2


def _tampered(body: bytes) -> bytes:
    return body.replace(b'"Codertocat"', b'"Codertocot"', 1)


@pytest.mark.parametrize(
    ("case", "change_headers", "change_body", "status"),
    [
        ("tampered body", None, _tampered, 403),
        (
            "wrong secret",
            lambda h, b: h | {"X-Hub-Signature-256": sign("not the secret", b)},
            None,
            403,
        ),
        ("missing signature", lambda h, b: h | {"X-Hub-Signature-256": ""}, None, 401),
        (
            "malformed: no algorithm",
            lambda h, b: h | {"X-Hub-Signature-256": "deadbeef"},
            None,
            403,
        ),
        ("malformed: not hex", lambda h, b: h | {"X-Hub-Signature-256": "sha256=zz"}, None, 403),
        (
            "malformed: bare digest",
            lambda h, b: h | {"X-Hub-Signature-256": sign(SECRET, b).removeprefix("sha256=")},
            None,
            403,
        ),
        (
            "signature for sha1 in the sha256 header",
            lambda h, b: h | {"X-Hub-Signature-256": sign(SECRET, b, "sha1")},
            None,
            403,
        ),
        (
            "sha1 only, not enabled",
            lambda h, b: (
                {k: v for k, v in h.items() if k != "X-Hub-Signature-256"}
                | {"X-Hub-Signature": sign(SECRET, b, "sha1")}
            ),
            None,
            401,
        ),
    ],
)
async def test_unauthenticated_deliveries_are_rejected_and_never_forwarded(
    sink: RecordingSink,
    case: str,
    change_headers: Callable[[dict[str, str], bytes], dict[str, str]] | None,
    change_body: Callable[[bytes], bytes] | None,
    status: int,
) -> None:
    body = (DATA / "payloads/push/payload.json").read_bytes()
    headers = delivery("push", body)
    if change_headers is not None:
        headers = {k: v for k, v in change_headers(headers, body).items() if v}
    sent = change_body(body) if change_body is not None else body
    assert (sent != body) == (change_body is not None)
    async with SourceProcess("springhead_github", github_env(sink.url)) as process:
        got, _, text = await post(process, headers, sent)
        assert (got, case) == (status, case), text
        assert sink.requests == []
        # The same process forwards a properly signed delivery, so the rejection was the check.
        assert (await post(process, delivery("push", body), body))[0] == 202
    assert len(sink.requests) == 1


async def test_legacy_sha1_is_accepted_only_when_enabled(sink: RecordingSink) -> None:
    body = (DATA / "payloads/push/payload.json").read_bytes()
    headers = delivery("push", body, secret=None) | {"X-Hub-Signature": sign(SECRET, body, "sha1")}
    wrong = headers | {"X-Hub-Signature": sign("other", body, "sha1")}
    both_bad_256 = headers | {"X-Hub-Signature-256": sign("other", body)}
    async with SourceProcess(
        "springhead_github", github_env(sink.url, GITHUB_ALLOW_SHA1="true")
    ) as process:
        assert (await post(process, wrong, body))[0] == 403
        # When both are present the SHA-256 one decides, even if the SHA-1 one matches.
        assert (await post(process, both_bad_256, body))[0] == 403
        assert sink.requests == []
        assert (await post(process, headers, body))[0] == 202
    [event] = sink.events
    assert event.get_id() == headers["X-GitHub-Delivery"]


async def test_header_and_event_type_checks(sink: RecordingSink) -> None:
    push = (DATA / "payloads/push/payload.json").read_bytes()
    issues = (DATA / "payloads/issues/opened.payload.json").read_bytes()
    ping = (DATA / "payloads/ping/payload.json").read_bytes()
    no_event = {k: v for k, v in delivery("push", push).items() if k != "X-GitHub-Event"}
    no_delivery = {k: v for k, v in delivery("push", push).items() if k != "X-GitHub-Delivery"}
    async with SourceProcess("springhead_github", github_env(sink.url)) as process:
        assert (await post(process, no_event, push))[0] == 400
        assert (await post(process, no_delivery, push))[0] == 400
        status, _, text = await post(process, delivery("issues", issues), issues)
        assert status == 404
        assert "issues" in text
        assert sink.requests == []
        # ping is not configured (push,pull_request) but always forwarded
        assert (await post(process, delivery("ping", ping), ping))[0] == 202
    assert [e.get_type() for e in sink.events] == ["dev.knative.source.github.ping"]


async def test_a_failing_sink_means_503_and_the_redelivery_is_forwarded_once(
    sink: RecordingSink,
) -> None:
    body = (DATA / "payloads/push/payload.json").read_bytes()
    headers = delivery("push", body)
    env = github_env(sink.url, WEBHOOK_RETRY_AFTER="7")
    async with SourceProcess("springhead_github", env) as process:
        sink.respond_with(status=500)
        status, response_headers, _ = await post(process, headers, body)
        assert status == 503
        assert response_headers["Retry-After"] == "7"
        assert sink.accepted == []
        assert [r.status for r in sink.requests] == [500]

        sink.respond_with(status=202)
        assert (await post(process, headers, body))[0] == 202  # GitHub's redelivery
    [accepted] = sink.accepted
    assert accepted.event.get_id() == headers["X-GitHub-Delivery"]
    assert accepted.body == body


async def test_a_closed_sink_means_503_until_it_is_back() -> None:
    body = (DATA / "payloads/push/payload.json").read_bytes()
    headers = delivery("push", body)
    first = await RecordingSink().start()
    url, port = first.url, first.port
    await first.stop()
    async with SourceProcess("springhead_github", github_env(url)) as process:
        status, response_headers, _ = await post(process, headers, body)
        assert status == 503
        assert "Retry-After" in response_headers
        async with RecordingSink(port=port) as back:
            assert (await post(process, headers, body))[0] == 202
    assert [r.event.get_id() for r in back.requests] == [headers["X-GitHub-Delivery"]]


async def test_slow_clients_give_their_slots_back_and_are_disconnected(
    sink: RecordingSink,
) -> None:
    env = github_env(
        sink.url,
        WEBHOOK_MAX_IN_FLIGHT="4",
        SPRINGHEAD_HEAD_TIMEOUT="PT1S",
        SPRINGHEAD_BODY_TIMEOUT="PT1S",
    )
    body = (DATA / "payloads/push/payload.json").read_bytes()
    async with SourceProcess("springhead_github", env) as process:
        assert process.process is not None
        before = rss_bytes(process.process.pid)
        # A signature covers the body, so a slow body holds a slot until SPRINGHEAD_BODY_TIMEOUT;
        # six of each kind, more than WEBHOOK_MAX_IN_FLIGHT.
        forged = b"X-GitHub-Event: push\r\nX-Hub-Signature-256: sha256=00\r\n"
        slow = await open_slow_clients(process.port, count=6, head=forged)
        outcomes = await asyncio.gather(*(each.outcome() for each in slow))
        seen: dict[str, list[int | None]] = {}
        for each, (status, _) in zip(slow, outcomes, strict=True):
            seen.setdefault(each.kind, []).append(status)
        assert seen["idle"] == [None] * 6  # closed after SPRINGHEAD_HEAD_TIMEOUT
        assert seen["partial-head"] == [408] * 6
        bodies = sorted(seen["partial-body"] + seen["endless-chunked"])
        assert bodies == [408] * 4 + [503] * 8  # four slots, given back; the rest refused at once
        assert (await post(process, delivery("push", body), body))[0] == 202
        assert rss_bytes(process.process.pid) - before < 24 * 64 * 1024 + 4 * 2**20 + 16 * 2**20
    assert len(sink.requests) == 1
