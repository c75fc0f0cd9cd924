"""HTTP source settings errors, one clear line each."""

from __future__ import annotations

import pytest
from springhead.config import ConfigError, load_settings
from springhead_http.config import HttpSettings

BASE = {"K_SINK": "http://sink/"}


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"HTTP_HEADER_EXTENSIONS": "Authorization=auth"}, "HTTP_HEADER_EXTENSIONS", "credentials"),
        ({"HTTP_HEADER_EXTENSIONS": "cookie=c"}, "HTTP_HEADER_EXTENSIONS", "credentials"),
        ({"HTTP_HEADER_EXTENSIONS": "X-Tenant"}, "HTTP_HEADER_EXTENSIONS", "Header=extension"),
        ({"HTTP_HEADER_EXTENSIONS": "X-Tenant=Tenant-Id"}, "HTTP_HEADER_EXTENSIONS", "lowercase"),
        ({"WEBHOOK_PATH": "hook"}, "WEBHOOK_PATH", "start with '/'"),
        ({"WEBHOOK_PATH": "/metrics"}, "WEBHOOK_PATH", "served by the runtime"),
        ({"WEBHOOK_MAX_BODY_BYTES": "0"}, "WEBHOOK_MAX_BODY_BYTES", "greater than or equal"),
        ({"WEBHOOK_RATE_LIMIT": "-1"}, "WEBHOOK_RATE_LIMIT", "greater than"),
        ({"WEBHOOK_BASIC_USER": "u"}, "WEBHOOK_BASIC_PASSWORD", "set together"),
        ({"WEBHOOK_BASIC_PASSWORD": "p"}, "WEBHOOK_BASIC_USER", "set together"),
        ({"HTTP_EVENT_TYPE": ""}, "HTTP_EVENT_TYPE", "at least 1"),
    ],
)
def test_bad_settings(env: dict[str, str], variable: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(HttpSettings, {**BASE, **env})
    assert caught.value.variable == variable
    assert reason in caught.value.reason


def test_header_extensions_parsed() -> None:
    settings = load_settings(
        HttpSettings, {**BASE, "HTTP_HEADER_EXTENSIONS": "X-Tenant=tenant, X-Region = region"}
    )
    assert settings.header_extensions == {"x-tenant": "tenant", "x-region": "region"}
