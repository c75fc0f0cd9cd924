"""A GitHub delivery's CloudEvents ``subject`` and extensions, per event: a pure table.

The choices follow Knative's eventing-github receive adapter (``pkg/common/events.go``,
``SubjectAndExtensionsFromGitHubEvent``) for every event Knative knows, so a Trigger filtering on
Knative's attributes keeps working. Differences, each on purpose:

- An attribute whose payload field is absent or null is left out; Knative sends an empty string
  or ``0`` (its Go structs fill in zero values).
- ``owner`` falls back to ``organization.login`` when a payload has no repository (an
  organization hook's ``ping``, ``project_card`` ...), where Knative leaves it empty.
- Values are strings: ``true``/``false`` and decimal numbers are what Knative's integer and
  boolean extensions look like on the wire in binary mode, which is the default.
- Events Knative does not know (it answers 404 to them) get ``owner``, ``repository``,
  ``sender`` and ``action`` when present, and a subject naming the object the event is about
  (an alert number, a workflow run id ...); events unknown to this table get no subject.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EventAttributes", "MAPPED_EVENTS", "subject_and_extensions"]

#: Reads one attribute value from a payload; None when the payload does not have it.
Extract = Callable[[Mapping[str, Any]], str | None]


def _text(value: Any) -> str | None:
    """A scalar payload value as attribute text; None for null, objects, arrays and ""."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str) and value:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a "\ud800" escape cannot be sent
            return None
        return value
    return None


