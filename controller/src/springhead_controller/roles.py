"""The controller's roles: which kinds one controller process reconciles (``CONTROLLER_ROLES``).

Knative runs one controller per concern (eventing-controller, kafka-controller,
github-controller); Springhead's controller is one package whose roles run in one process or
each in its own Deployment:

- ``core``: SinkBinding, ContainerSource, PingSource (the kinds :class:`~springhead_controller.
  controller.Controller` reconciles itself, key by key from the Cache's work queue). It needs
  nothing beyond ``springhead-controller``.
- ``broker``: Broker and Trigger (:mod:`springhead_controller.brokers`), with the extra
  ``springhead-controller[broker]`` (Kafka's admin client and the CloudEvents SQL parser of the
  Trigger filters; image ``springhead-controller-broker``).
- ``github``: GitHubSource, with the extra ``springhead-controller[github]`` (the GitHub API
  client; image ``springhead-controller-github``).

A role other than ``core`` is a factory named in :data:`ROLES` as ``module:function`` text and
imported only when the role is enabled, so the core's modules - and the core image - never load
what another role needs (an import-linter contract holds the line). Each role leads on its own
Lease: ``<CONTROLLER_LEASE_NAME>`` for the core, ``<CONTROLLER_LEASE_NAME>-<role>`` for another.

Adding a role is one entry in :data:`ROLES`; its factory takes ``(client, cache, settings,
counted)`` (``counted(kind, outcome)`` counts a reconcile in ``springhead_controller_reconciles``)
and returns an object with ``async run(resync_seconds)`` (or None when the settings turn it
off), which the controller runs while it holds the role's Lease. ``cache`` is a
:class:`~springhead_controller.cache.Cache` for sink lookups; only the core starts its informers.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from springhead.kube import KubeClient

    from springhead_controller.cache import Cache
    from springhead_controller.config import ControllerSettings

__all__ = [
    "CORE",
    "ROLES",
    "Role",
    "RoleReconciler",
    "RoleUnavailable",
    "load_reconciler",
]

#: The role every controller runs unless ``CONTROLLER_ROLES`` says otherwise.
CORE = "core"
#: The distribution whose extras the roles need.
PACKAGE = "springhead-controller"


class RoleReconciler(Protocol):
    """What a role's factory returns: run until cancelled, every object again each
    ``resync`` seconds."""

    async def run(self, resync: float) -> None: ...


#: A role's factory: ``(client, cache, settings, counted)`` -> its reconciler, or None when the
#: settings turn it off. ``counted(kind, outcome)`` counts one reconcile (outcome ok or error).
RoleFactory = Callable[
    ["KubeClient", "Cache", "ControllerSettings", Callable[[str, str], None]],
    "RoleReconciler | None",
]


class RoleUnavailable(Exception):
    """A role cannot run in this installation: its extra (or its reconciler) is not installed."""


@dataclass(frozen=True, slots=True)
class Role:
    """One role of the controller."""

    #: Its name in ``CONTROLLER_ROLES``.
    name: str
    #: The optional-dependency extra of ``springhead-controller`` it needs; empty: none.
    extra: str = ""
    #: The top-level modules that extra installs, looked up (not imported) to tell whether it is
    #: installed.
    needs: tuple[str, ...] = ()
    #: Its reconciler's factory as ``module:function``, imported only when the role runs; empty
    #: for the core, which the controller runs itself.
    factory: str = ""

    @property
    def image(self) -> str:
        """The image that has what it needs: ``springhead-controller[-<extra>]``."""
        return f"{PACKAGE}-{self.extra}" if self.extra else PACKAGE

    def lease_name(self, base: str) -> str:
        """The Lease it leads on: ``base`` for the core, ``<base>-<role>`` for another."""
        return base if self.name == CORE else f"{base}-{self.name}"

    def unavailable(self) -> str | None:
        """Why it cannot run here (its extra or its reconciler is not installed), else None.

        Looks modules up without importing them: checking the settings loads nothing heavy.
        """
        missing = [name for name in self.needs if importlib.util.find_spec(name) is None]
        if missing:
            return (
                f"role {self.name} needs {PACKAGE}[{self.extra}], which is not installed "
                f"(no {', '.join(missing)}): run the {self.image} image"
            )
        if self.factory:
            module = self.factory.partition(":")[0]
            if importlib.util.find_spec(module) is None:
                return f"role {self.name}: its reconciler ({module}) is not in this build"
        return None


#: Every role, by name. A new role is one entry here.
ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role(CORE),
        Role(
            "broker",
            extra="broker",
            needs=("aiokafka", "lark"),
            factory="springhead_controller.brokers:broker_reconciler",
        ),
        Role(
            "github",
            extra="github",
            needs=("github", "jwt"),
            factory="springhead_controller.githubsources:github_reconciler",
        ),
    )
}


def load_reconciler(role: Role) -> RoleFactory:
    """Import ``role``'s factory (the first time its role runs). Raises
    :class:`RoleUnavailable` when it is not installed."""
    why = role.unavailable()
    if why is not None:
        raise RoleUnavailable(why)
    if not role.factory:
        raise RoleUnavailable(f"role {role.name} has no reconciler factory")
    module, _, function = role.factory.partition(":")
    factory: RoleFactory = getattr(importlib.import_module(module), function)
    return factory
