"""GitHubSource settings: defaults, secrets from values or files, one clear error per bad value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from springhead.config import ConfigError, load_settings, source_variables_in
from springhead_github.config import GitHubSettings, HookSettings

BASE = {
    "K_SINK": "http://sink.example/",
    "GITHUB_OWNER_AND_REPOSITORY": "octo-org/octo-repo",
    "GITHUB_EVENT_TYPES": "push",
    "GITHUB_WEBHOOK_SECRET": "s3cret",
}
HOOK_BASE = BASE | {"GITHUB_WEBHOOK_URL": "https://hooks.example.com/github", "GITHUB_TOKEN": "t"}
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n"


def test_defaults() -> None:
    settings = load_settings(GitHubSettings, BASE)
    assert settings.event_types == ("push",)
    assert settings.secret == "s3cret"
    assert settings.allow_sha1 is False
    assert settings.api_url == "https://api.github.com"
    assert settings.event_source == "https://github.com/octo-org/octo-repo"
    assert settings.is_organization is False
    assert settings.webhook_path == "/"
    assert "s3cret" not in repr(settings)


def test_event_types_list() -> None:
    settings = load_settings(
        GitHubSettings, BASE | {"GITHUB_EVENT_TYPES": " push, pull_request,,push ,issues"}
    )
    assert settings.event_types == ("push", "pull_request", "issues")
    assert settings.accepts("issues")
    assert settings.accepts("ping")
    assert not settings.accepts("release")


def test_an_empty_api_url_means_github_com() -> None:
    settings = load_settings(GitHubSettings, BASE | {"GITHUB_API_URL": "", "GITHUB_WEB_URL": ""})
    assert settings.api_url == "https://api.github.com"
    assert settings.event_source == "https://github.com/octo-org/octo-repo"


def test_organization() -> None:
    settings = load_settings(GitHubSettings, BASE | {"GITHUB_OWNER_AND_REPOSITORY": "octo-org"})
    assert settings.is_organization
    assert settings.event_source == "https://github.com/octo-org"


def test_secret_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    env = BASE | {"GITHUB_WEBHOOK_SECRET": "", "GITHUB_WEBHOOK_SECRET_FILE": str(secret)}
    assert load_settings(GitHubSettings, env).secret == "from-file"


def test_insecure_without_a_secret() -> None:
    env = BASE | {"GITHUB_WEBHOOK_SECRET": "", "GITHUB_INSECURE_NO_SECRET": "true"}
    assert load_settings(GitHubSettings, env).secret is None


def _error(cls: type[GitHubSettings], env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(cls, env)
    return caught.value


@pytest.mark.parametrize(
    ("change", "variable", "reason"),
    [
        ({"GITHUB_OWNER_AND_REPOSITORY": None}, "GITHUB_OWNER_AND_REPOSITORY", "required"),
        ({"GITHUB_OWNER_AND_REPOSITORY": "a/b/c"}, "GITHUB_OWNER_AND_REPOSITORY", "owner/repo"),
        ({"GITHUB_OWNER_AND_REPOSITORY": "-x"}, "GITHUB_OWNER_AND_REPOSITORY", "owner/repo"),
        ({"GITHUB_OWNER_AND_REPOSITORY": "o/.."}, "GITHUB_OWNER_AND_REPOSITORY", "owner/repo"),
        ({"GITHUB_EVENT_TYPES": None}, "GITHUB_EVENT_TYPES", "required"),
        ({"GITHUB_EVENT_TYPES": ""}, "GITHUB_EVENT_TYPES", "at least one"),
        ({"GITHUB_EVENT_TYPES": " , "}, "GITHUB_EVENT_TYPES", "at least one"),
        ({"GITHUB_EVENT_TYPES": "push,Pull Request"}, "GITHUB_EVENT_TYPES", "event name"),
        ({"GITHUB_WEBHOOK_SECRET": None}, "GITHUB_WEBHOOK_SECRET", "required"),
        ({"GITHUB_WEBHOOK_SECRET": ""}, "GITHUB_WEBHOOK_SECRET", "GITHUB_INSECURE_NO_SECRET"),
        (
            {"GITHUB_WEBHOOK_SECRET_FILE": "/etc/hostname"},
            "GITHUB_WEBHOOK_SECRET_FILE",
            "cannot both be set",
        ),
        (
            {"GITHUB_WEBHOOK_SECRET": "", "GITHUB_WEBHOOK_SECRET_FILE": "/nonexistent/secret"},
            "GITHUB_WEBHOOK_SECRET_FILE",
            "cannot read",
        ),
        ({"GITHUB_ALLOW_SHA1": "maybe"}, "GITHUB_ALLOW_SHA1", "bool"),
        ({"GITHUB_INSECURE_NO_SECRET": "sure"}, "GITHUB_INSECURE_NO_SECRET", "bool"),
        ({"GITHUB_API_URL": "api.github.com"}, "GITHUB_API_URL", "absolute"),
        ({"GITHUB_WEB_URL": "ftp://github.com"}, "GITHUB_WEB_URL", "absolute"),
        ({"WEBHOOK_PATH": "/healthz"}, "WEBHOOK_PATH", "runtime"),
        ({"K_SINK": None}, "K_SINK", "required"),
    ],
)
def test_config_errors(change: dict[str, str | None], variable: str, reason: str) -> None:
    env = {k: v for k, v in (BASE | change).items() if v is not None}
    error = _error(GitHubSettings, env)
    assert error.variable == variable
    assert reason in error.reason
    assert "\n" not in str(error)


def test_empty_secret_file_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "secret"
    empty.write_text("\n")
    env = BASE | {"GITHUB_WEBHOOK_SECRET": "", "GITHUB_WEBHOOK_SECRET_FILE": str(empty)}
    error = _error(GitHubSettings, env)
    assert (error.variable, "empty" in error.reason) == ("GITHUB_WEBHOOK_SECRET_FILE", True)


# --- the hooks command's settings -------------------------------------------------------------


def test_hook_settings_need_no_sink() -> None:
    env = {k: v for k, v in HOOK_BASE.items() if k != "K_SINK"}
    settings = load_settings(HookSettings, env)
    assert settings.hook_url == "https://hooks.example.com/github"
    assert settings.access_token == "t"
    assert settings.private_key is None
    assert settings.hook_active is True
    assert settings.hook_insecure_ssl is False
    assert str(settings.token) == "**********"


def test_hook_settings_keep_the_url_as_given() -> None:
    settings = load_settings(HookSettings, HOOK_BASE | {"GITHUB_WEBHOOK_URL": "https://x.example/"})
    assert settings.hook_url == "https://x.example/"


def test_hook_settings_with_a_github_app(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    key.write_text(PEM)
    env = HOOK_BASE | {
        "GITHUB_TOKEN": "",
        "GITHUB_APP_ID": "123",
        "GITHUB_APP_PRIVATE_KEY_FILE": str(key),
        "GITHUB_APP_INSTALLATION_ID": "456",
    }
    settings = load_settings(HookSettings, env)
    assert (settings.app_id, settings.app_installation_id) == ("123", 456)
    assert settings.private_key == PEM.rstrip("\n")
    assert settings.access_token is None


APP = {"GITHUB_APP_ID": "1", "GITHUB_APP_PRIVATE_KEY": PEM, "GITHUB_APP_INSTALLATION_ID": "2"}


@pytest.mark.parametrize(
    ("change", "variable", "reason"),
    [
        ({"GITHUB_WEBHOOK_URL": None}, "GITHUB_WEBHOOK_URL", "required"),
        ({"GITHUB_WEBHOOK_URL": "/relative"}, "GITHUB_WEBHOOK_URL", "absolute"),
        ({"GITHUB_TOKEN": None}, "GITHUB_TOKEN", "required"),
        ({"GITHUB_TOKEN": ""}, "GITHUB_TOKEN", "required"),
        ({"GITHUB_TOKEN_FILE": "/etc/hostname"}, "GITHUB_TOKEN_FILE", "cannot both be set"),
        (APP, "GITHUB_APP_ID", "not both"),
        (APP | {"GITHUB_TOKEN": "", "GITHUB_APP_ID": ""}, "GITHUB_APP_ID", "required with"),
        (
            APP | {"GITHUB_TOKEN": "", "GITHUB_APP_INSTALLATION_ID": ""},
            "GITHUB_APP_INSTALLATION_ID",
            "required with",
        ),
        (
            APP | {"GITHUB_TOKEN": "", "GITHUB_APP_INSTALLATION_ID": "x"},
            "GITHUB_APP_INSTALLATION_ID",
            "integer",
        ),
        (
            APP | {"GITHUB_TOKEN": "", "GITHUB_APP_PRIVATE_KEY": "not a key"},
            "GITHUB_APP_PRIVATE_KEY",
            "PEM",
        ),
        (
            APP | {"GITHUB_TOKEN": "", "GITHUB_APP_PRIVATE_KEY": ""},
            "GITHUB_APP_PRIVATE_KEY",
            "required with",
        ),
        ({"GITHUB_HOOK_ACTIVE": "perhaps"}, "GITHUB_HOOK_ACTIVE", "bool"),
    ],
)
def test_hook_config_errors(change: dict[str, str | None], variable: str, reason: str) -> None:
    env = {k: v for k, v in (HOOK_BASE | change).items() if v is not None}
    error = _error(HookSettings, env)
    assert error.variable == variable
    assert reason in error.reason


def test_a_bad_configuration_stops_the_process_with_one_line() -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "K_SINK": "http://127.0.0.1:9/",
        "GITHUB_OWNER_AND_REPOSITORY": "o/r",
        "GITHUB_EVENT_TYPES": "push",
    }
    result = subprocess.run(
        [sys.executable, "-m", "springhead_github"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "configuration error: GITHUB_WEBHOOK_SECRET: required (or GITHUB_WEBHOOK_SECRET_FILE): "
        "deliveries must be signed; set GITHUB_INSECURE_NO_SECRET=true to accept unsigned "
        "deliveries"
    ]


def test_unknown_arguments_are_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "springhead_github", "serve"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "usage" in result.stderr


def test_the_hooks_command_reads_no_sink_or_delivery_settings() -> None:
    # Sending nothing, it does not mention a sink; the process host warns when one is set.
    variables = {str(field.validation_alias): "" for field in HookSettings.model_fields.values()}
    assert source_variables_in(variables) == []
