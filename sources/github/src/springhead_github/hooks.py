"""The source's webhook on GitHub: registered idempotently, removed on uninstall (PyGithub).

``python -m springhead_github hooks register`` makes sure exactly one hook on the repository
(``POST/PATCH /repos/{owner}/{repo}/hooks``) or organization (``/orgs/{org}/hooks``) delivers
the configured events to ``GITHUB_WEBHOOK_URL`` with the configured secret:

- the hooks are listed (every page) and a hook whose ``config.url`` is that URL is updated
  (PATCH), never duplicated; more than one such hook (left by an older tool) are reduced to one;
- otherwise one is created; a create that races with another one and gets GitHub's 422
  "Hook already exists" lists again and updates the hook that won.

``hooks unregister`` deletes every hook with that URL; none left (or already gone) is success.

PyGithub is a synchronous client: the async functions run it in a worker thread so an event
loop is never blocked; the command runs it directly (it has no event loop). This module is the
only one importing PyGithub, and the receiving process never imports it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import jwt
from github import Auth, Github, GithubException, GithubRetry
from github.Hook import Hook
from github.HookDelivery import HookDeliverySummary
from github.Organization import Organization
from github.Repository import Repository
from springhead import __version__
from springhead.config import ConfigError, load_settings

from springhead_github.config import HookSettings

__all__ = [
    "HookError",
    "HookOutcome",
    "HookResult",
    "HookSpec",
    "Redelivery",
    "github_client",
    "hooks_command",
    "redeliver",
    "redeliver_failed",
    "register",
    "register_hook",
    "unregister",
    "unregister_hook",
]

#: GitHub's name for a webhook that POSTs to a URL (the only kind there is now).
_HOOK_NAME = "web"
#: Largest page GitHub serves; fewer requests for owners with many hooks.
_PAGE_SIZE = 100
#: Exit statuses of the command.
EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


class HookError(Exception):
    """The hook could not be put in the wanted state (a one-line reason)."""


class HookOutcome(StrEnum):
    """What a register/unregister did."""

    CREATED = "created"
    """No hook had the URL; one was created."""
    UPDATED = "updated"
    """A hook with the URL existed; it was updated in place."""
    DELETED = "deleted"
    """Hooks with the URL were deleted."""
    ABSENT = "absent"
    """No hook had the URL; nothing to delete."""


@dataclass(frozen=True, slots=True)
class HookResult:
    """Outcome of a register/unregister and the hooks it touched."""

    outcome: HookOutcome
    hook_id: int | None
    """The hook kept (register) or the first one deleted (unregister)."""
    removed: tuple[int, ...] = ()
    """Every hook deleted: duplicates (register) or all with the URL (unregister)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HookSpec:
    """The webhook as GitHub should have it."""

    url: str
    """``config.url``: where GitHub delivers; identifies the hook."""
    events: tuple[str, ...]
    """``events`` (``*`` for all)."""
    secret: str | None
    """``config.secret``; None registers an unsigned hook."""
    active: bool = True
    """``active``."""
    insecure_ssl: bool = False
    """``config.insecure_ssl``."""

    @classmethod
    def from_settings(cls, settings: HookSettings) -> HookSpec:
        """The hook ``settings`` describe."""
        return cls(
            url=settings.hook_url,
            events=settings.event_types,
            secret=settings.secret,
            active=settings.hook_active,
            insecure_ssl=settings.hook_insecure_ssl,
        )

    def config(self) -> dict[str, str]:
        """The hook's ``config`` object. The secret is always sent: GitHub never shows it back,
        and an update without it would remove it."""
        config = {
            "url": self.url,
            "content_type": "json",
            "insecure_ssl": "1" if self.insecure_ssl else "0",
        }
        if self.secret is not None:
            config["secret"] = self.secret
        return config


def github_client(settings: HookSettings) -> Github:
    """A PyGithub client for ``settings``' API URL: a token, or a GitHub App's installation
    token (a JWT signed with the App's key, exchanged at
    ``POST /app/installations/{id}/access_tokens``)."""
    auth: Auth.Auth
    if settings.access_token is not None:
        auth = Auth.Token(settings.access_token)
    else:
        assert settings.app_id is not None  # noqa: S101 - HookSettings requires all three
        assert settings.private_key is not None  # noqa: S101
        assert settings.app_installation_id is not None  # noqa: S101
        app = Auth.AppAuth(settings.app_id, settings.private_key)
        try:
            app.create_jwt()
        except (jwt.PyJWTError, ValueError) as exc:
            variable = settings.variable_of("app_private_key")
            raise ConfigError(variable, f"cannot sign a JWT with this key ({exc})") from None
        auth = app.get_installation_auth(settings.app_installation_id)
    return Github(
        auth=auth,
        base_url=settings.api_url,
        per_page=_PAGE_SIZE,
        lazy=True,
        retry=GithubRetry(total=3),
        # A handful of requests per run: GitHub's pacing advice is for bulk clients.
        seconds_between_requests=None,
        seconds_between_writes=None,
        user_agent=f"springhead-github/{__version__}",
    )