def _lookup(payload: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = payload
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _at(*path: str) -> Extract:
    """The value at ``path`` (object keys from the payload's top)."""
    return lambda payload: _text(_lookup(payload, path))


def _last_segment(*path: str) -> Extract:
    """What follows the last ``/`` of the URL at ``path`` (None when there is no ``/``)."""

    def extract(payload: Mapping[str, Any]) -> str | None:
        url = _text(_lookup(payload, path))
        if url is None or "/" not in url:
            return None
        return url.rpartition("/")[2] or None

    return extract


def _joined(path: tuple[str, ...], key: str) -> Extract:
    """``key`` of each object in the array at ``path``, joined with commas."""

    def extract(payload: Mapping[str, Any]) -> str | None:
        items = _lookup(payload, path)
        if not isinstance(items, list):
            return None
        texts = [_text(item.get(key)) for item in items if isinstance(item, Mapping)]
        return ",".join(text for text in texts if text) or None

    return extract


def _first(*extracts: Extract) -> Extract:
    """The first of ``extracts`` that finds a value."""

    def extract(payload: Mapping[str, Any]) -> str | None:
        return next((v for v in (e(payload) for e in extracts) if v is not None), None)

    return extract


_OWNER = ("owner", _first(_at("repository", "owner", "login"), _at("organization", "login")))
_REPOSITORY = ("repository", _at("repository", "name"))
_SENDER = ("sender", _at("sender", "login"))
_ACTION = ("action", _at("action"))
_INSTALLATION = ("installation", _at("installation", "id"))

_REPO = (_OWNER, _REPOSITORY, _SENDER)
_REPO_ACTION = (*_REPO, _ACTION)


@dataclass(frozen=True)
class EventAttributes:
    """How one GitHub event maps to CloudEvents attributes."""

    subject: Extract | None
    """Reads the ``subject``; None: events of this kind have none."""
    extensions: tuple[tuple[str, Extract], ...]
    """Extension name and how to read its value, in order."""


def _m(subject: Extract | None, *extensions: tuple[str, Extract]) -> EventAttributes:
    return EventAttributes(subject, extensions)


_INSTALLATION_EVENT = _m(_at("installation", "id"), _INSTALLATION, _SENDER, _ACTION)

#: Events Knative's receive adapter maps, with its subject and extensions.
_KNATIVE: dict[str, EventAttributes] = {
    "check_run": _m(_at("check_run", "id"), *_REPO_ACTION),
    "check_suite": _m(_at("check_suite", "id"), *_REPO_ACTION),
    "commit_comment": _m(_last_segment("comment", "html_url"), *_REPO_ACTION),
    "create": _m(_at("ref_type"), *_REPO, ("ref", _at("ref"))),
    "delete": _m(_at("ref_type"), *_REPO, ("ref", _at("ref"))),
    "deployment": _m(_at("deployment", "id"), *_REPO),
    "deployment_status": _m(_at("deployment", "id"), *_REPO),
    "fork": _m(_at("forkee", "id"), *_REPO),
    "gollum": _m(_joined(("pages",), "page_name"), *_REPO),
    "installation": _INSTALLATION_EVENT,
    "integration_installation": _INSTALLATION_EVENT,
    "installation_repositories": _INSTALLATION_EVENT,
    "integration_installation_repositories": _INSTALLATION_EVENT,
    "issue_comment": _m(_last_segment("comment", "html_url"), *_REPO_ACTION),
    "issues": _m(
        _at("issue", "number"),
        *_REPO_ACTION,
        ("label", _at("label", "name")),
        ("assignee", _at("assignee", "login")),
    ),
    "label": _m(_at("label", "name"), *_REPO_ACTION, ("label", _at("label", "name"))),
    "member": _m(_at("member", "id"), *_REPO_ACTION),
    "membership": _m(_at("member", "id"), _OWNER, ("scope", _at("scope")), _SENDER, _ACTION),
    "milestone": _m(_at("milestone", "number"), *_REPO_ACTION),
    "organization": _m(_at("action"), _OWNER, _SENDER, _ACTION),
    "org_block": _m(_at("action"), _OWNER, _SENDER, _ACTION),
    "page_build": _m(_at("id"), *_REPO),
    "ping": _m(_at("hook_id"), *_REPO),
    "project_card": _m(_at("action"), *_REPO_ACTION),
    "project_column": _m(_at("action"), *_REPO_ACTION),
    "project": _m(_at("action"), *_REPO_ACTION),
    "public": _m(_at("repository", "id"), *_REPO),
    "pull_request": _m(
        _at("pull_request", "number"),
        _OWNER,
        _REPOSITORY,
        _INSTALLATION,
        _SENDER,
        _ACTION,
        ("number", _at("number")),
        ("label", _at("label", "name")),
        ("assignee", _at("assignee", "login")),
    ),
    "pull_request_review_comment": _m(
        _at("comment", "id"), _OWNER, _REPOSITORY, _INSTALLATION, _SENDER, _ACTION
    ),
    "pull_request_review": _m(
        _at("review", "id"),
        _OWNER,
        _REPOSITORY,
        _INSTALLATION,
        _SENDER,
        _ACTION,
        ("review", _at("review", "state")),
    ),
    "push": _m(
        _last_segment("compare"),
        _OWNER,
        _REPOSITORY,
        _INSTALLATION,
        _SENDER,
        ("pusher", _at("pusher", "name")),
        ("ref", _at("ref")),
        ("created", _at("created")),
        ("deleted", _at("deleted")),
        ("forced", _at("forced")),
    ),
    "release": _m(
        _at("release", "tag_name"),
        _OWNER,
        _REPOSITORY,
        _INSTALLATION,
        _SENDER,
        _ACTION,
        ("release", _at("release", "name")),
    ),
    "repository": _m(_at("repository", "id"), *_REPO_ACTION),
    "repository_vulnerability_alert": _m(_at("alert", "id"), _ACTION),
    "security_advisory": _m(_at("security_advisory", "ghsa_id"), _ACTION),
    "status": _m(
        _at("sha"),
        *_REPO,
        ("state", _at("state")),
        ("name", _at("name")),
        ("context", _at("context")),
    ),
    "team": _m(_at("team", "id"), _SENDER, _ACTION),
    "team_add": _m(_at("repository", "id"), *_REPO),
    "watch": _m(_at("repository", "id"), *_REPO_ACTION),
}

#: Events Knative does not know: the common extensions and the object the event is about.
_BEYOND_KNATIVE: dict[str, EventAttributes] = {
    name: _m(subject, *_REPO_ACTION)
    for name, subject in {
        "branch_protection_rule": _at("rule", "id"),
        "code_scanning_alert": _at("alert", "number"),
        "dependabot_alert": _at("alert", "number"),
        "deploy_key": _at("key", "id"),
        "deployment_review": _at("workflow_run", "id"),
        "discussion": _at("discussion", "number"),
        "discussion_comment": _last_segment("comment", "html_url"),
        "marketplace_purchase": _at("marketplace_purchase", "account", "login"),
        "merge_group": _at("merge_group", "head_sha"),
        "meta": _at("hook_id"),
        "package": _at("package", "id"),
        "projects_v2_item": _at("projects_v2_item", "id"),
        "pull_request_review_thread": _at("pull_request", "number"),
        "registry_package": _at("registry_package", "id"),
        "repository_dispatch": _at("action"),
        "repository_import": _at("repository", "id"),
        "secret_scanning_alert": _at("alert", "number"),
        "sponsorship": _at("sponsorship", "sponsor", "login"),
        "star": _at("repository", "id"),
        "workflow_dispatch": _at("workflow"),
        "workflow_job": _at("workflow_job", "id"),
        "workflow_run": _at("workflow_run", "id"),
    }.items()
}

_OTHER = _m(None, *_REPO_ACTION)

_TABLE: dict[str, EventAttributes] = {**_BEYOND_KNATIVE, **_KNATIVE}
#: The events with a mapping of their own; any other event gets the repository's extensions.
MAPPED_EVENTS: frozenset[str] = frozenset(_TABLE)


def subject_and_extensions(
    event: str, payload: Mapping[str, Any]
) -> tuple[str | None, dict[str, str]]:
    """The ``subject`` (None: none) and the extensions of a delivery of ``event``.

    ``payload`` is the parsed JSON body; fields of unexpected types count as absent.
    """
    mapping = _TABLE.get(event, _OTHER)
    subject = mapping.subject(payload) if mapping.subject is not None else None
    extensions: dict[str, str] = {}
    for name, extract in mapping.extensions:
        value = extract(payload)
        if value is not None:
            extensions[name] = value
    return subject, extensions
