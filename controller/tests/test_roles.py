"""The controller's roles (``CONTROLLER_ROLES``): which roles a process accepts, the clear error
when a role's extra is not installed, that the core loads nothing another role needs, and that
each role leads on its own Lease."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING, Any

import pytest
from springhead.config import ConfigError, load_settings
from springhead_controller.config import ControllerSettings
from springhead_controller.roles import CORE, ROLES, Role, RoleUnavailable, load_reconciler
from springhead_testinfra.kube import KubeCluster
from springhead_testing import SourceProcess

if TYPE_CHECKING:
    from conftest import Cluster

BROKER = {"BROKER_CONTRACT_CONFIGMAP": "ns/contract", "KAFKA_BOOTSTRAP_SERVERS": "k:9092"}


def settings_error(env: dict[str, str]) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(ControllerSettings, env)
    return caught.value


def test_the_roles_are_core_broker_and_github() -> None:
    assert list(ROLES) == [CORE, "broker", "github"]
    assert [ROLES[name].image for name in ROLES] == [
        "springhead-controller",
        "springhead-controller-broker",
        "springhead-controller-github",
    ]


def test_roles_are_read_comma_separated_once_each() -> None:
    settings = load_settings(
        ControllerSettings, {"CONTROLLER_ROLES": " broker, core,broker", **BROKER}
    )
    assert settings.roles == ["broker", "core"]


def test_each_role_leads_on_its_own_lease_name() -> None:
    settings = load_settings(ControllerSettings, {"CONTROLLER_ROLES": "core,broker", **BROKER})
    assert settings.lease_name_of("core") == "springhead-controller"
    assert settings.lease_name_of("broker") == "springhead-controller-broker"
    named = load_settings(ControllerSettings, {"CONTROLLER_LEASE_NAME": "ctl"})
    assert [named.lease_name_of(role) for role in ROLES] == ["ctl", "ctl-broker", "ctl-github"]


@pytest.mark.parametrize(
    ("env", "variable", "reason"),
    [
        ({"CONTROLLER_ROLES": "everything"}, "CONTROLLER_ROLES", "unknown role 'everything'"),
        ({"CONTROLLER_ROLES": " , "}, "CONTROLLER_ROLES", "names no role"),
        ({"CONTROLLER_ROLES": "broker"}, "BROKER_CONTRACT_CONFIGMAP", "required with the broker"),
        (
            {"CONTROLLER_ROLES": "broker", "BROKER_CONTRACT_CONFIGMAP": "ns/contract"},
            "KAFKA_BOOTSTRAP_SERVERS",
            "required with the broker role",
        ),
        # It used to turn the Broker reconciler on in the one controller: not silently ignored.
        (
            {"BROKER_CONTRACT_CONFIGMAP": "ns/contract"},
            "BROKER_CONTRACT_CONFIGMAP",
            "the broker role is not in CONTROLLER_ROLES (core)",
        ),
    ],
)
def test_bad_roles_name_the_variable_and_why(
    env: dict[str, str], variable: str, reason: str
) -> None:
    error = settings_error(env)
    assert error.variable == variable
    assert reason in error.reason
    if variable == "CONTROLLER_ROLES" and "unknown" in reason:
        assert "one of core, broker, github" in error.reason


def test_a_role_whose_extra_is_not_installed_stops_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A role as the table would have it, whose extra brings a module this venv does not have
    # (the core image without springhead-controller[broker] is the real case: tests/images).
    role = Role("extra", extra="extra", needs=("springhead_not_installed_module",))
    monkeypatch.setitem(ROLES, "extra", role)
    error = settings_error({"CONTROLLER_ROLES": "core,extra"})
    assert error.variable == "CONTROLLER_ROLES"
    assert error.reason == (
        "role extra needs springhead-controller[extra], which is not installed "
        "(no springhead_not_installed_module): run the springhead-controller-extra image"
    )
    with pytest.raises(RoleUnavailable, match="springhead-controller-extra image"):
        load_reconciler(role)


def test_a_role_whose_reconciler_is_not_in_the_build_is_refused() -> None:
    role = Role("later", factory="springhead_controller.not_written_yet:factory")
    assert role.unavailable() == (
        "role later: its reconciler (springhead_controller.not_written_yet) is not in this build"
    )
    # The github role is accepted exactly when its reconciler's module exists.
    github = ROLES["github"]
    module = github.factory.partition(":")[0]
    assert (github.unavailable() is None) == (importlib.util.find_spec(module) is not None)


def test_an_unknown_role_stops_the_process_with_one_line() -> None:
    ran = subprocess.run(
        [sys.executable, "-m", "springhead_controller"],
        capture_output=True,
        text=True,
        env={"CONTROLLER_ROLES": "core,brokers", "PATH": ""},
        check=False,
        timeout=60,
    )
    assert ran.returncode == 2
    [line] = ran.stderr.strip().splitlines()
    assert "CONTROLLER_ROLES" in line and "unknown role 'brokers'" in line


#: What the broker and github roles need; the core must not load any of it. (Not lark by name:
#: in the development venv a test tool's jsonschema loads it under the kubernetes client; the core
#: image has no lark at all, tests/images holds that.)
ROLE_ONLY = ("springhead_controller.brokers", "springhead.kafka", "springhead.cesql", "aiokafka")
ROLE_ONLY += ("springhead.eventfilter", "github", "jwt", "springhead_controller.githubsources")


def test_the_core_loads_nothing_another_role_needs() -> None:
    # Every module of the package but the roles' own, the settings checked and the controller
    # built, in a fresh interpreter: none of the other roles' modules is loaded (import-linter
    # holds the static imports; this holds whatever runs).
    code = f"""