def _owner(client: Github, owner_and_repository: str) -> Repository | Organization:
    if "/" in owner_and_repository:
        return client.get_repo(owner_and_repository)
    return client.get_organization(owner_and_repository)


def _hooks_for(owner: Repository | Organization, url: str) -> list[Hook]:
    hooks = [hook for hook in owner.get_hooks() if hook.config.get("url") == url]
    return sorted(hooks, key=lambda hook: hook.id)


def _already_exists(exc: GithubException) -> bool:
    if exc.status != 422 or not isinstance(exc.data, dict):
        return False
    messages = [str(exc.data.get("message", ""))]
    errors = exc.data.get("errors")
    if isinstance(errors, list):
        messages += [str(e.get("message", "")) for e in errors if isinstance(e, dict)]
    return any("already exists" in message.lower() for message in messages)


def _delete(hook: Hook) -> None:
    try:
        hook.delete()
    except GithubException as exc:
        if exc.status != 404:  # deleted meanwhile: what we wanted
            raise


def register_hook(client: Github, owner_and_repository: str, spec: HookSpec) -> HookResult:
    """Make exactly one hook on ``owner_and_repository`` match ``spec`` (blocking)."""
    owner = _owner(client, owner_and_repository)
    existing = _hooks_for(owner, spec.url)
    if not existing:
        try:
            hook = owner.create_hook(_HOOK_NAME, spec.config(), list(spec.events), spec.active)
        except GithubException as exc:
            if not _already_exists(exc):
                raise
        else:
            return HookResult(HookOutcome.CREATED, hook.id)
        # Someone created it between our listing and our create: update theirs.
        existing = _hooks_for(owner, spec.url)
        if not existing:
            raise HookError(
                f"GitHub says a hook already exists on {owner_and_repository}, "
                f"but none delivers to {spec.url}"
            )
    kept, *duplicates = existing
    kept.edit(_HOOK_NAME, spec.config(), events=list(spec.events), active=spec.active)
    for duplicate in duplicates:
        _delete(duplicate)
    return HookResult(HookOutcome.UPDATED, kept.id, tuple(d.id for d in duplicates))


def unregister_hook(client: Github, owner_and_repository: str, url: str) -> HookResult:
    """Delete every hook on ``owner_and_repository`` delivering to ``url`` (blocking)."""
    existing = _hooks_for(_owner(client, owner_and_repository), url)
    if not existing:
        return HookResult(HookOutcome.ABSENT, None)
    for hook in existing:
        _delete(hook)
    return HookResult(HookOutcome.DELETED, existing[0].id, tuple(h.id for h in existing))


@dataclass(frozen=True)
class Redelivery:
    """What ``hooks redeliver`` did for one hook."""

    hook_id: int
    examined: int
    """Delivery attempts inside the window."""
    requested: tuple[str, ...]
    """Deliveries (their ``X-GitHub-Delivery`` GUIDs) GitHub was asked to redeliver."""


def _succeeded(attempt: HookDeliverySummary) -> bool:
    return attempt.status_code is not None and 200 <= attempt.status_code < 300


def _worth_retrying(attempt: HookDeliverySummary) -> bool:
    """An attempt that may succeed when made again: no answer (GitHub records status code 0 when
    it timed out or could not connect), 408, 429 or 5xx (the source's 503 when the sink did not
    accept the event). Any other 4xx (bad signature, an event type not configured) would be
    refused again."""
    code = attempt.status_code
    return not code or code in (408, 429) or code >= 500


def redeliver_failed(
    client: Github, owner_and_repository: str, url: str, since: datetime
) -> list[Redelivery]:
    """Ask GitHub to redeliver each delivery made since ``since`` to the hooks delivering to
    ``url`` that no attempt delivered and whose latest attempt is worth retrying (blocking).

    GitHub does not redeliver failed deliveries on its own; a redelivery keeps the delivery's
    GUID, so the event keeps its id. A redelivery asked for but not yet attempted when this runs
    again is asked for again: the sink may see that event twice, with the same id."""
    owner = _owner(client, owner_and_repository)
    done: list[Redelivery] = []
    for hook in _hooks_for(owner, url):
        attempts: dict[str, list[HookDeliverySummary]] = {}
        examined = 0
        for attempt in owner.get_hook_deliveries(hook.id):  # newest first
            if attempt.delivered_at is not None and attempt.delivered_at < since:
                break
            examined += 1
            attempts.setdefault(attempt.guid or "", []).append(attempt)
        requested = []
        for guid, tries in attempts.items():
            latest = tries[0]
            if any(_succeeded(t) for t in tries) or not _worth_retrying(latest):
                continue
            client.requester.requestJsonAndCheck(
                "POST", f"{hook.url}/deliveries/{latest.id}/attempts"
            )
            requested.append(guid)
        done.append(Redelivery(hook.id, examined, tuple(requested)))
    return done


