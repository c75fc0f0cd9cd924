"""GitHubSource settings: the webhook settings plus the GitHubSource spec, from the environment.

:class:`GitHubSettings` is what the receiving process needs (``python -m springhead_github``).
:class:`HookSettings` adds what registering the webhook through the GitHub API needs
(``python -m springhead_github hooks register|unregister``): credentials and the public URL; it
does not need a sink.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode
from springhead.config import (
    ConfigError,
    IsoDuration,
    ProcessSettings,
    Secret,
    empty_as_unset,
    http_url,
)
from springhead.webhook import Authenticator, WebhookSettings

from springhead_github.signature import github_signature

__all__ = [
    "ALL_EVENTS",
    "DEFAULT_API_URL",
    "EVENT_NAME",
    "GitHubHookSettings",
    "GitHubSettings",
    "HookSettings",
]

#: The ``GITHUB_EVENT_TYPES`` entry that stands for every event (GitHub's own wildcard).
ALL_EVENTS = "*"

_OWNER_AND_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]{1,100})?$")
#: What a GitHub event name looks like (``push``, ``pull_request_review_comment``).
EVENT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
#: GitHub's REST API (github.com).
DEFAULT_API_URL = "https://api.github.com"


def _event_types(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        items = [str(item) for item in value]
    elif isinstance(value, str):
        items = value.split(",")
    else:
        raise ValueError("expected a comma-separated list of GitHub event names")
    names: list[str] = []
    for item in (part.strip() for part in items):
        if not item:
            continue
        if item != ALL_EVENTS and not EVENT_NAME.match(item):
            raise ValueError(
                f"{item!r} is not a GitHub event name (lowercase, e.g. push, pull_request) or *"
            )
        if item not in names:
            names.append(item)
    if not names:
        raise ValueError("at least one event type is required, e.g. push,pull_request")
    return tuple(names)


def _owner_and_repository(value: str) -> str:
    value = value.strip()
    if not _OWNER_AND_REPOSITORY.match(value) or value.endswith(("/.", "/..")):
        raise ValueError(f"expected owner/repository or an organization name, got {value!r}")
    return value


def _base_url(value: str | None) -> str | None:
    checked = http_url(value or None)
    return checked.rstrip("/") if checked is not None else None


def _api_url(value: str) -> str:
    return _base_url(value) or DEFAULT_API_URL


def _web_url_for(api_url: str) -> str:
    """The web address matching an API address: github.com for api.github.com, the host for
    GitHub Enterprise Server (``https://ghe.example.com/api/v3``), ``x.ghe.com`` for
    ``api.x.ghe.com``."""
    parts = urlsplit(api_url)
    host = parts.netloc
    path = parts.path.rstrip("/")
    if host == "api.github.com":
        return "https://github.com"
    if path.endswith("/api/v3"):
        return f"{parts.scheme}://{host}{path.removesuffix('/api/v3')}"
    if host.startswith("api."):
        return f"{parts.scheme}://{host.removeprefix('api.')}"
    return f"{parts.scheme}://{host}"


class GitHubHookSettings(ProcessSettings):
    """The webhook one GitHubSource describes (Knative ``sources.knative.dev/v1alpha1``
    GitHubSource spec): which repository or organization, which events, the secret, and the
    GitHub instance. Both the receiving process and the ``hooks`` command read these."""

    owner_and_repository: Annotated[str, AfterValidator(_owner_and_repository)] = Field(
        validation_alias="GITHUB_OWNER_AND_REPOSITORY"
    )
    """``ownerAndRepository``: ``owner/repo`` for a repository hook, ``org`` for an
    organization hook; required."""

    event_types: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_event_types)] = Field(
        validation_alias="GITHUB_EVENT_TYPES"
    )
    """``eventTypes``: GitHub event names, comma-separated (``push,pull_request``); at least one;
    ``*`` for every event. Deliveries of other events get 404; ``ping`` is always forwarded."""

    webhook_secret: Secret = Field(default=None, validation_alias="GITHUB_WEBHOOK_SECRET")
    """``secretToken``: the webhook secret; every delivery must carry a valid
    ``X-Hub-Signature-256`` (HMAC-SHA256 of the raw body) made with it. Or
    ``GITHUB_WEBHOOK_SECRET_FILE``."""

    insecure_no_secret: bool = Field(default=False, validation_alias="GITHUB_INSECURE_NO_SECRET")
    """Run without a webhook secret: deliveries are not authenticated. Only for experiments;
    without it a missing secret stops start-up."""

    allow_sha1: bool = Field(default=False, validation_alias="GITHUB_ALLOW_SHA1")
    """Also accept the legacy ``X-Hub-Signature`` (HMAC-SHA1) when a delivery has no
    ``X-Hub-Signature-256`` (old GitHub Enterprise Server). Off by default."""

    api_url: Annotated[str, AfterValidator(_api_url)] = Field(
        default=DEFAULT_API_URL, validation_alias="GITHUB_API_URL"
    )
    """``githubAPIURL``: the REST API base; for GitHub Enterprise Server
    ``https://<host>/api/v3``."""

    web_url: Annotated[str | None, AfterValidator(_base_url)] = Field(
        default=None, validation_alias="GITHUB_WEB_URL"
    )
    """Web address events name as their ``source`` (``<web URL>/<ownerAndRepository>``).
    Unset: derived from ``GITHUB_API_URL`` (``https://github.com`` for api.github.com, the
    Enterprise host for ``https://<host>/api/v3``)."""

    @model_validator(mode="after")
    def _check_secret(self) -> Self:
        if self.webhook_secret is None and not self.insecure_no_secret:
            raise ConfigError(
                "GITHUB_WEBHOOK_SECRET",
                "required (or GITHUB_WEBHOOK_SECRET_FILE): deliveries must be signed; set "
                "GITHUB_INSECURE_NO_SECRET=true to accept unsigned deliveries",
            )
        return self

    @property
    def secret(self) -> str | None:
        """The webhook secret (from the value or the file); None only when insecure."""
        return self.webhook_secret.get_secret_value() if self.webhook_secret else None

    @property
    def is_organization(self) -> bool:
        """Whether the hook is an organization's (``ownerAndRepository`` has no ``/``)."""
        return "/" not in self.owner_and_repository

    @property
    def event_source(self) -> str:
        """The ``source`` of every event: ``<web URL>/<ownerAndRepository>``."""
        base = self.web_url or _web_url_for(self.api_url)
        return f"{base}/{self.owner_and_repository}"

    def accepts(self, event: str) -> bool:
        """Whether deliveries of ``event`` are forwarded (configured, ``*``, or ``ping``)."""
        return event == "ping" or ALL_EVENTS in self.event_types or event in self.event_types


class GitHubSettings(WebhookSettings, GitHubHookSettings):
    """Settings of the receiving process: the hook's settings (``GITHUB_*``), the shared webhook
    receiver's (``WEBHOOK_*``) and the sink's."""

    def authenticators(self) -> list[Authenticator]:
        """Bearer/basic from the webhook settings, plus GitHub's signature unless insecure."""
        checks = super().authenticators()
        if self.secret is not None:
            checks.append(github_signature(self.secret, allow_sha1=self.allow_sha1))
        return checks


class HookSettings(GitHubHookSettings):
    """Settings of ``python -m springhead_github hooks``: the hook's settings plus the
    credentials and the public URL the webhook is registered with; no sink (the receiving
    process delivers)."""

    webhook_url: Annotated[
        str | None, BeforeValidator(empty_as_unset), AfterValidator(http_url)
    ] = Field(default=None, validation_alias="GITHUB_WEBHOOK_URL")
    """Public URL GitHub delivers to (the receiver's Service/Ingress URL and
    ``WEBHOOK_PATH``); required for the hooks command."""

    token: Secret = Field(default=None, validation_alias="GITHUB_TOKEN")
    """``accessToken``: a personal access token (or any token) allowed to manage the hooks
    (``admin:repo_hook`` / ``admin:org_hook``, or fine-grained "Webhooks: write"). Or
    ``GITHUB_TOKEN_FILE``."""

    app_id: Annotated[str | None, BeforeValidator(empty_as_unset)] = Field(
        default=None, min_length=1, validation_alias="GITHUB_APP_ID"
    )
    """GitHub App ID (or client ID), the JWT's issuer; with the private key and the
    installation ID, used instead of a token."""

    app_private_key: Secret = Field(default=None, validation_alias="GITHUB_APP_PRIVATE_KEY")
    """The GitHub App's private key (PEM). Or ``GITHUB_APP_PRIVATE_KEY_FILE``."""

    app_installation_id: Annotated[int | None, BeforeValidator(empty_as_unset)] = Field(
        default=None, ge=1, validation_alias="GITHUB_APP_INSTALLATION_ID"
    )
    """Installation of the GitHub App on the owner; its installation token manages the hook."""

    hook_active: bool = Field(default=True, validation_alias="GITHUB_HOOK_ACTIVE")
    """The hook's ``active``: whether GitHub sends deliveries."""

    hook_insecure_ssl: bool = Field(default=False, validation_alias="GITHUB_HOOK_INSECURE_SSL")
    """The hook's ``insecure_ssl``: let GitHub deliver to a URL whose TLS certificate it cannot
    verify. Off by default."""

    redeliver_window: IsoDuration = Field(
        default=timedelta(hours=24),
        gt=timedelta(0),
        le=timedelta(days=3),
        validation_alias="GITHUB_REDELIVER_WINDOW",
    )
    """How far back ``hooks redeliver`` looks for failed deliveries (ISO-8601; GitHub redelivers
    deliveries of the past 3 days only)."""

    @model_validator(mode="after")
    def _check_hook_settings(self) -> Self:
        if self.webhook_url is None:
            raise ConfigError(
                "GITHUB_WEBHOOK_URL", "required: the public URL GitHub delivers the events to"
            )
        app_parts = {
            "GITHUB_APP_ID": self.app_id,
            "GITHUB_APP_PRIVATE_KEY": self.private_key,
            "GITHUB_APP_INSTALLATION_ID": self.app_installation_id,
        }
        given = [name for name, value in app_parts.items() if value is not None]
        if self.access_token is not None and given:
            raise ConfigError(
                given[0], "use either GITHUB_TOKEN or a GitHub App (GITHUB_APP_*), not both"
            )
        if self.access_token is None and not given:
            raise ConfigError(
                "GITHUB_TOKEN",
                "required (or GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY and "
                "GITHUB_APP_INSTALLATION_ID) to manage the webhook",
            )
        missing = [name for name, value in app_parts.items() if value is None]
        if self.access_token is None and missing:
            raise ConfigError(missing[0], "required with the other GITHUB_APP_* settings")
        if self.private_key is not None and "PRIVATE KEY-----" not in self.private_key:
            variable = self.variable_of("app_private_key")
            raise ConfigError(variable, "not a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
        return self

    @property
    def access_token(self) -> str | None:
        """The token (from the value or the file), None when a GitHub App is used."""
        return self.token.get_secret_value() if self.token else None

    @property
    def private_key(self) -> str | None:
        """The GitHub App's private key (PEM), None when a token is used."""
        return self.app_private_key.get_secret_value() if self.app_private_key else None

    @property
    def hook_url(self) -> str:
        """The public URL the hook delivers to (validated as present)."""
        assert self.webhook_url is not None  # noqa: S101 - the validator requires it
        return self.webhook_url
