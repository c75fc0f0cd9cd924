"""The webhook lifecycle (register / unregister) against a local fake of the GitHub REST API.

github.com cannot be reached from here, so :class:`FakeGitHub` is a small aiohttp server on
127.0.0.1 built from GitHub's documented REST API ("Repository webhooks", "Organization webhooks",
"Using pagination in the REST API", "Create an installation access token for an app"): list hooks
with ``per_page``/``page`` and a ``Link`` header, create (201, or 422 "Hook already exists on this
repository"), update (PATCH, 200), delete (204), 404 for what does not exist, 401 "Bad
credentials" for a bad token, ``POST /app/installations/{id}/access_tokens`` (201 with
``token`` and ``expires_at``) that verifies the App's JWT, and a hook's deliveries ("List
deliveries for a repository webhook": newest first, ``per_page`` up to 100 and an opaque
``cursor`` in the ``Link`` header's next URL; "Redeliver a delivery": ``POST .../deliveries/
{delivery_id}/attempts`` answers 202 Accepted, 404 for an unknown delivery). It serves under a
path prefix to stand in for GitHub Enterprise Server (``/api/v3``). The code under test is the
real PyGithub client.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
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

TOKEN = "ghp_good"
HOOK_URL = "https://hooks.example.com/github"
SECRET = "s3cret"
DOCS = "https://docs.github.com/rest"


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"message": message, "documentation_url": DOCS, **extra}, status=status
    )


@dataclass
class FakeGitHub:
    """A fake of the GitHub REST endpoints the hook lifecycle uses."""

    prefix: str = ""
    """Path prefix of the API (``/api/v3`` for GitHub Enterprise Server)."""
    tokens: set[str] = field(default_factory=lambda: {TOKEN})
    owners: set[str] = field(default_factory=lambda: {"repos/octo-org/octo-repo", "orgs/octo-org"})
    """Repositories and organizations that exist (``repos/o/r``, ``orgs/o``)."""
    hooks: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    """Hooks per owner, with their secret (GitHub never shows it back)."""
    app_id: str | None = None
    app_public_key: Any = None
    installation_id: int = 0
    race_next_create: bool = False
    """Before answering the next create, another client creates the same hook (then 422)."""
    gone_before_delete: bool = False
    """Another client deletes each hook just before our DELETE arrives (then 404)."""
    deliveries: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    """Delivery attempts per hook id, newest first."""
    redelivered: list[tuple[int, int]] = field(default_factory=list)
    """(hook id, delivery id) of every redelivery asked for."""
    refuse_redelivery: bool = False
    """Answer redelivery requests 422 (GitHub refuses deliveries older than 3 days so)."""
    requests: list[tuple[str, str]] = field(default_factory=list)
    """(method, path with query) of every request."""
    authorizations: list[str] = field(default_factory=list)
    base: str = ""
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return self.base + self.prefix

    def add_hook(
        self,
        owner: str,
        url: str,
        events: list[str],
        secret: str | None = None,
        active: bool = True,
    ) -> int:
        hook_id = next(self._ids)
        config = {"url": url, "content_type": "json", "insecure_ssl": "0"}
        if secret:
            config["secret"] = secret
        self.hooks.setdefault(owner, {})[hook_id] = {
            "id": hook_id,
            "name": "web",
            "active": active,
            "events": events,
            "config": config,
            "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z",
        }
        return hook_id

    def add_delivery(
        self, hook_id: int, guid: str, status_code: int, at: datetime, *, redelivery: bool = False
    ) -> int:
        """One delivery attempt as GitHub records it (status code 0: no answer)."""
        delivery_id = next(self._ids)
        statuses = {0: "timed out", 202: "OK", 200: "OK"}
        attempts = self.deliveries.setdefault(hook_id, [])
        attempts.append(
            {
                "id": delivery_id,
                "guid": guid,
                "delivered_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "redelivery": redelivery,
                "duration": 0.05,
                "status": statuses.get(status_code, f"Invalid HTTP Response: {status_code}"),
                "status_code": status_code,
                "event": "push",
                "action": None,
                "installation_id": None,
                "repository_id": 1,
            }
        )
        attempts.sort(key=lambda attempt: (attempt["delivered_at"], attempt["id"]), reverse=True)
        return delivery_id

    def hooks_to(self, owner: str, url: str = HOOK_URL) -> list[dict[str, Any]]:
        return [h for h in self.hooks.get(owner, {}).values() if h["config"]["url"] == url]

    def _shown(self, owner: str, hook: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.api_url}/{owner}/hooks/{hook['id']}"
        config = dict(hook["config"])
        if "secret" in config:
            config["secret"] = "********"
        shown = {
            "type": "Organization" if owner.startswith("orgs/") else "Repository",
            **hook,
            "config": config,
            "url": url,
            "ping_url": f"{url}/pings",
            "deliveries_url": f"{url}/deliveries",
            "last_response": {"code": None, "status": "unused", "message": None},
        }
        if not owner.startswith("orgs/"):
            shown["test_url"] = f"{url}/test"
        return shown

    # --- the server ---------------------------------------------------------------------------

    async def start(self) -> FakeGitHub:
        app = web.Application(middlewares=[self._record])
        p = self.prefix
        for kind in ("repos/{owner}/{repo}", "orgs/{org}"):
            app.router.add_get(f"{p}/{kind}/hooks", self._list)
            app.router.add_post(f"{p}/{kind}/hooks", self._create)
            app.router.add_patch(f"{p}/{kind}/hooks/{{hook_id}}", self._update)
            app.router.add_delete(f"{p}/{kind}/hooks/{{hook_id}}", self._delete)
            app.router.add_get(f"{p}/{kind}/hooks/{{hook_id}}/deliveries", self._deliveries)
            app.router.add_post(
                f"{p}/{kind}/hooks/{{hook_id}}/deliveries/{{delivery_id}}/attempts",
                self._redeliver,
            )
        app.router.add_post(f"{p}/app/installations/{{installation}}/access_tokens", self._token)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path_qs))
        self.authorizations.append(request.headers.get("Authorization", ""))
        if not request.path.startswith(f"{self.prefix}/app/"):
            scheme, _, token = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
                return _error(401, "Bad credentials")
        response: web.StreamResponse = await handler(request)
        return response

    def _owner(self, request: web.Request) -> str:
        info = request.match_info
        owner = f"repos/{info['owner']}/{info['repo']}" if "repo" in info else f"orgs/{info['org']}"
        if owner not in self.owners:
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Not Found", "documentation_url": DOCS}),
                content_type="application/json",
            )
        return owner

    async def _list(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        per_page = min(int(request.query.get("per_page", "30")), 100)
        page = max(int(request.query.get("page", "1")), 1)
        hooks = sorted(self.hooks.get(owner, {}).values(), key=lambda h: h["id"])
        last = max(1, -(-len(hooks) // per_page))
        shown = [self._shown(owner, h) for h in hooks[(page - 1) * per_page : page * per_page]]
        links = []
        url = f"{self.api_url}/{owner}/hooks"
        if page < last:
            links.append(f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"')
            links.append(f'<{url}?per_page={per_page}&page={last}>; rel="last"')
        if page > 1:
            links.append(f'<{url}?per_page={per_page}&page={page - 1}>; rel="prev"')
            links.append(f'<{url}?per_page={per_page}&page=1>; rel="first"')
        headers = {"Link": ", ".join(links)} if links else {}
        return web.json_response(shown, headers=headers)

    def _hook(self, request: web.Request) -> tuple[str, int]:
        owner = self._owner(request)
        hook_id = int(request.match_info["hook_id"])
        if hook_id not in self.hooks.get(owner, {}):
            raise web.HTTPNotFound(
                text=json.dumps({"message": "Not Found", "documentation_url": DOCS}),
                content_type="application/json",
            )
        return owner, hook_id

    async def _deliveries(self, request: web.Request) -> web.Response:
        owner, hook_id = self._hook(request)
        per_page = min(int(request.query.get("per_page", "30")), 100)
        start = int(request.query.get("cursor", "0"))
        attempts = self.deliveries.get(hook_id, [])
        headers = {}
        if start + per_page < len(attempts):
            url = f"{self.api_url}/{owner}/hooks/{hook_id}/deliveries"
            headers["Link"] = f'<{url}?per_page={per_page}&cursor={start + per_page}>; rel="next"'
        return web.json_response(attempts[start : start + per_page], headers=headers)

    async def _redeliver(self, request: web.Request) -> web.Response:
        _, hook_id = self._hook(request)
        delivery_id = int(request.match_info["delivery_id"])
        if not any(a["id"] == delivery_id for a in self.deliveries.get(hook_id, [])):
            return _error(404, "Not Found")
        if self.refuse_redelivery:
            return _error(422, "Validation Failed")
        self.redelivered.append((hook_id, delivery_id))
        return web.json_response({}, status=202)

    async def _create(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        body = await request.json()
        config = body.get("config") or {}
        if body.get("name", "web") != "web" or not config.get("url"):
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {"resource": "Hook", "code": "custom", "message": "Config must contain a URL"}
                ],
            )
        if self.race_next_create:
            self.race_next_create = False
            self.add_hook(owner, config["url"], ["push"], secret="theirs")
        if self.hooks_to(owner, config["url"]):
            where = "organization" if owner.startswith("orgs/") else "repository"
            return _error(
                422,
                "Validation Failed",
                errors=[
                    {
                        "resource": "Hook",
                        "code": "custom",
                        "message": f"Hook already exists on this {where}",
                    }
                ],
            )
        hook_id = self.add_hook(
            owner, config["url"], body.get("events") or ["push"], active=body.get("active", True)
        )
        self.hooks[owner][hook_id]["config"] = dict(config)
        shown = self._shown(owner, self.hooks[owner][hook_id])
        return web.json_response(shown, status=201, headers={"Location": shown["url"]})

    async def _update(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        hook = self.hooks.get(owner, {}).get(int(request.match_info["hook_id"]))
        if hook is None:
            return _error(404, "Not Found")
        body = await request.json()
        if "config" in body:
            hook["config"] = dict(body["config"])
        if "events" in body:
            hook["events"] = list(body["events"])
        hook["events"] += [e for e in body.get("add_events", []) if e not in hook["events"]]
        hook["events"] = [e for e in hook["events"] if e not in body.get("remove_events", [])]
        if "active" in body:
            hook["active"] = body["active"]
        hook["updated_at"] = "2026-02-02T00:00:00Z"
        return web.json_response(self._shown(owner, hook))

    async def _delete(self, request: web.Request) -> web.Response:
        owner = self._owner(request)
        if self.gone_before_delete:
            self.hooks.get(owner, {}).pop(int(request.match_info["hook_id"]), None)
        if self.hooks.get(owner, {}).pop(int(request.match_info["hook_id"]), None) is None:
            return _error(404, "Not Found")
        return web.Response(status=204)

    async def _token(self, request: web.Request) -> web.Response:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or self.app_public_key is None:
            return _error(401, "A JSON web token could not be decoded")
        try:
            claims = jwt.decode(
                token,
                self.app_public_key,
                algorithms=["RS256"],
                issuer=self.app_id,
                options={"require": ["iat", "exp", "iss"]},
            )
        except jwt.PyJWTError as exc:
            return _error(401, f"A JSON web token could not be decoded ({exc})")
        if int(request.match_info["installation"]) != self.installation_id:
            return _error(404, "Not Found")
        assert claims["iss"] == self.app_id
        installation_token = f"ghs_installation_{len(self.tokens)}"
        self.tokens.add(installation_token)
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return web.json_response(
            {
                "token": installation_token,
                "expires_at": expires,
                "permissions": {},
                "repository_selection": "all",
            },
            status=201,
        )


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
    out, err = await asyncio.wait_for(process.communicate(), 60)
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
