"""Controller settings: the shared runtime's settings (health, metrics, logs, shutdown) plus how
to reach the API server, leader election and SinkBinding behaviour."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Self

from pydantic import Field, model_validator
from springhead.config import ConfigError, IsoDuration, ProcessSettings

from springhead_controller.selectors import SelectionMode

__all__ = ["ControllerSettings"]


class ControllerSettings(ProcessSettings):
    """Settings of the SinkBinding/ContainerSource controller.

    The controller sends no events, so it reads no sink or delivery settings (the process host
    warns when they are set).
    """

    component: str = Field(default="springhead-controller", validation_alias="K_COMPONENT")
    """Component name in logs."""

    kubeconfig: str = Field(default="", validation_alias="CONTROLLER_KUBECONFIG")
    """Kubeconfig file for reaching the API server; empty means the pod's service account."""

    install_crds: bool = Field(default=True, validation_alias="CONTROLLER_INSTALL_CRDS")
    """Create the SinkBinding and ContainerSource CRDs at start-up when they are absent."""

    leader_election: bool = Field(default=True, validation_alias="CONTROLLER_LEADER_ELECTION")
    """Reconcile only while holding the Lease, so several replicas are safe."""

    lease_name: str = Field(
        default="springhead-controller", validation_alias="CONTROLLER_LEASE_NAME"
    )
    """Name of the Lease the replicas share."""

    lease_namespace: str = Field(default="", validation_alias="CONTROLLER_LEASE_NAMESPACE")
    """Namespace of the Lease; empty means ``NAMESPACE``."""

    lease_duration: IsoDuration = Field(
        default=timedelta(seconds=15), validation_alias="CONTROLLER_LEASE_DURATION"
    )
    """How long a standby waits after the leader's last renewal before taking over (whole
    seconds)."""

    renew_deadline: IsoDuration = Field(
        default=timedelta(seconds=10), validation_alias="CONTROLLER_LEASE_RENEW_DEADLINE"
    )
    """How long the leader keeps trying to renew before it stops reconciling."""

    retry_period: IsoDuration = Field(
        default=timedelta(seconds=2), validation_alias="CONTROLLER_LEASE_RETRY_PERIOD"
    )
    """How often the leader renews and a standby tries to take over."""

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
        if self.kubeconfig and not Path(self.kubeconfig).is_file():
            raise ConfigError("CONTROLLER_KUBECONFIG", f"no such file: {self.kubeconfig}")
        duration = self.lease_duration.total_seconds()
        if duration < 1 or duration != int(duration):
            raise ConfigError("CONTROLLER_LEASE_DURATION", "must be whole seconds, at least PT1S")
        if not self.renew_deadline < self.lease_duration:
            raise ConfigError(
                "CONTROLLER_LEASE_RENEW_DEADLINE", "must be shorter than CONTROLLER_LEASE_DURATION"
            )
        if not 0 < self.retry_period.total_seconds() * 1.2 < self.renew_deadline.total_seconds():
            raise ConfigError(
                "CONTROLLER_LEASE_RETRY_PERIOD",
                "must be positive and, times 1.2, shorter than CONTROLLER_LEASE_RENEW_DEADLINE",
            )
        if self.resync.total_seconds() <= 0:
            raise ConfigError("CONTROLLER_RESYNC", "must be positive")
        return self

    @property
    def effective_lease_namespace(self) -> str:
        """The Lease's namespace: ``CONTROLLER_LEASE_NAMESPACE`` or ``NAMESPACE``."""
        return self.lease_namespace or self.namespace
