"""The webhook lifecycle (register / unregister / redeliver) against a local fake of the GitHub
REST API (:class:`springhead_testing.github.FakeGitHub`, built from GitHub's documented REST API;
github.com cannot be reached from here). The code under test is the real PyGithub client.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github import GithubException
from springhead.config import ConfigError, load_settings
from springhead_github.config import HookSettings
from springhead_github.hooks import (
    HookOutcome,
    HookSpec,
    github_client,
    redeliver,
    register,
    unregister,
)
from springhead_testing.github import HOOK_URL, SECRET, TOKEN, FakeGitHub


@pytest_asyncio.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    fake = await FakeGitHub().start()
    yield fake
    await fake.stop()


def hook_env(fake: FakeGitHub, **env: str | None) -> dict[str, str]:
    """The environment of hook registration against ``fake``, with ``env`` changed (a None
    value leaves the variable out)."""
    base: dict[str, str | None] = {
        "GITHUB_API_URL": fake.api_url,
        "GITHUB_OWNER_AND_REPOSITORY": "octo-org/octo-repo",
        "GITHUB_EVENT_TYPES": "push,pull_request",
        "GITHUB_WEBHOOK_SECRET": SECRET,
        "GITHUB_WEBHOOK_URL": HOOK_URL,
        "GITHUB_TOKEN": TOKEN,
    }
    return {k: v for k, v in (base | env).items() if v is not None}


def settings(fake: FakeGitHub, **env: str | None) -> HookSettings:
    return load_settings(HookSettings, hook_env(fake, **env))


REPO = "repos/octo-org/octo-repo"


def assert_is_ours(hook: dict[str, Any], events: list[str] | None = None) -> None:
    assert hook["config"] == {
        "url": HOOK_URL,
        "content_type": "json",
        "insecure_ssl": "0",
        "secret": SECRET,
    }
    assert hook["events"] == (events or ["push", "pull_request"])
    assert hook["active"] is True
    assert hook["name"] == "web"


async def test_register_twice_gives_one_hook(github: FakeGitHub) -> None:
    first = await register(settings(github))
    assert first.outcome is HookOutcome.CREATED
    second = await register(settings(github))
    assert second.outcome is HookOutcome.UPDATED
    assert second.hook_id == first.hook_id
    [hook] = github.hooks_to(REPO)
    assert_is_ours(hook)
    assert ("POST", "/repos/octo-org/octo-repo/hooks") in github.requests
    assert github.requests.count(("POST", "/repos/octo-org/octo-repo/hooks")) == 1
    assert all(auth == f"token {TOKEN}" for auth in github.authorizations)


async def test_an_existing_hook_with_other_events_is_updated_not_duplicated(
    github: FakeGitHub,
) -> None:
    other = github.add_hook(REPO, "https://elsewhere.example/", ["issues"], secret="x")
    ours = github.add_hook(REPO, HOOK_URL, ["issues", "release"], active=False)
    result = await register(settings(github))
    assert (result.outcome, result.hook_id, result.removed) == (HookOutcome.UPDATED, ours, ())
    [hook] = github.hooks_to(REPO)
    assert_is_ours(hook)
    assert ("PATCH", f"/repos/octo-org/octo-repo/hooks/{ours}") in github.requests
    assert not any(method == "POST" for method, _ in github.requests)
    assert github.hooks[REPO][other]["events"] == ["issues"]  # someone else's hook: untouched


async def test_settings_reach_the_hook(github: FakeGitHub) -> None:
    await register(
        settings(
            github,
            GITHUB_EVENT_TYPES="*",
            GITHUB_HOOK_ACTIVE="false",
            GITHUB_HOOK_INSECURE_SSL="true",
        )
    )
    [hook] = github.hooks_to(REPO)
    assert hook["events"] == ["*"]
    assert hook["active"] is False
    assert hook["config"]["insecure_ssl"] == "1"


async def test_a_hook_on_the_third_page_is_found(github: FakeGitHub) -> None:
    for n in range(230):
        github.add_hook(REPO, f"https://other-{n}.example/", ["push"])
    ours = github.add_hook(REPO, HOOK_URL, ["issues"])
    result = await register(settings(github))
    assert (result.outcome, result.hook_id) == (HookOutcome.UPDATED, ours)
    assert len(github.hooks[REPO]) == 231
    assert_is_ours(github.hooks[REPO][ours])
    pages = [
        (urlsplit(path).path, dict(parse_qsl(urlsplit(path).query)))
        for method, path in github.requests
        if method == "GET"
    ]
    hooks_path = "/repos/octo-org/octo-repo/hooks"
    assert pages == [
        (hooks_path, {"per_page": "100"}),
        (hooks_path, {"per_page": "100", "page": "2"}),
        (hooks_path, {"per_page": "100", "page": "3"}),
    ]


async def test_a_create_that_races_updates_the_winner(github: FakeGitHub) -> None:
    github.race_next_create = True
    result = await register(settings(github))
    assert result.outcome is HookOutcome.UPDATED
    [hook] = github.hooks_to(REPO)
    assert_is_ours(hook)  # their events and secret were replaced with ours
    methods = [method for method, _ in github.requests]
    assert methods == ["GET", "POST", "GET", "PATCH"]


async def test_duplicates_left_by_older_tools_are_reduced_to_one(github: FakeGitHub) -> None:
    first = github.add_hook(REPO, HOOK_URL, ["push"])
    second = github.add_hook(REPO, HOOK_URL, ["push"])
    third = github.add_hook(REPO, HOOK_URL, ["issues"])
    result = await register(settings(github))
    assert (result.hook_id, result.removed) == (first, (second, third))
    [hook] = github.hooks_to(REPO)
    assert hook["id"] == first
    assert_is_ours(hook)


async def test_unregister_deletes_the_hook(github: FakeGitHub) -> None:
    kept = github.add_hook(REPO, "https://elsewhere.example/", ["push"])
    created = await register(settings(github))
    result = await unregister(settings(github))
    assert (result.outcome, result.removed) == (HookOutcome.DELETED, (created.hook_id,))
    assert github.hooks_to(REPO) == []
    assert list(github.hooks[REPO]) == [kept]
    assert ("DELETE", f"/repos/octo-org/octo-repo/hooks/{created.hook_id}") in github.requests


async def test_unregister_when_already_gone_succeeds(github: FakeGitHub) -> None:
    result = await unregister(settings(github))
    assert (result.outcome, result.hook_id, result.removed) == (HookOutcome.ABSENT, None, ())
    assert not any(method == "DELETE" for method, _ in github.requests)


async def test_a_hook_deleted_meanwhile_is_fine(github: FakeGitHub) -> None:
    hook_id = github.add_hook(REPO, HOOK_URL, ["push"])
    github.gone_before_delete = True  # someone else deletes it between our listing and delete
    result = await unregister(settings(github))
    assert (result.outcome, result.removed) == (HookOutcome.DELETED, (hook_id,))
    assert ("DELETE", f"/repos/octo-org/octo-repo/hooks/{hook_id}") in github.requests
    assert github.hooks_to(REPO) == []


async def test_organization_hooks(github: FakeGitHub) -> None:
    org = settings(github, GITHUB_OWNER_AND_REPOSITORY="octo-org")
    assert (await register(org)).outcome is HookOutcome.CREATED
    assert (await register(org)).outcome is HookOutcome.UPDATED
    [hook] = github.hooks_to("orgs/octo-org")
    assert_is_ours(hook)
    assert github.hooks_to(REPO) == []
    assert (await unregister(org)).outcome is HookOutcome.DELETED
    assert github.hooks_to("orgs/octo-org") == []
    assert {path.split("?")[0] for _, path in github.requests} >= {
        "/orgs/octo-org/hooks",
        f"/orgs/octo-org/hooks/{hook['id']}",
    }


async def test_github_enterprise_base_url() -> None:
    fake = await FakeGitHub(prefix="/api/v3").start()
    try:
        enterprise = settings(fake)
        assert enterprise.api_url.endswith("/api/v3")
        assert (await register(enterprise)).outcome is HookOutcome.CREATED
        assert (await register(enterprise)).outcome is HookOutcome.UPDATED
        assert (await unregister(enterprise)).outcome is HookOutcome.DELETED
    finally:
        await fake.stop()
    assert fake.requests
    assert all(
        path.startswith("/api/v3/repos/octo-org/octo-repo/hooks") for _, path in fake.requests
    )


def app_settings(github: FakeGitHub, app_id: str) -> HookSettings:
    """Settings authenticating as GitHub App ``app_id`` (installation 77) with a fresh key;
    the fake knows the app as 4242, installed as 77, with that key's public half."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    github.app_id, github.app_public_key, github.installation_id = "4242", key.public_key(), 77
    return settings(
        github,
        GITHUB_TOKEN=None,
        GITHUB_APP_ID=app_id,
        GITHUB_APP_PRIVATE_KEY=pem,
        GITHUB_APP_INSTALLATION_ID="77",
    )


