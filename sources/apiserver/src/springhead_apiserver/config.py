"""ApiServerSource settings: the adapter contract plus the ApiServerSource spec."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_settings import NoDecode
from springhead.config import (
    ConfigError,
    IsoDuration,
    KubeAccess,
    SourceSettings,
    json_text,
    label_selector_text,
    namespace_names,
    namespace_selector_text,
)
from springhead.names import is_dns_label, is_dns_subdomain

__all__ = [
    "ALL_NAMESPACES",
    "ApiServerSettings",
    "EventMode",
    "OwnerSpec",
    "ResourceSpec",
    "WatchSettings",
    "label_selector_text",
]

#: ``APISERVER_NAMESPACES`` value meaning every namespace.
ALL_NAMESPACES = "*"


class EventMode(StrEnum):
    """What an event carries (ApiServerSource ``mode``)."""

    REFERENCE = "Reference"
    """data = {apiVersion, kind, name, namespace}; types ``dev.knative.apiserver.ref.*``."""
    RESOURCE = "Resource"
    """data = the whole object; types ``dev.knative.apiserver.resource.*``."""


class ResourceSpec(BaseModel):
    """One entry of ``APISERVER_RESOURCES`` (Knative ``spec.resources[]``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: str = Field(alias="apiVersion", min_length=1)
    """``v1``, ``apps/v1``, ``example.com/v1alpha1``."""
    kind: str = Field(min_length=1)
    """The kind to watch, e.g. ``ConfigMap``."""
    label_selector: Annotated[str, BeforeValidator(label_selector_text)] = Field(
        default="", alias="labelSelector"
    )
    """Only objects with these labels (text or LabelSelector object)."""
    field_selector: str = Field(default="", alias="fieldSelector")
    """Only objects whose fields match (``metadata.name=x``, ``status.phase!=Running``)."""
    resource: str = ""
    """The plural resource name, for RBAC derivation when it is not Kubernetes' guess from
    ``kind``; at run time the API server's discovery document decides."""
    namespaced: bool | None = None
    """Whether the kind is namespaced, for RBAC derivation of kinds it does not know (custom
    resources default to namespaced); at run time discovery decides."""

    @model_validator(mode="before")
    @classmethod
    def _knative_selector(cls, data: Any) -> Any:
        # Knative names the label selector `selector` (a LabelSelector object).
        if isinstance(data, dict) and "selector" in data:
            data = dict(data)
            selector = data.pop("selector")
            if "labelSelector" in data:
                raise ValueError("give either selector or labelSelector, not both")
            data["labelSelector"] = selector
        return data

    @model_validator(mode="after")
    def _check_api_version(self) -> Self:
        if self.api_version.count("/") > 1 or self.api_version.endswith("/"):
            raise ValueError(f"apiVersion {self.api_version!r} is not group/version or version")
        return self


class OwnerSpec(BaseModel):
    """``APISERVER_OWNER``: only objects whose controller owner has this apiVersion and/or kind."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    api_version: str = Field(default="", alias="apiVersion")
    """The controller's apiVersion (empty: any)."""
    kind: str = ""
    """The controller's kind (empty: any)."""


def _resources(value: Any) -> Any:
    parsed = json_text(value)
    if parsed is None:
        raise ValueError('required: a JSON list like [{"apiVersion": "v1", "kind": "ConfigMap"}]')
    if isinstance(parsed, dict):
        parsed = [parsed]
    if not isinstance(parsed, list) or not parsed:
        raise ValueError("expected a non-empty JSON list of {apiVersion, kind, ...} objects")
    return parsed


def _owner(value: Any) -> Any:
    parsed = json_text(value)
    if isinstance(parsed, dict) and not any(parsed.values()):
        return None
    return parsed


class WatchSettings(KubeAccess):
    """What one ApiServerSource watches and where it keeps its state (``APISERVER_*``): all the
    source reads but the sink, and all the ``rbac`` command needs."""

    settings_prefix = "APISERVER"

    resources: Annotated[list[ResourceSpec], NoDecode, BeforeValidator(_resources)] = Field(
        validation_alias="APISERVER_RESOURCES"
    )
    """What to watch: a JSON list of ``{"apiVersion", "kind", "labelSelector",
    "fieldSelector"}`` (Knative's ``selector`` object is accepted for ``labelSelector``);
    required, at least one."""

    namespaces: Annotated[list[str] | None, NoDecode, BeforeValidator(namespace_names)] = Field(
        default=None, validation_alias="APISERVER_NAMESPACES"
    )
    """Namespaces to watch, comma-separated or a JSON list; ``*`` = all namespaces.
    Unset: the source's own namespace (``NAMESPACE``)."""

    namespace_selector: Annotated[
        str | None, NoDecode, BeforeValidator(namespace_selector_text)
    ] = Field(default=None, validation_alias="APISERVER_NAMESPACE_SELECTOR")
    """Watch the namespaces whose labels match (text ``env=prod`` or a LabelSelector JSON
    object; ``{}`` = all), following namespaces as they are labelled and unlabelled, through
    one cluster-wide watch per resource. Exclusive with ``APISERVER_NAMESPACES``."""

    owner: Annotated[OwnerSpec | None, NoDecode, BeforeValidator(_owner)] = Field(
        default=None, validation_alias="APISERVER_OWNER"
    )
    """Only objects whose controller owner reference matches: JSON ``{"apiVersion", "kind"}``."""

    mode: EventMode = Field(default=EventMode.REFERENCE, validation_alias="APISERVER_MODE")
    """``Reference`` (data = apiVersion, kind, name, namespace) or ``Resource`` (data = the
    whole object)."""

    emit_existing: bool = Field(default=False, validation_alias="APISERVER_EMIT_EXISTING")
    """Send an add event for every object that exists when the source starts for the first
    time (Knative: never)."""

    ignore_status_updates: bool = Field(
        default=False, validation_alias="APISERVER_IGNORE_STATUS_UPDATES"
    )
    """Drop update events that change only ``status``, ``metadata.managedFields``,
    ``metadata.resourceVersion`` or ``metadata.generation``."""

    state_configmap: str | None = Field(default=None, validation_alias="APISERVER_STATE_CONFIGMAP")
    """Name of a ConfigMap in ``NAMESPACE`` where the delivered position is persisted, so a
    restart resumes without loss or replay; unset: no persistence (a restart starts afresh,
    as Knative does)."""

    state_interval: IsoDuration = Field(
        default=timedelta(seconds=5), validation_alias="APISERVER_STATE_INTERVAL"
    )
    """How often the delivered position is written to the state ConfigMap (ISO-8601); also
    written on shutdown. A crash re-sends at most this much (with the same event ids)."""

    @model_validator(mode="after")
    def _check_scope(self) -> Self:
        if self.namespaces is not None and self.namespace_selector is not None:
            raise ConfigError(
                "APISERVER_NAMESPACE_SELECTOR",
                "cannot be combined with APISERVER_NAMESPACES; use one of them",
            )
        for namespace in self.namespaces or ():
            if namespace != ALL_NAMESPACES and not is_dns_label(namespace):
                raise ConfigError(
                    "APISERVER_NAMESPACES", f"{namespace!r} is not a valid namespace name"
                )
        if self.namespaces is not None and not self.namespaces:
            raise ConfigError("APISERVER_NAMESPACES", "name at least one namespace, or *")
        if self.namespaces and ALL_NAMESPACES in self.namespaces and len(self.namespaces) > 1:
            raise ConfigError("APISERVER_NAMESPACES", "* (all namespaces) stands alone")
        if self.state_configmap is not None and not is_dns_subdomain(self.state_configmap):
            raise ConfigError(
                "APISERVER_STATE_CONFIGMAP", f"{self.state_configmap!r} is not a valid name"
            )
        if self.state_interval <= timedelta(0):
            raise ConfigError("APISERVER_STATE_INTERVAL", "must be longer than zero")
        return self

    @property
    def all_namespaces(self) -> bool:
        """Whether namespaced resources are watched cluster-wide (``*``, or a selector)."""
        return self.namespace_selector is not None or self.namespaces == [ALL_NAMESPACES]

    @property
    def watched_namespaces(self) -> list[str]:
        """The namespaces watched one by one (empty when watching cluster-wide)."""
        if self.all_namespaces:
            return []
        return list(self.namespaces) if self.namespaces else [self.namespace]

    @property
    def filters_namespaces(self) -> bool:
        """Whether a namespace label selector filters the cluster-wide watches."""
        return bool(self.namespace_selector)


class ApiServerSettings(SourceSettings, WatchSettings):
    """Settings of one ApiServerSource: what it watches plus the sink contract."""
