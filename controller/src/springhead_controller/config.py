"""Controller settings: the shared runtime's settings (health, metrics, logs, shutdown) plus how
to reach the API server, leader election and SinkBinding behaviour."""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from pydantic import Field, model_validator
from springhead.config import ConfigError, IsoDuration, KubeAccess, LeaseSettings

from springhead_controller.selectors import SelectionMode

__all__ = ["ControllerSettings"]


class ControllerSettings(LeaseSettings, KubeAccess):
    """Settings of the SinkBinding/ContainerSource controller.

    The controller sends no events, so it reads no sink or delivery settings (the process host
    warns when they are set).
    """

    settings_prefix = "CONTROLLER"

    component: str = Field(default="springhead-controller", validation_alias="K_COMPONENT")
    """Component name in logs."""

    install_crds: bool = Field(default=True, validation_alias="CONTROLLER_INSTALL_CRDS")
    """Create the SinkBinding and ContainerSource CRDs at start-up when they are absent."""

    leader_election: bool = True
    """Reconcile only while holding the Lease, so several replicas are safe."""

    lease_name: str = ""
    """Name of the Lease the replicas share; empty means ``springhead-controller``."""

    selection_mode: SelectionMode = Field(
        default=SelectionMode.EXCLUSION, validation_alias="SINK_BINDING_SELECTION_MODE"
    )
    """``exclusion`` (bind everything but objects/namespaces labelled
    ``bindings.knative.dev/exclude: true``) or ``inclusion`` (only objects labelled
    ``bindings.knative.dev/include: true`` in namespaces labelled so) - Knative's variable."""

    cluster_domain: str = Field(
        default="cluster.local", validation_alias="CONTROLLER_CLUSTER_DOMAIN"
    )
    """DNS domain of the cluster: a Service sink becomes ``http://<name>.<ns>.svc.<domain>``."""

    workers: int = Field(default=4, ge=1, le=64, validation_alias="CONTROLLER_WORKERS")
    """Objects reconciled at the same time."""

    patch_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias="CONTROLLER_PATCH_CONCURRENCY"
    )
    """Subjects of one binding patched at the same time."""

    resync: IsoDuration = Field(default=timedelta(minutes=10), validation_alias="CONTROLLER_RESYNC")
    """Every object is reconciled again this often, whether or not something changed."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.resync.total_seconds() <= 0:
            raise ConfigError("CONTROLLER_RESYNC", "must be positive")
        return self

    def default_lease_name(self) -> str:
        """``springhead-controller``: one controller per cluster."""
        return "springhead-controller"
