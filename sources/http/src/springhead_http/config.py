"""HTTP source settings: the webhook settings plus how plain requests become CloudEvents."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_settings import NoDecode
from springhead.config import Secret
from springhead.names import extension_name_problem
from springhead.webhook import Authenticator, WebhookSettings, hmac_signature

__all__ = ["HttpSettings"]

_NEVER_MAPPED = frozenset({"authorization", "proxy-authorization", "cookie"})


def _header_map(value: Any) -> dict[str, str]:
    if not value:
        return {}
    if not isinstance(value, str):
        raise ValueError("expected Header=extension pairs separated by commas")
    mapping: dict[str, str] = {}
    for pair in value.split(","):
        header, sep, extension = (part.strip() for part in pair.partition("="))
        if not sep or not header or not extension:
            raise ValueError(f"{pair.strip()!r} is not Header=extension")
        if header.lower() in _NEVER_MAPPED:
            raise ValueError(f"{header} carries credentials and is never mapped to an extension")
        problem = extension_name_problem(extension)
        if problem is not None:
            raise ValueError(problem)
        mapping[header.lower()] = extension
    return mapping


class HttpSettings(WebhookSettings):
    """Settings of one HTTP source (``HTTP_*`` plus the shared ``WEBHOOK_*``)."""

    event_type: str = Field(
        default="dev.springhead.sources.http", min_length=1, validation_alias="HTTP_EVENT_TYPE"
    )
    """CloudEvents ``type`` of events made from plain (non-CloudEvent) requests."""

    event_source: str = Field(default="", validation_alias="HTTP_EVENT_SOURCE")
    """CloudEvents ``source`` of those events.

    Empty: ``/apis/v1/namespaces/<ns>/httpsources/<name>``."""

    idempotency_header: str = Field(
        default="Idempotency-Key", min_length=1, validation_alias="HTTP_IDEMPOTENCY_HEADER"
    )
    """A request carrying this header gets it as event ``id``, so a retried request keeps its id."""

    header_extensions: Annotated[dict[str, str], NoDecode, BeforeValidator(_header_map)] = Field(
        default_factory=dict, validation_alias="HTTP_HEADER_EXTENSIONS"
    )
    """Request headers copied to extensions: ``X-Tenant=tenant,X-Request-Id=requestid``.
    Authorization, Proxy-Authorization and Cookie are refused."""

    hmac_secret: Secret = Field(default=None, validation_alias="HTTP_HMAC_SECRET")
    """Require an HMAC-SHA256 signature of the raw body (``sha256=<hex>``) in the
    ``HTTP_HMAC_HEADER`` header."""

    hmac_header: str = Field(
        default="X-Signature-256", min_length=1, validation_alias="HTTP_HMAC_HEADER"
    )
    """Header carrying the HMAC signature."""

    @property
    def plain_source(self) -> str:
        """The ``source`` of events made from plain requests."""
        return self.event_source or f"/apis/v1/namespaces/{self.namespace}/httpsources/{self.name}"

    def authenticators(self) -> list[Authenticator]:
        """Bearer/basic from the webhook settings, plus the HMAC signature when configured."""
        checks = super().authenticators()
        if self.hmac_secret:
            checks.append(hmac_signature(self.hmac_secret.get_secret_value(), self.hmac_header))
        return checks
