"""GitHubSources on the real kube-apiserver, their webhooks on a fake of GitHub's REST API
(:class:`springhead_testing.github.FakeGitHub`, built from GitHub's documented API: github.com
cannot be reached from here), and the receiver started from the pod spec the controller wrote.

The controller runs with the github role (``CONTROLLER_ROLES=core,github``) and
``CONTROLLER_GITHUB_API_URL`` pointing at the fake, so knative/docs' sample (which names no
``githubAPIURL``) applies as it is. Knative Serving is not installed: its ``Service`` kind is a
minimal CRD whose Addressable status the test writes, as its controller would.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yaml
from springhead.kube import KubeApiError
from springhead.webhook import sign
from springhead_controller.controller import Controller
from springhead_controller.githubsources import FINALIZER, WEBHOOK_URL_ANNOTATION
from springhead_testing import RecordingSink, SourceProcess
from springhead_testing.github import FakeGitHub
from springhead_testing.kube import custom_resource_definition

if TYPE_CHECKING:
    from conftest import Cluster

DATA = Path(__file__).parent / "data" / "knative-docs"
GITHUB = "sources.knative.dev/v1alpha1"
IMAGE = "registry.example/springhead-github:test"
REPO = "repos/octo-org/octo-repo"
TOKEN = "ghp_good"
SECRET = "s3cret"


@pytest.fixture
async def github() -> AsyncIterator[FakeGitHub]:
    fake = await FakeGitHub().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def controller(
    start_controller: Callable[..., AbstractAsyncContextManager[Controller]],
    github: FakeGitHub,
) -> AsyncIterator[Controller]:
    async with start_controller(
        CONTROLLER_ROLES="core,github",
        CONTROLLER_GITHUB_IMAGE=IMAGE,
        CONTROLLER_GITHUB_API_URL=github.api_url,
    ) as started:
        yield started


pytestmark = pytest.mark.usefixtures("controller")


def documents(name: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((DATA / name).read_text()) if doc]


def secret(name: str = "githubsecret", **data: str) -> dict[str, Any]:
    values = {"accessToken": TOKEN, "secretToken": SECRET} | data
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name},
        "stringData": values,
    }


def github_source(name: str, sink: str = "http://sink.example/", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GITHUB,
        "kind": "GitHubSource",
        "metadata": {"name": name},
        "spec": {
            "ownerAndRepository": "octo-org/octo-repo",
            "eventTypes": ["push"],
            "accessToken": {"secretKeyRef": {"name": "githubsecret", "key": "accessToken"}},
            "secretToken": {"secretKeyRef": {"name": "githubsecret", "key": "secretToken"}},
            "sink": {"uri": sink},
            **spec,
        },
    }


def condition(obj: dict[str, Any] | None, kind: str) -> dict[str, Any]:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == kind:
            return dict(entry)
    return {}


async def wait_condition(
    cluster: Cluster, namespace: str, name: str, kind: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        obj = await cluster.get(GITHUB, "GitHubSource", namespace, name)
        found = condition(obj, kind)
        if found.get("status") != status or (reason is not None and found["reason"] != reason):
            return None
        return obj

    return await cluster.eventually(check, f"{name} {kind}={status} ({reason})")


async def wait_ready(cluster: Cluster, namespace: str, name: str) -> dict[str, Any]:
    return await wait_condition(cluster, namespace, name, "Ready", "True")


async def wait_gone(cluster: Cluster, namespace: str, name: str) -> None:
    async def gone() -> bool:
        return await cluster.get(GITHUB, "GitHubSource", namespace, name) is None

    await cluster.eventually(gone, f"GitHubSource {namespace}/{name} deleted")


def receiver_url(namespace: str, name: str, scheme: str = "http") -> str:
    return f"{scheme}://{name}-github.{namespace}.svc.cluster.local/"


async def test_the_documented_sample_registers_its_hook_and_becomes_ready(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.ensure_crd(custom_resource_definition("serving.knative.dev", "Service"))
    [service] = documents("github-source-service.yaml")
    await cluster.create(service, namespace)
    dumper = f"http://github-message-dumper.{namespace}.example.com"
    await cluster.publish_address(
        "serving.knative.dev/v1", "Service", namespace, "github-message-dumper", dumper
    )
    [credentials] = documents("github-source-secret.yaml")
    await cluster.create(credentials, namespace)
    [source] = documents("github-source.yaml")
    await cluster.create(source, namespace)

    ready = await wait_ready(cluster, namespace, "githubsourcesample")
    status = ready["status"]
    [hook] = github.hooks_to(REPO, receiver_url(namespace, "githubsourcesample"))
    assert hook["events"] == ["pull_request"]
    assert hook["config"]["secret"] == "s3cret"
    assert hook["config"]["content_type"] == "json"
    assert hook["active"] is True
    assert status["webhookIDKey"] == str(hook["id"])
    assert status["sinkUri"] == dumper
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Ready": "True",
        "SecretsProvided": "True",
        "SinkProvided": "True",
        "WebhookConfigured": "True",
    }
    assert status["ceAttributes"] == [
        {
            "type": "dev.knative.source.github.pull_request",
            "source": f"{github.base}/octo-org/octo-repo",
        }
    ]
    assert FINALIZER in ready["metadata"]["finalizers"]
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service")):
        child = await cluster.get(api_version, kind, namespace, "githubsourcesample-github")
        assert child is not None
        [owner] = child["metadata"]["ownerReferences"]
        assert (owner["kind"], owner["uid"], owner["controller"]) == (
            "GitHubSource",
            ready["metadata"]["uid"],
            True,
        )

    await cluster.delete(GITHUB, "GitHubSource", namespace, "githubsourcesample")
    await wait_gone(cluster, namespace, "githubsourcesample")
    assert github.hooks.get(REPO, {}) == {}
    for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service")):
        assert await cluster.get(api_version, kind, namespace, "githubsourcesample-github") is None


async def test_the_receiver_gets_the_contract_env_and_the_secret_only_by_reference(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(
        github_source(
            "env",
            eventTypes=["push", "issues"],
            ceOverrides={"extensions": {"team": "blue"}},
            serviceAccountName="receiver",
        ),
        namespace,
    )
    await wait_ready(cluster, namespace, "env")
    deployment = await cluster.get("apps/v1", "Deployment", namespace, "env-github")
    assert deployment is not None
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["image"] == IMAGE
    assert container["resources"]["limits"] == {"memory": "192Mi"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False
    assert pod["serviceAccountName"] == "receiver"
    assert container["env"] == [
        {"name": "K_SINK", "value": "http://sink.example/"},
        {"name": "K_CE_OVERRIDES", "value": '{"extensions":{"team":"blue"}}'},
        {"name": "NAMESPACE", "value": namespace},
        {"name": "NAME", "value": "env"},
        {"name": "K_COMPONENT", "value": "github-source"},
        {"name": "GITHUB_OWNER_AND_REPOSITORY", "value": "octo-org/octo-repo"},
        {"name": "GITHUB_EVENT_TYPES", "value": "push,issues"},
        {
            "name": "GITHUB_WEBHOOK_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "githubsecret", "key": "secretToken"}},
        },
        {"name": "GITHUB_API_URL", "value": github.api_url},
    ]
    assert SECRET not in json.dumps(deployment)
    assert TOKEN not in json.dumps(deployment)
    service = await cluster.get("v1", "Service", namespace, "env-github")
    assert service is not None
    [port] = service["spec"]["ports"]
    assert (port["port"], port["targetPort"]) == (80, "http")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]


async def test_a_spec_change_updates_the_hook_in_place(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("change"), namespace)
    first = (await wait_ready(cluster, namespace, "change"))["status"]["webhookIDKey"]

    await cluster.merge_patch(
        GITHUB, "GitHubSource", namespace, "change", {"spec": {"eventTypes": ["push", "release"]}}
    )

    async def updated() -> list[dict[str, Any]] | None:
        hooks = github.hooks_to(REPO, receiver_url(namespace, "change"))
        return hooks if hooks and hooks[0]["events"] == ["push", "release"] else None

    [hook] = await cluster.eventually(updated, "the hook's events updated")
    assert str(hook["id"]) == first
    assert len(github.hooks[REPO]) == 1
    deployment = await cluster.get("apps/v1", "Deployment", namespace, "change-github")
    assert deployment is not None
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GITHUB_EVENT_TYPES"] == "push,release"


async def test_a_new_url_or_owner_moves_the_hook_and_leaves_none_behind(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("move"), namespace)
    await wait_ready(cluster, namespace, "move")

    await cluster.merge_patch(GITHUB, "GitHubSource", namespace, "move", {"spec": {"secure": True}})
    https = receiver_url(namespace, "move", "https")

    async def moved() -> list[dict[str, Any]] | None:
        hooks = list(github.hooks.get(REPO, {}).values())
        return hooks if [h["config"]["url"] for h in hooks] == [https] else None

    [hook] = await cluster.eventually(moved, "one hook, to the https URL")

    async def recorded() -> bool:
        obj = await cluster.get(GITHUB, "GitHubSource", namespace, "move")
        return bool(obj and obj["status"].get("webhookIDKey") == str(hook["id"]))

    await cluster.eventually(recorded, "webhookIDKey of the new hook")

    public = "https://hooks.example.com/octo"
    await cluster.merge_patch(
        GITHUB,
        "GitHubSource",
        namespace,
        "move",
        {
            "metadata": {"annotations": {WEBHOOK_URL_ANNOTATION: public}},
            "spec": {"ownerAndRepository": "octo-org", "secure": None},
        },
    )

    async def on_the_org() -> list[dict[str, Any]] | None:
        if github.hooks.get(REPO):
            return None
        hooks = list(github.hooks.get("orgs/octo-org", {}).values())
        return hooks if [h["config"]["url"] for h in hooks] == [public] else None

    [org_hook] = await cluster.eventually(on_the_org, "the hook moved to the organization")
    assert org_hook["config"]["secret"] == SECRET

    async def reported() -> bool:
        obj = await cluster.get(GITHUB, "GitHubSource", namespace, "move")
        status = (obj or {}).get("status") or {}
        return (
            condition(obj, "Ready").get("status") == "True"
            and status.get("webhookIDKey") == str(org_hook["id"])
            and status["ceAttributes"][0]["source"] == f"{github.base}/octo-org"
        )

    await cluster.eventually(reported, "the status to name the organization's hook")


async def test_a_changed_secret_reaches_the_hook_and_restarts_the_receiver(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("rotate"), namespace)
    await wait_ready(cluster, namespace, "rotate")

    async def template_digest() -> str:
        deployment = await cluster.get("apps/v1", "Deployment", namespace, "rotate-github")
        assert deployment is not None
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["sources.springhead.dev/secret-digest"])

    before = await template_digest()
    await cluster.merge_patch(
        "v1", "Secret", namespace, "githubsecret", {"stringData": {"secretToken": "rotated"}}
    )

    async def rotated() -> bool:
        hooks = github.hooks_to(REPO, receiver_url(namespace, "rotate"))
        return bool(hooks) and hooks[0]["config"].get("secret") == "rotated"

    await cluster.eventually(rotated, "the hook's secret rotated")

    async def restarted() -> bool:
        return await template_digest() != before

    await cluster.eventually(restarted, "the receiver's pod template changed")
    assert len(github.hooks[REPO]) == 1


async def test_a_sink_that_does_not_exist_is_reported(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    missing = github_source("nosink")
    missing["spec"]["sink"] = {"ref": {"apiVersion": "v1", "kind": "Service", "name": "absent"}}
    await cluster.create(missing, namespace)
    obj = await wait_condition(cluster, namespace, "nosink", "SinkProvided", "False", "NotFound")
    assert "absent" in condition(obj, "SinkProvided")["message"]
    assert "sinkUri" not in obj["status"]
    assert condition(obj, "Ready")["status"] == "False"
    assert github.hooks == {}


async def test_missing_secrets_are_reported_until_they_exist(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(github_source("waiting"), namespace)
    obj = await wait_condition(
        cluster, namespace, "waiting", "SecretsProvided", "False", "AccessTokenNotFound"
    )
    assert condition(obj, "SecretsProvided")["message"] == (
        f'secrets "githubsecret" not found in namespace "{namespace}"'
    )
    assert condition(obj, "Ready")["status"] == "False"
    assert await cluster.get("apps/v1", "Deployment", namespace, "waiting-github") is None
    assert github.hooks == {}

    lacking = secret()
    del lacking["stringData"]["secretToken"]
    await cluster.create(lacking, namespace)
    obj = await wait_condition(
        cluster, namespace, "waiting", "SecretsProvided", "False", "SecretTokenNotFound"
    )
    assert condition(obj, "SecretsProvided")["message"] == (
        'key "secretToken" not found in secret "githubsecret"'
    )

    await cluster.merge_patch(
        "v1", "Secret", namespace, "githubsecret", {"stringData": {"secretToken": SECRET}}
    )
    await wait_ready(cluster, namespace, "waiting")
    assert len(github.hooks_to(REPO, receiver_url(namespace, "waiting"))) == 1


@pytest.mark.parametrize(
    ("spec", "reason", "message"),
    [
        (
            {"ownerAndRepository": "octo-org/octo-repo/extra"},
            "InvalidSpec",
            "spec.ownerAndRepository: expected owner/repository or an organization name",
        ),
        (
            {"githubAPIURL": "ftp://ghe.example.com/api/v3"},
            "InvalidSpec",
            "spec.githubAPIURL: must be an absolute http:// or https:// URL",
        ),
        (
            {"ceOverrides": {"extensions": {"type": "other"}}},
            "InvalidOverrides",
            "spec.ceOverrides.extensions.type names a CloudEvents spec attribute",
        ),
    ],
)
async def test_a_bad_spec_is_reported_and_nothing_is_created(
    cluster: Cluster,
    namespace: str,
    github: FakeGitHub,
    spec: dict[str, Any],
    reason: str,
    message: str,
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("bad", **spec), namespace)
    obj = await wait_condition(cluster, namespace, "bad", "WebhookConfigured", "False", reason)
    assert message in condition(obj, "WebhookConfigured")["message"]
    assert condition(obj, "Ready")["status"] == "False"
    assert await cluster.get("apps/v1", "Deployment", namespace, "bad-github") is None
    assert github.hooks == {}


@pytest.mark.parametrize(
    ("spec", "field"),
    [({"eventTypes": []}, "spec.eventTypes"), ({"eventTypes": ["pushed"]}, "spec.eventTypes")],
)
async def test_the_api_server_refuses_what_the_schema_forbids(
    cluster: Cluster, namespace: str, spec: dict[str, Any], field: str
) -> None:
    with pytest.raises(KubeApiError) as refused:
        await cluster.create(github_source("refused", **spec), namespace)
    assert refused.value.status == 422
    assert field in refused.value.message


async def test_a_refused_token_is_reported_and_a_corrected_one_registers(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(accessToken="ghp_wrong"), namespace)
    await cluster.create(github_source("token"), namespace)
    obj = await wait_condition(
        cluster, namespace, "token", "WebhookConfigured", "False", "CreationFailed"
    )
    assert condition(obj, "WebhookConfigured")["message"] == "GitHub answered 401: Bad credentials"
    await cluster.merge_patch(
        "v1", "Secret", namespace, "githubsecret", {"stringData": {"accessToken": TOKEN}}
    )
    await wait_ready(cluster, namespace, "token")
    assert len(github.hooks_to(REPO, receiver_url(namespace, "token"))) == 1


async def test_deletion_waits_for_github_and_copes_with_a_hook_already_gone(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("down"), namespace)
    await cluster.create(github_source("gone"), namespace)
    await wait_ready(cluster, namespace, "down")
    await wait_ready(cluster, namespace, "gone")

    github.unavailable = True
    await cluster.delete(GITHUB, "GitHubSource", namespace, "down")
    obj = await wait_condition(
        cluster, namespace, "down", "WebhookConfigured", "False", "DeletionFailed"
    )
    assert "503" in condition(obj, "WebhookConfigured")["message"]
    assert obj["metadata"]["deletionTimestamp"]
    assert len(github.hooks_to(REPO, receiver_url(namespace, "down"))) == 1
    github.unavailable = False
    await wait_gone(cluster, namespace, "down")
    assert github.hooks_to(REPO, receiver_url(namespace, "down")) == []

    [hook] = github.hooks_to(REPO, receiver_url(namespace, "gone"))
    del github.hooks[REPO][hook["id"]]  # removed by hand on GitHub
    await cluster.delete(GITHUB, "GitHubSource", namespace, "gone")
    await wait_gone(cluster, namespace, "gone")


async def test_a_source_whose_token_never_worked_can_still_be_deleted(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(accessToken="ghp_wrong"), namespace)
    await cluster.create(github_source("never"), namespace)
    await wait_condition(
        cluster, namespace, "never", "WebhookConfigured", "False", "CreationFailed"
    )
    await cluster.delete(GITHUB, "GitHubSource", namespace, "never")
    await wait_gone(cluster, namespace, "never")
    assert await cluster.get("apps/v1", "Deployment", namespace, "never-github") is None


async def test_a_receiver_deleted_by_hand_comes_back(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("back"), namespace)
    await wait_ready(cluster, namespace, "back")
    first = await cluster.get("apps/v1", "Deployment", namespace, "back-github")
    assert first is not None
    await cluster.delete("apps/v1", "Deployment", namespace, "back-github")
    await cluster.delete("v1", "Service", namespace, "back-github")

    async def recreated() -> bool:
        deployment = await cluster.get("apps/v1", "Deployment", namespace, "back-github")
        service = await cluster.get("v1", "Service", namespace, "back-github")
        return (
            deployment is not None
            and service is not None
            and deployment["metadata"]["uid"] != first["metadata"]["uid"]
        )

    await cluster.eventually(recreated, "the receiver's Deployment and Service recreated")


async def test_deleting_the_secret_with_the_source_still_removes_the_hook(
    cluster: Cluster, namespace: str, github: FakeGitHub
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(github_source("together"), namespace)
    await wait_ready(cluster, namespace, "together")
    await cluster.delete("v1", "Secret", namespace, "githubsecret")
    await cluster.delete(GITHUB, "GitHubSource", namespace, "together")
    await wait_gone(cluster, namespace, "together")
    assert github.hooks_to(REPO, receiver_url(namespace, "together")) == []


async def resolved_env(cluster: Cluster, deployment: dict[str, Any]) -> dict[str, str]:
    """The environment the kubelet would give the receiver's container (values and
    ``secretKeyRef``s, the kinds the controller writes)."""
    namespace = deployment["metadata"]["namespace"]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    env: dict[str, str] = {}
    for entry in container["env"]:
        if "valueFrom" not in entry:
            env[entry["name"]] = entry.get("value", "")
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        found = await cluster.get("v1", "Secret", namespace, ref["name"])
        assert found is not None
        env[entry["name"]] = base64.b64decode(found["data"][ref["key"]]).decode()
    return env


async def test_the_receiver_started_from_its_pod_spec_delivers_a_signed_event(
    cluster: Cluster, namespace: str, github: FakeGitHub, sink: RecordingSink
) -> None:
    await cluster.create(secret(), namespace)
    await cluster.create(
        github_source("deliver", sink.url, ceOverrides={"extensions": {"team": "blue"}}),
        namespace,
    )
    await wait_ready(cluster, namespace, "deliver")
    deployment = await cluster.get("apps/v1", "Deployment", namespace, "deliver-github")
    assert deployment is not None
    env = await resolved_env(cluster, deployment)
    # The image sets SPRINGHEAD_PORT=8080; here any free loopback port.
    env |= {"SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}
    payload = json.dumps(
        {
            "ref": "refs/heads/main",
            "compare": "https://github.com/octo-org/octo-repo/compare/1a2b3c...4d5e6f",
            "repository": {
                "name": "octo-repo",
                "full_name": "octo-org/octo-repo",
                "owner": {"login": "octo-org"},
            },
            "sender": {"login": "octocat"},
        }
    ).encode()
    delivery = str(uuid.uuid4())
    async with SourceProcess("springhead_github", env) as receiver:
        url = f"http://127.0.0.1:{receiver.port}/"
        async with aiohttp.ClientSession() as session:
            for signed_with, expected in ((SECRET, 202), ("not the secret", 403)):
                headers = {
                    "Content-Type": "application/json",
                    "X-GitHub-Event": "push",
                    "X-GitHub-Delivery": delivery if expected == 202 else str(uuid.uuid4()),
                    "X-Hub-Signature-256": sign(signed_with, payload),
                }
                async with session.post(url, data=payload, headers=headers) as response:
                    assert response.status == expected
    [received] = sink.accepted
    event = received.event
    assert event.get_type() == "dev.knative.source.github.push"
    assert event.get_source() == f"{github.base}/octo-org/octo-repo"
    assert event.get_id() == delivery
    assert event.get_extension("team") == "blue"
    assert received.header("Kn-Namespace") == namespace
    assert received.body == payload
