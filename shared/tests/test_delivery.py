"""The delivery policy's arithmetic: what retries, how long to wait, what a dead letter carries."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from springhead.config import BackoffPolicy, SourceSettings, load_settings
from springhead.delivery import (
    DeliveryPolicy,
    backoff_delay,
    dead_letter_extensions,
    is_retryable,
    retry_after_delay,
)


@pytest.mark.parametrize("status", [None, 404, 408, 409, 429, 500, 502, 503, 504, 599])
def test_retried(status: int | None) -> None:
    assert is_retryable(status)


@pytest.mark.parametrize(
    "status", [200, 202, 301, 302, 307, 400, 401, 403, 405, 410, 413, 415, 422, 499]
)
def test_not_retried(status: int) -> None:
    assert not is_retryable(status)


def test_exponential_backoff_doubles() -> None:
    policy = DeliveryPolicy(backoff_policy=BackoffPolicy.EXPONENTIAL, backoff_delay=0.2)
    assert [backoff_delay(policy, n) for n in (1, 2, 3, 4)] == pytest.approx([0.4, 0.8, 1.6, 3.2])


def test_linear_backoff_grows_by_the_delay() -> None:
    policy = DeliveryPolicy(backoff_policy=BackoffPolicy.LINEAR, backoff_delay=0.5)
    assert [backoff_delay(policy, n) for n in (1, 2, 3)] == pytest.approx([0.5, 1.0, 1.5])


def test_backoff_counts_retries_from_one() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        backoff_delay(DeliveryPolicy(), 0)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_seconds_on_429_and_503(status: int) -> None:
    assert retry_after_delay(DeliveryPolicy(), status, {"Retry-After": "7"}) == 7.0


def test_retry_after_ignored_on_other_statuses() -> None:
    assert retry_after_delay(DeliveryPolicy(), 500, {"Retry-After": "7"}) is None


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    headers = {"retry-after": "Sun, 22 Nov 2026 10:00:30 GMT"}
    assert retry_after_delay(DeliveryPolicy(), 503, headers, now=now) == 30.0


def test_retry_after_in_the_past_means_now() -> None:
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    headers = {"Retry-After": "Sun, 22 Nov 2026 09:00:00 GMT"}
    assert retry_after_delay(DeliveryPolicy(), 429, headers, now=now) == 0.0


def test_retry_after_capped_by_retry_after_max() -> None:
    policy = DeliveryPolicy(retry_after_max=2.5)
    assert retry_after_delay(policy, 429, {"Retry-After": "3600"}) == 2.5


@pytest.mark.parametrize("value", ["soon", "", "-5", "1.5"])
def test_unreadable_retry_after_falls_back_to_backoff(value: str) -> None:
    assert retry_after_delay(DeliveryPolicy(), 429, {"Retry-After": value}) is None


def test_dead_letter_extensions_carry_destination_code_and_first_kib() -> None:
    body = bytes(range(256)) * 5
    extensions = dead_letter_extensions("http://sink/", 500, body)
    assert extensions["knativeerrordest"] == "http://sink/"
    assert extensions["knativeerrorcode"] == "500"
    assert base64.b64decode(extensions["knativeerrordata"]) == body[:1024]


def test_dead_letter_extensions_without_response() -> None:
    assert dead_letter_extensions("http://sink/", None, b"") == {"knativeerrordest": "http://sink/"}


def test_retry_after_http_date_without_a_zone_is_utc() -> None:
    # RFC 5322's "-0000" means a time in UTC from a source that does not know its zone; Python
    # parses it as a naive datetime, which must not be compared with an aware one as it is.
    now = datetime(2026, 11, 22, 10, 0, 0, tzinfo=UTC)
    headers = {"Retry-After": "Sun, 22 Nov 2026 10:00:30 -0000"}
    assert retry_after_delay(DeliveryPolicy(), 503, headers, now=now) == 30.0


def test_retry_after_http_date_against_the_real_clock() -> None:
    # without ``now``, the delay counts from the current time: a date in the past is due at
    # once, one centuries ahead is that far away
    past = {"Retry-After": "Sun, 22 Nov 1998 10:00:30 GMT"}
    future = {"Retry-After": "Fri, 22 Nov 2999 10:00:30 GMT"}
    assert retry_after_delay(DeliveryPolicy(), 503, past) == 0.0
    assert (retry_after_delay(DeliveryPolicy(), 503, future) or 0.0) > 900 * 365 * 86400


def test_the_defaults_are_knatives_for_sources() -> None:
    assert DeliveryPolicy() == DeliveryPolicy(
        retry=5,
        backoff_policy=BackoffPolicy.EXPONENTIAL,
        backoff_delay=0.2,
        timeout=None,
        retry_after_max=None,
        dead_letter_sink=None,
    )
    settings = load_settings(SourceSettings, {"K_SINK": "http://sink/"})
    assert DeliveryPolicy.from_settings(settings) == DeliveryPolicy()


def test_from_settings_maps_every_delivery_variable() -> None:
    env = {
        "K_SINK": "http://sink/",
        "SPRINGHEAD_DELIVERY_RETRY": "3",
        "SPRINGHEAD_DELIVERY_BACKOFF_POLICY": "linear",
        "SPRINGHEAD_DELIVERY_BACKOFF_DELAY": "PT1.5S",
        "SPRINGHEAD_DELIVERY_TIMEOUT": "PT4S",
        "SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX": "PT1M",
        "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": "http://dead/",
    }
    assert DeliveryPolicy.from_settings(load_settings(SourceSettings, env)) == DeliveryPolicy(
        retry=3,
        backoff_policy=BackoffPolicy.LINEAR,
        backoff_delay=1.5,
        timeout=4.0,
        retry_after_max=60.0,
        dead_letter_sink="http://dead/",
    )
    # K_SINK_TIMEOUT stands in for an unset delivery timeout
    with_sink_timeout = {"K_SINK": "http://sink/", "K_SINK_TIMEOUT": "7"}
    assert (
        DeliveryPolicy.from_settings(load_settings(SourceSettings, with_sink_timeout)).timeout == 7
    )


def test_retry_after_is_found_among_other_headers() -> None:
    # headers that sort before and after it are not it
    headers = {"Content-Type": "text/plain", "X-Request-Id": "7", "Retry-After": "5"}
    assert retry_after_delay(DeliveryPolicy(), 503, headers) == 5.0
