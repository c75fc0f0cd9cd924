"""The Knative delivery policy as pure functions: what is retried, how long to wait, what to add
to a dead-lettered event. :mod:`springhead.sender` does the I/O."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from springhead.config import BackoffPolicy, SourceSettings

__all__ = [
    "DeliveryPolicy",
    "backoff_delay",
    "dead_letter_extensions",
    "is_retryable",
    "retry_after_delay",
]

#: Status codes Knative retries besides every 5xx.
_RETRYABLE_4XX = frozenset({404, 408, 409, 429})
#: Status codes whose Retry-After header is honoured.
_RETRY_AFTER_STATUSES = frozenset({429, 503})
#: How much of a failed response body a dead-lettered event carries (knativeerrordata).
ERROR_DATA_LIMIT = 1024


@dataclass(frozen=True, kw_only=True)
class DeliveryPolicy:
    """Knative's delivery spec: ``retry``, ``backoffPolicy``, ``backoffDelay``, ``timeout``,
    ``retryAfterMax`` and ``deadLetterSink``; durations in seconds."""

    retry: int = 5
    """Attempts after the first one."""
    backoff_policy: BackoffPolicy = BackoffPolicy.EXPONENTIAL
    """Growth of the delay: linear (delay*n) or exponential (delay*2^n)."""
    backoff_delay: float = 0.2
    """Base delay in seconds."""
    timeout: float | None = None
    """Timeout of one attempt in seconds; None waits forever."""
    retry_after_max: float | None = None
    """Cap on a Retry-After delay in seconds; None means uncapped."""
    dead_letter_sink: str | None = None
    """Where an event goes once its retries are exhausted."""

    @classmethod
    def from_settings(cls, settings: SourceSettings) -> DeliveryPolicy:
        """The policy a source's settings describe."""
        return cls(
            retry=settings.retry,
            backoff_policy=settings.backoff_policy,
            backoff_delay=settings.backoff_delay.total_seconds(),
            timeout=settings.attempt_timeout,
            retry_after_max=(
                settings.retry_after_max.total_seconds()
                if settings.retry_after_max is not None
                else None
            ),
            dead_letter_sink=settings.dead_letter_sink,
        )


def is_retryable(status: int | None) -> bool:
    """Whether an attempt that ended with ``status`` is retried (None: no response at all)."""
    if status is None:
        return True
    return status >= 500 or status in _RETRYABLE_4XX


def backoff_delay(policy: DeliveryPolicy, retry_number: int) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    Linear waits delay*n; exponential waits delay*2^n, as Knative does.
    """
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    if policy.backoff_policy is BackoffPolicy.LINEAR:
        return float(policy.backoff_delay * retry_number)
    return float(policy.backoff_delay * (2**retry_number))


def retry_after_delay(
    policy: DeliveryPolicy,
    status: int | None,
    headers: Mapping[str, str],
    *,
    now: datetime | None = None,
) -> float | None:
    """Seconds a 429/503 response's Retry-After asks for, capped by ``retry_after_max``.

    Returns None when the status does not carry a Retry-After meaning or the header is absent or
    unreadable (then the backoff applies). Accepts delta-seconds and HTTP-dates.
    """
    if status not in _RETRY_AFTER_STATUSES:
        return None
    raw = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    if raw is None:
        return None
    raw = raw.strip()
    seconds: float
    if raw.isdigit():
        seconds = float(raw)
    else:
        try:
            when = parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
    if policy.retry_after_max is not None:
        seconds = min(seconds, policy.retry_after_max)
    return seconds


def dead_letter_extensions(
    destination: str, status: int | None, body: bytes | None
) -> dict[str, str]:
    """The ``knativeerror*`` extensions a dead-lettered event gains.

    ``knativeerrordest`` is the sink that failed, ``knativeerrorcode`` the last status (absent when
    there was no response), ``knativeerrordata`` the base64 of the first 1024 bytes of its body.
    """
    extensions = {"knativeerrordest": destination}
    if status is not None:
        extensions["knativeerrorcode"] = str(status)
    if body:
        extensions["knativeerrordata"] = base64.b64encode(body[:ERROR_DATA_LIMIT]).decode("ascii")
    return extensions