def _redeliver_blocking(settings: HookSettings) -> list[Redelivery]:
    since = datetime.now(UTC) - settings.redeliver_window
    with github_client(settings) as client:
        return redeliver_failed(client, settings.owner_and_repository, settings.hook_url, since)


async def redeliver(settings: HookSettings) -> list[Redelivery]:
    """Redeliver the failed deliveries ``settings`` describe, in a worker thread."""
    return await asyncio.to_thread(_redeliver_blocking, settings)


def _register_blocking(settings: HookSettings) -> HookResult:
    with github_client(settings) as client:
        return register_hook(
            client, settings.owner_and_repository, HookSpec.from_settings(settings)
        )


def _unregister_blocking(settings: HookSettings) -> HookResult:
    with github_client(settings) as client:
        return unregister_hook(client, settings.owner_and_repository, settings.hook_url)


async def register(settings: HookSettings) -> HookResult:
    """Register the hook ``settings`` describe, in a worker thread."""
    return await asyncio.to_thread(_register_blocking, settings)


async def unregister(settings: HookSettings) -> HookResult:
    """Remove the hook ``settings`` describe, in a worker thread."""
    return await asyncio.to_thread(_unregister_blocking, settings)


def _describe(result: HookResult, settings: HookSettings) -> str:
    where = settings.owner_and_repository
    url = settings.hook_url
    if result.outcome is HookOutcome.ABSENT:
        return f"no hook on {where} delivers to {url}: nothing to delete"
    if result.outcome is HookOutcome.DELETED:
        ids = ", ".join(str(i) for i in result.removed)
        return f"deleted hook {ids} on {where} delivering to {url}"
    line = (
        f"{result.outcome.value} hook {result.hook_id} on {where} delivering "
        f"{','.join(settings.event_types)} to {url}"
    )
    if result.removed:
        line += f" (removed duplicate hooks {', '.join(str(i) for i in result.removed)})"
    return line


def _describe_redeliveries(done: list[Redelivery], settings: HookSettings) -> str:
    where = f"{settings.owner_and_repository} delivering to {settings.hook_url}"
    if not done:
        return f"{where}: no hook there, nothing to redeliver"
    hours = f"{settings.redeliver_window.total_seconds() / 3600:g} h"
    parts = []
    for redelivery in done:
        asked = ", ".join(redelivery.requested) or "none"
        parts.append(
            f"hook {redelivery.hook_id}: {redelivery.examined} attempts in the last {hours}, "
            f"redelivery asked for {len(redelivery.requested)} ({asked})"
        )
    return f"{where}: " + "; ".join(parts)


def _failure(exc: GithubException) -> str:
    message = exc.data.get("message") if isinstance(exc.data, dict) else None
    return f"GitHub answered {exc.status}" + (f": {message}" if message else "")


def hooks_command(argv: Sequence[str]) -> int:
    """``python -m springhead_github hooks register|unregister|redeliver``: one line, an exit status
    (0 done, 1 GitHub refused or could not be reached, 2 bad configuration)."""
    parser = argparse.ArgumentParser(
        prog="python -m springhead_github hooks",
        description="Register or remove the GitHub webhook described by the GITHUB_* "
        "environment variables, or have GitHub redeliver what it failed to deliver to it.",
    )
    parser.add_argument("action", choices=("register", "unregister", "redeliver"))
    action = parser.parse_args(list(argv)).action
    try:
        settings = load_settings(HookSettings)
        if action == "redeliver":
            line = _describe_redeliveries(_redeliver_blocking(settings), settings)
        else:
            run = _register_blocking if action == "register" else _unregister_blocking
            line = _describe(run(settings), settings)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return EXIT_CONFIG
    except GithubException as exc:
        reason = _failure(exc)
    except HookError as exc:
        reason = str(exc)
    except OSError as exc:  # requests' connection errors are OSErrors
        reason = f"cannot reach the GitHub API: {exc}"
    else:
        sys.stdout.write(line + "\n")
        return EXIT_OK
    sys.stderr.write(f"hooks {action} failed for {settings.owner_and_repository}: {reason}\n")
    return EXIT_FAILED
