"""A fake of the GitHub REST API for tests (github.com cannot be reached from here).

:class:`FakeGitHub` is a small aiohttp server on 127.0.0.1 built from GitHub's documented REST
API, not from any client's behaviour: "Repository webhooks" and "Organization webhooks" (list
with ``per_page``/``page`` and a ``Link`` header, create: 201, or 422 "Hook already exists on
this repository"; update: PATCH, 200; delete: 204; 404 for what does not exist), "Using
pagination in the REST API", "Create an installation access token for an app"
(``POST /app/installations/{id}/access_tokens``: 201 with ``token`` and ``expires_at``, after
verifying the App's JWT), "List deliveries for a repository webhook" (newest first, ``per_page``
up to 100, an opaque ``cursor`` in the ``Link`` header's next URL) and "Redeliver a delivery"
(``POST .../deliveries/{delivery_id}/attempts``: 202 Accepted, 404 for an unknown delivery).
Every request needs a known token (401 "Bad credentials" otherwise). It can serve under a path
prefix to stand in for GitHub Enterprise Server (``/api/v3``), and be made unavailable (503, as
GitHub answers during an outage) to test what a client does when GitHub is down.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from aiohttp import web

__all__ = ["DOCS", "FakeGitHub", "HOOK_URL", "SECRET", "TOKEN"]

TOKEN = "ghp_good"  # noqa: S105 - the fake's test credential
"""The token the fake accepts by default."""
HOOK_URL = "https://hooks.example.com/github"
"""A public webhook URL for tests."""
SECRET = "s3cret"  # noqa: S105 - a test webhook secret
"""A webhook secret for tests."""
DOCS = "https://docs.github.com/rest"
"""``documentation_url`` of the fake's error answers."""


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response(
        {"message": message, "documentation_url": DOCS, **extra}, status=status
    )


@dataclass
class FakeGitHub:
    """A fake of the GitHub REST endpoints the hook lifecycle uses (see the module)."""

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
    unavailable: bool = False
    """Answer every request 503 (GitHub down)."""
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
            config["secret"] = "********"  # noqa: S105 - GitHub's mask
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
        if self.unavailable:
            return _error(503, "Service Unavailable")
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
            self.add_hook(owner, config["url"], ["push"], secret="theirs")  # noqa: S106 - the other client's
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
        if claims["iss"] != self.app_id:
            return _error(401, "A JSON web token could not be decoded (issuer)")
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