import json, pkgutil, sys, importlib
import springhead_controller
from springhead.config import load_settings
skip = {{m.partition(":")[0] for m in [r.factory for r in __import__(
    "springhead_controller.roles", fromlist=["ROLES"]).ROLES.values()] if m}}
for info in pkgutil.iter_modules(springhead_controller.__path__, "springhead_controller."):
    if info.name not in skip:
        importlib.import_module(info.name)
from springhead_controller.config import ControllerSettings
from springhead_controller.controller import Controller
Controller(load_settings(ControllerSettings, {{"CONTROLLER_ROLES": "core"}}))
print(json.dumps(sorted(m for m in {list(ROLE_ONLY)!r} if m in sys.modules)))
"""
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(ran.stdout) == []


async def test_each_role_holds_its_own_lease(
    cluster: Cluster, namespace: str, kube: KubeCluster, kafka: Any
) -> None:
    contract_namespace = await cluster.new_namespace("broker-system")
    await cluster.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "contract"},
            "data": {"contract.json": '{"brokers": []}'},
        },
        contract_namespace,
    )
    lease = f"roles-{uuid.uuid4().hex[:8]}"
    env = {
        "CONTROLLER_KUBECONFIG": str(kube.kubeconfig),
        "CONTROLLER_ROLES": "core,broker",
        "CONTROLLER_LEASE_NAME": lease,
        "CONTROLLER_LEASE_NAMESPACE": namespace,
        "BROKER_CONTRACT_CONFIGMAP": f"{contract_namespace}/contract",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap,
        "NAMESPACE": "default",
        "SPRINGHEAD_PORT": "0",
        "SPRINGHEAD_HOST": "127.0.0.1",
    }
    async with SourceProcess("springhead_controller", env) as process:

        async def both_reconcile() -> set[str] | None:
            roles = {e.get("role") for e in process.logs if e.get("msg") == "reconciling"}
            return roles if roles >= {"core", "broker"} else None

        await cluster.eventually(both_reconcile, "the core and broker roles to reconcile")
        holders = {}
        for name in (lease, f"{lease}-broker"):
            found = await cluster.get("coordination.k8s.io/v1", "Lease", namespace, name)
            assert found is not None, f"no Lease {name}"
            holders[name] = found["spec"].get("holderIdentity")
        assert all(holders.values()), holders
