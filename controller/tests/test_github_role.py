"""The controller's github role without a cluster: it stays out of a controller that does not
enable it (PyGithub is an extra), and the pure parts of the GitHubSource reconciler (the
receiver's URL, name and objects; the hook's settings from a spec)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from springhead_controller.containersources import child_name
from springhead_controller.githubsources import (
    WEBHOOK_URL_ANNOTATION,
    desired_deployment,
    desired_service,
    hook_settings,
    receiver_name,
    webhook_url,
)
from springhead_controller.spec import InvalidSpec


def test_a_controller_without_the_github_role_never_loads_pygithub() -> None:
    code = (
        "import sys, springhead_controller.__main__, springhead_controller.controller, "
        "springhead_controller.crds; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'github' "
        "or m in ('springhead_github.hooks', 'springhead_controller.githubsources')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def source(name: str = "src", namespace: str = "ns", **spec: Any) -> dict[str, Any]:
    annotations = spec.pop("annotations", {})
    return {
        "apiVersion": "sources.knative.dev/v1alpha1",
        "kind": "GitHubSource",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": "u-1",
            "annotations": annotations,
        },
        "spec": {
            "ownerAndRepository": "octo-org/octo-repo",
            "eventTypes": ["push"],
            "accessToken": {"secretKeyRef": {"name": "gh", "key": "token"}},
            "secretToken": {"secretKeyRef": {"name": "gh", "key": "secret"}},
            **spec,
        },
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({}, "http://src-github.ns.svc.example.org/"),
        ({"secure": True}, "https://src-github.ns.svc.example.org/"),
        ({"secure": False}, "http://src-github.ns.svc.example.org/"),
        ({"annotations": {WEBHOOK_URL_ANNOTATION: "https://hooks.example.com/a"}},
         "https://hooks.example.com/a"),
        ({"annotations": {WEBHOOK_URL_ANNOTATION: "https://hooks.example.com/a"},
          "secure": False}, "http://hooks.example.com/a"),
    ],
)  # fmt: skip
def test_webhook_url(spec: dict[str, Any], expected: str) -> None:
    assert webhook_url(source(**spec), cluster_domain="example.org") == expected


def test_receiver_names_are_shortened_as_knative_names_children() -> None:
    assert receiver_name("src") == "src-github"
    long = "a" * 60
    assert receiver_name(long) == child_name(long, "-github")
    assert len(receiver_name(long)) == 63


def test_the_receiver_gets_k_ca_certs_only_with_a_sink_that_has_them() -> None:
    def env_of(ca_certs: str | None) -> dict[str, Any]:
        deployment = desired_deployment(
            source(), image="img", sink="https://sink.example/", ca_certs=ca_certs, secret="s"
        )
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}

    assert "K_CA_CERTS" not in env_of(None)
    assert env_of("-----BEGIN CERTIFICATE-----")["K_CA_CERTS"] == "-----BEGIN CERTIFICATE-----"
    assert env_of(None)["GITHUB_API_URL"] == "https://api.github.com"
    assert env_of(None)["K_CE_OVERRIDES"] == ""


def test_a_new_secret_changes_the_pod_template_but_never_shows_in_it() -> None:
    def template(secret: str) -> dict[str, Any]:
        deployment = desired_deployment(
            source(), image="img", sink="http://sink/", ca_certs=None, secret=secret
        )
        result: dict[str, Any] = deployment["spec"]["template"]
        return result

    assert template("s3cret-one") != template("s3cret-two")
    assert template("s3cret-one") == template("s3cret-one")
    assert "s3cret" not in str(template("s3cret-one"))


def test_the_service_selects_the_receivers_pods() -> None:
    deployment = desired_deployment(
        source(), image="img", sink="http://sink/", ca_certs=None, secret="s"
    )
    service = desired_service(source())
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["metadata"]["ownerReferences"] == deployment["metadata"]["ownerReferences"]


def test_hook_settings_come_from_the_spec() -> None:
    settings = hook_settings(
        source(eventTypes=["push", "issues"], githubAPIURL="https://ghe.example.com/api/v3/"),
        url="https://hooks.example.com/",
        access_token="t",
        secret="s",
    )
    assert settings.owner_and_repository == "octo-org/octo-repo"
    assert settings.event_types == ("push", "issues")
    assert settings.api_url == "https://ghe.example.com/api/v3"
    assert settings.event_source == "https://ghe.example.com/octo-org/octo-repo"
    assert (settings.access_token, settings.secret) == ("t", "s")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"ownerAndRepository": ""}, "spec.ownerAndRepository: "),
        ({"ownerAndRepository": "a/b/c"}, "spec.ownerAndRepository: expected owner/repository"),
        ({"eventTypes": []}, "spec.eventTypes: "),
        ({"githubAPIURL": "not a url"}, "spec.githubAPIURL: must be an absolute"),
    ],
)
def test_bad_specs_name_the_field(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec) as refused:
        hook_settings(source(**spec), url="https://h.example/", access_token="t", secret="s")
    assert refused.value.reason == "InvalidSpec"
    assert refused.value.message.startswith(message)