async def test_github_app_authentication(github: FakeGitHub) -> None:
    assert (await register(app_settings(github, "4242"))).outcome is HookOutcome.CREATED
    assert_is_ours(github.hooks_to(REPO)[0])
    assert github.requests[0] == ("POST", "/app/installations/77/access_tokens")
    assert github.authorizations[0].startswith("Bearer ")
    assert all(auth.startswith("token ghs_installation_") for auth in github.authorizations[1:])


async def test_a_github_app_with_the_wrong_id_is_refused(github: FakeGitHub) -> None:
    with pytest.raises(GithubException) as caught:
        await register(app_settings(github, "999"))
    assert caught.value.status == 401
    assert github.hooks == {}


def test_a_private_key_that_cannot_sign_is_a_config_error() -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    app = load_settings(
        HookSettings,
        {
            "GITHUB_OWNER_AND_REPOSITORY": "o/r",
            "GITHUB_EVENT_TYPES": "push",
            "GITHUB_WEBHOOK_SECRET": SECRET,
            "GITHUB_WEBHOOK_URL": HOOK_URL,
            "GITHUB_APP_ID": "1",
            "GITHUB_APP_PRIVATE_KEY": pem,
            "GITHUB_APP_INSTALLATION_ID": "2",
        },
    )
    with pytest.raises(ConfigError) as caught:
        github_client(app)
    assert caught.value.variable == "GITHUB_APP_PRIVATE_KEY"


