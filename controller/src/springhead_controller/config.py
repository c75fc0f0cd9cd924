"""Controller settings: the shared runtime's settings (health, metrics, logs, shutdown) plus how
to reach the API server, leader election and SinkBinding behaviour."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Self

from pydantic import AfterValidator, Field, model_validator
from springhead.config import (
    ConfigError,
    IsoDuration,
    KafkaAccess,
    KubeAccess,
    LeaseSettings,
    http_url,
)

from springhead_controller.selectors import SelectionMode

__all__ = ["ControllerSettings"]


def _base_url(value: str) -> str:
    return str(http_url(value)).rstrip("/")


class ControllerSettings(LeaseSettings, KubeAccess, KafkaAccess):
    """Settings of the SinkBinding/ContainerSource controller.

    The controller sends no events, so it reads no sink or delivery settings (the process host
    warns when they are set). Kafka (``KAFKA_*``: the brokers, SASL, TLS; the shared
    :class:`~springhead.config.KafkaAccess` group) is where Broker topics are created and
    Trigger consumer groups deleted; ``KAFKA_BOOTSTRAP_SERVERS`` is required with
    ``BROKER_CONTRACT_CONFIGMAP``.
    """

    settings_prefix = "CONTROLLER"

    component: str = Field(default="springhead-controller", validation_alias="K_COMPONENT")
    """Component name in logs."""

    install_crds: bool = Field(default=True, validation_alias="CONTROLLER_INSTALL_CRDS")
    """Create the CRDs (SinkBinding, ContainerSource, PingSource, ApiServerSource, KafkaSource,
    GitHubSource, Broker, Trigger) at start-up when they are absent."""

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
    ``<release>-contract``); empty: Brokers and Triggers are not reconciled."""

    broker_ingress_host: str = Field(default="", validation_alias="BROKER_INGRESS_HOST")
    """Host (and port) of the broker ingress Service: a Broker's address is
    ``http://<host>/<namespace>/<name>``; empty: ``<name>-ingress.<namespace>.svc.<domain>`` of
    the contract ConfigMap's release."""

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
    """Image of the GitHub receiver (``springhead-github``) the GitHubSource reconciler deploys;
    empty: GitHubSources are not reconciled. Needs the controller's ``github`` extra (PyGithub):
    the ``springhead-controller-github`` image."""

    github_api_url: Annotated[str, AfterValidator(_base_url)] = Field(
        default="https://api.github.com", validation_alias="CONTROLLER_GITHUB_API_URL"
    )
    """GitHub REST API of the GitHubSources without ``spec.githubAPIURL`` (a GitHub Enterprise
    Server's ``https://<host>/api/v3`` when all of them live there)."""

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.resync.total_seconds() <= 0:
            raise ConfigError("CONTROLLER_RESYNC", "must be positive")
        if self.broker_contract_configmap and not self.bootstrap_servers:
            raise ConfigError("KAFKA_BOOTSTRAP_SERVERS", "required with BROKER_CONTRACT_CONFIGMAP")
        return self

    def default_lease_name(self) -> str:
        """``springhead-controller``: one controller per cluster."""
        return "springhead-controller"
