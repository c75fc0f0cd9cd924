"""Controller settings: the shared runtime's settings (health, metrics, logs, shutdown) plus how
to reach the API server, the roles to run, leader election and SinkBinding behaviour."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_settings import NoDecode
from springhead.config import (
    ConfigError,
    IsoDuration,
    KafkaAccess,
    KubeAccess,
    LeaseSettings,
    http_url,
)

from springhead_controller.roles import CORE, ROLES
from springhead_controller.selectors import SelectionMode

__all__ = ["ControllerSettings"]


def _base_url(value: str) -> str:
    return str(http_url(value)).rstrip("/")


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _role_list(value: Any) -> Any:
    value = _comma_list(value)
    return list(dict.fromkeys(value)) if isinstance(value, list) else value


_KNOWN = ", ".join(ROLES)


class ControllerSettings(LeaseSettings, KubeAccess, KafkaAccess):
    """Settings of the SinkBinding/ContainerSource controller.

    The controller sends no events, so it reads no sink or delivery settings (the process host
    warns when they are set). Kafka (``KAFKA_*``: the brokers, SASL, TLS; the shared
    :class:`~springhead.config.KafkaAccess` group) is where Broker topics are created and
    Trigger consumer groups deleted; ``KAFKA_BOOTSTRAP_SERVERS`` is required with the ``broker``
    role.
    """

    settings_prefix = "CONTROLLER"

    component: str = Field(default="springhead-controller", validation_alias="K_COMPONENT")
    """Component name in logs."""

    roles: Annotated[list[str], NoDecode, BeforeValidator(_role_list)] = Field(
        default=[CORE], validation_alias="CONTROLLER_ROLES"
    )
    """What this process reconciles, comma-separated (default ``core``): ``core`` (SinkBinding,
    ContainerSource, PingSource, ApiServerSource, KafkaSource), ``broker`` (Broker, Trigger; needs
    ``springhead-controller[broker]``), ``github`` (GitHubSource; needs
    ``springhead-controller[github]``). Each role leads on its own Lease."""

    install_crds: bool = Field(default=True, validation_alias="CONTROLLER_INSTALL_CRDS")
    """Create the CRDs (SinkBinding, ContainerSource, PingSource, ApiServerSource, KafkaSource,
    GitHubSource, Broker, Trigger) at start-up when they are absent."""

    leader_election: bool = True
    """Reconcile only while holding the Lease, so several replicas are safe."""

    lease_name: str = ""
    """Name of the core role's Lease; another role's is ``<name>-<role>``. Empty means
    ``springhead-controller``."""

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

    apiserver_image: str = Field(default="", validation_alias="CONTROLLER_APISERVER_IMAGE")
    """Image of the apiserver source, run for each ApiServerSource (the chart sets the release's
    ``springhead-apiserver``); empty: ApiServerSources are reported as not deployed."""

    kafka_image: str = Field(default="", validation_alias="CONTROLLER_KAFKA_IMAGE")
    """Image of the Kafka source, run for each KafkaSource (the chart sets the release's
    ``springhead-kafka``); empty: KafkaSources are reported as not deployed."""

    workers: int = Field(default=4, ge=1, le=64, validation_alias="CONTROLLER_WORKERS")
    """Objects reconciled at the same time."""

    patch_concurrency: int = Field(
        default=16, ge=1, le=256, validation_alias="CONTROLLER_PATCH_CONCURRENCY"
    )
    """Subjects of one binding patched at the same time."""

    resync: IsoDuration = Field(default=timedelta(minutes=10), validation_alias="CONTROLLER_RESYNC")
    """Every object is reconciled again this often, whether or not something changed."""

    broker_contract_configmap: str = Field(
        default="",
        pattern=r"^$|^[a-z0-9-]+/[a-z0-9.-]+$",
        validation_alias="BROKER_CONTRACT_CONFIGMAP",
    )
    """``namespace/name`` of the broker data plane's contract ConfigMap (the broker chart's
    ``<release>-contract``); required with the ``broker`` role, and only read by it."""

    broker_ingress_host: str = Field(default="", validation_alias="BROKER_INGRESS_HOST")
    """Host (and port) of the broker ingress Service: a Broker's address is
    ``http://<host>/<namespace>/<name>``; empty: ``<name>-ingress.<namespace>.svc.<domain>`` of
    the contract ConfigMap's release."""

    broker_probe: bool = Field(default=True, validation_alias="BROKER_PROBE")
    """Probe the broker ingress (every endpoint of ``<name>-ingress`` in the contract
    ConfigMap's namespace, listed from its EndpointSlices) for each Broker's ProbeSucceeded
    condition, which Ready then waits for, as Knative's Kafka broker does; false: no such
    condition, and Ready follows the contract ConfigMap being written."""

    broker_class: str = Field(default="Springhead", min_length=1, validation_alias="BROKER_CLASS")
    """The ``eventing.knative.dev/broker.class`` of the Brokers this controller reconciles."""

    broker_default_class: bool = Field(default=False, validation_alias="BROKER_DEFAULT_CLASS")
    """Also reconcile Brokers without the class annotation (when Knative is not installed to
    default it)."""

    broker_topic_partitions: int = Field(
        default=10, ge=1, le=10_000, validation_alias="BROKER_TOPIC_PARTITIONS"
    )
    """Partitions of a new Broker's topic (Knative's Kafka broker: 10)."""

    broker_topic_replication: int = Field(
        default=3, ge=1, le=32, validation_alias="BROKER_TOPIC_REPLICATION"
    )
    """Replication factor of a new Broker's topic (Knative's Kafka broker: 3)."""

    github_image: str = Field(default="", validation_alias="CONTROLLER_GITHUB_IMAGE")
    """Image of the GitHub receiver (``springhead-github``) the GitHubSource reconciler deploys
    (required with the ``github`` role, which needs the controller's ``github`` extra, PyGithub:
    the ``springhead-controller-github`` image)."""

    github_api_url: Annotated[str, AfterValidator(_base_url)] = Field(
        default="https://api.github.com", validation_alias="CONTROLLER_GITHUB_API_URL"
    )
    """GitHub REST API of the GitHubSources without ``spec.githubAPIURL`` (a GitHub Enterprise
    Server's ``https://<host>/api/v3`` when all of them live there)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.resync.total_seconds() <= 0:
            raise ConfigError("CONTROLLER_RESYNC", "must be positive")
        self._check_roles()
        return self

    def _check_roles(self) -> None:
        if not self.roles:
            raise ConfigError("CONTROLLER_ROLES", f"names no role (one or more of {_KNOWN})")
        for name in self.roles:
            role = ROLES.get(name)
            if role is None:
                raise ConfigError("CONTROLLER_ROLES", f"unknown role {name!r} (one of {_KNOWN})")
            why = role.unavailable()
            if why is not None:
                raise ConfigError("CONTROLLER_ROLES", why)
        if "broker" in self.roles:
            if not self.broker_contract_configmap:
                raise ConfigError("BROKER_CONTRACT_CONFIGMAP", "required with the broker role")
            if not self.bootstrap_servers:
                raise ConfigError("KAFKA_BOOTSTRAP_SERVERS", "required with the broker role")
        elif self.broker_contract_configmap:
            # It used to turn the Broker reconciler on; now a role does, in its own image.
            raise ConfigError(
                "BROKER_CONTRACT_CONFIGMAP",
                "set, but the broker role is not in CONTROLLER_ROLES "
                f"({','.join(self.roles)}): add it, or unset this variable",
            )
        if "github" in self.roles and not self.github_image:
            raise ConfigError("CONTROLLER_GITHUB_IMAGE", "required with the github role")

    def lease_name_of(self, role: str) -> str:
        """The Lease ``role`` leads on (see :meth:`springhead_controller.roles.Role.lease_name`)."""
        return ROLES[role].lease_name(self.effective_lease_name)

    def default_lease_name(self) -> str:
        """``springhead-controller``: one controller per cluster."""
        return "springhead-controller"