async def test_a_bad_token_is_refused(github: FakeGitHub) -> None:
    with pytest.raises(GithubException) as caught:
        await register(settings(github, GITHUB_TOKEN="ghp_wrong"))
    assert caught.value.status == 401
    assert github.hooks == {}


async def test_an_unknown_repository_is_an_error(github: FakeGitHub) -> None:
    with pytest.raises(GithubException) as caught:
        await register(settings(github, GITHUB_OWNER_AND_REPOSITORY="octo-org/nope"))
    assert caught.value.status == 404


def test_hook_spec_config_always_carries_the_secret() -> None:
    spec = HookSpec(url=HOOK_URL, events=("push",), secret="x", insecure_ssl=True)
    assert spec.config() == {
        "url": HOOK_URL,
        "content_type": "json",
        "insecure_ssl": "1",
        "secret": "x",
    }
    assert "secret" not in HookSpec(url=HOOK_URL, events=("push",), secret=None).config()


# --- the command, as the chart's Helm hook runs it -------------------------------------------


async def hooks_command(*args: str, env: dict[str, str]) -> tuple[int, list[str], list[str]]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "springhead_github",
        "hooks",
        *args,
        env={"PATH": "/usr/bin:/bin", **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode().splitlines(), err.decode().splitlines()


async def test_command_register_and_unregister(github: FakeGitHub) -> None:
    status, out, err = await hooks_command("register", env=hook_env(github))
    assert (status, err) == (0, [])
    [hook] = github.hooks_to(REPO)
    assert out == [
        f"created hook {hook['id']} on octo-org/octo-repo delivering "
        f"push,pull_request to {HOOK_URL}"
    ]
    status, out, _ = await hooks_command("register", env=hook_env(github))
    assert (status, out) == (
        0,
        [
            f"updated hook {hook['id']} on octo-org/octo-repo delivering "
            f"push,pull_request to {HOOK_URL}"
        ],
    )
    status, out, _ = await hooks_command("unregister", env=hook_env(github))
    assert (status, out) == (
        0,
        [f"deleted hook {hook['id']} on octo-org/octo-repo delivering to {HOOK_URL}"],
    )
    status, out, _ = await hooks_command("unregister", env=hook_env(github))
    assert (status, out) == (
        0,
        [f"no hook on octo-org/octo-repo delivers to {HOOK_URL}: nothing to delete"],
    )
    assert github.hooks_to(REPO) == []


async def test_command_failures_are_one_line(github: FakeGitHub) -> None:
    status, out, err = await hooks_command(
        "register", env=hook_env(github, GITHUB_TOKEN="ghp_wrong")
    )
    assert (status, out) == (1, [])
    assert err == [
        "hooks register failed for octo-org/octo-repo: GitHub answered 401: Bad credentials"
    ]

    status, _, err = await hooks_command("unregister", env=hook_env(github, GITHUB_TOKEN=""))
    assert status == 2
    assert len(err) == 1
    assert err[0].startswith("configuration error: GITHUB_TOKEN: required")

    unreachable = FakeGitHub()
    await unreachable.start()
    await unreachable.stop()  # nothing listens there any more
    status, _, err = await hooks_command("register", env=hook_env(unreachable))
    assert status == 1
    assert len(err) == 1
    assert err[0].startswith("hooks register failed for octo-org/octo-repo: cannot reach")

    status, _, err = await hooks_command("delete", env=hook_env(github))
    assert status == 2
    assert github.hooks == {}


# --- redelivering what GitHub failed to deliver ----------------------------------------------


async def test_redeliver_asks_only_for_deliveries_that_failed_and_may_succeed(
    github: FakeGitHub,
) -> None:
    hook_id = github.add_hook(REPO, HOOK_URL, ["push"], SECRET)
    elsewhere = github.add_hook(REPO, "https://elsewhere.example.com/hook", ["push"])
    now = datetime.now(UTC)

    def ago(minutes: int) -> datetime:
        return now - timedelta(minutes=minutes)

    for n in range(120):  # delivered; they push the failures onto the second page
        github.add_delivery(hook_id, f"ok-{n}", 202, ago(n))
    sink_down = github.add_delivery(hook_id, "sink-down", 503, ago(130))
    no_answer = github.add_delivery(hook_id, "no-answer", 0, ago(131))
    github.add_delivery(hook_id, "failed-twice", 503, ago(140))
    failed_again = github.add_delivery(hook_id, "failed-twice", 502, ago(135), redelivery=True)
    github.add_delivery(hook_id, "redelivered-fine", 503, ago(150))
    github.add_delivery(hook_id, "redelivered-fine", 202, ago(125), redelivery=True)
    github.add_delivery(hook_id, "delivered-before", 202, ago(155))
    github.add_delivery(hook_id, "delivered-before", 503, ago(126), redelivery=True)
    github.add_delivery(hook_id, "event-not-configured", 404, ago(132))
    github.add_delivery(hook_id, "bad-signature", 403, ago(133))
    github.add_delivery(hook_id, "too-old", 503, now - timedelta(hours=25))
    github.add_delivery(elsewhere, "not-our-hook", 503, ago(130))

    [done] = await redeliver(settings(github))

    assert done.hook_id == hook_id
    assert sorted(done.requested) == ["failed-twice", "no-answer", "sink-down"]
    assert sorted(github.redelivered) == sorted(
        [(hook_id, sink_down), (hook_id, no_answer), (hook_id, failed_again)]
    )
    assert done.examined == 120 + 10  # stopped at the first attempt outside the window
    pages = [q for m, q in github.requests if m == "GET" and "/deliveries" in q]
    assert len(pages) == 2  # the second page through the Link header's cursor


async def test_redeliver_on_an_organization_hook_and_a_shorter_window(github: FakeGitHub) -> None:
    hook_id = github.add_hook("orgs/octo-org", HOOK_URL, ["push"], SECRET)
    now = datetime.now(UTC)
    recent = github.add_delivery(hook_id, "recent", 503, now - timedelta(minutes=10))
    github.add_delivery(hook_id, "earlier", 503, now - timedelta(hours=2))
    org = settings(github, GITHUB_OWNER_AND_REPOSITORY="octo-org", GITHUB_REDELIVER_WINDOW="PT1H")
    [done] = await redeliver(org)
    assert (done.requested, github.redelivered) == (("recent",), [(hook_id, recent)])


async def test_redeliver_window_is_bounded_by_what_github_keeps() -> None:
    env = {"GITHUB_REDELIVER_WINDOW": "P4D", "K_SINK": "http://sink"}
    with pytest.raises(ConfigError, match="GITHUB_REDELIVER_WINDOW"):
        load_settings(HookSettings, hook_env(FakeGitHub(base="http://127.0.0.1:9"), **env))


async def test_command_redeliver(github: FakeGitHub) -> None:
    status, out, _ = await hooks_command("redeliver", env=hook_env(github))
    assert (status, out) == (
        0,
        [f"octo-org/octo-repo delivering to {HOOK_URL}: no hook there, nothing to redeliver"],
    )
    hook_id = github.add_hook(REPO, HOOK_URL, ["push"], SECRET)
    github.add_delivery(hook_id, "sink-down", 503, datetime.now(UTC) - timedelta(minutes=1))
    status, out, err = await hooks_command("redeliver", env=hook_env(github))
    assert (status, err) == (0, [])
    assert out == [
        f"octo-org/octo-repo delivering to {HOOK_URL}: hook {hook_id}: 1 attempts in the last "
        "24 h, redelivery asked for 1 (sink-down)"
    ]
    github.refuse_redelivery = True
    status, out, err = await hooks_command("redeliver", env=hook_env(github))
    assert (status, out) == (1, [])
    assert err == [
        "hooks redeliver failed for octo-org/octo-repo: GitHub answered 422: Validation Failed"
    ]


@pytest.mark.parametrize("missing", ["github", "jwt"])
def test_the_hooks_command_without_the_hooks_extra_names_it(
    missing: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The receiver's image has no PyGithub: `hooks` says which image has it, in one line.
    from springhead_github.__main__ import run

    monkeypatch.setitem(sys.modules, missing, None)
    monkeypatch.delitem(sys.modules, "springhead_github.hooks")
    with pytest.raises(SystemExit) as exited:
        run(["hooks", "register"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert f"springhead-github[hooks] ({missing} is not installed)" in error
    assert "springhead-github-hooks image" in error
