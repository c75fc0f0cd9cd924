"""The adapter contract as typed settings classes, grouped by concern.

:class:`ProcessSettings` is what every Springhead process reads (health and metrics port, logs,
shutdown, event loop); :class:`SourceSettings` adds what a process that sends events needs (the
sink and delivery). A source's settings subclass :class:`SourceSettings`; a process that sends
nothing (the controller, a source's ``hooks``/``rbac`` commands) subclasses
:class:`ProcessSettings` and never mentions a sink. Nothing else in a process reads
``os.environ``. The Knative variables keep their Knative names
(``K_SINK``, ``K_CE_OVERRIDES`` ...); Springhead's own settings are prefixed ``SPRINGHEAD_``
(shared) or with the source's name (``PING_`` ...).
"""

from __future__ import annotations

import json
import re
import ssl
import tempfile
import typing
from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, ClassVar, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from springhead.names import extension_name_problem, is_dns_subdomain

__all__ = [
    "BackoffPolicy",
    "ConfigError",
    "ContentMode",
    "EventLoop",
    "FromFile",
    "IsoDuration",
    "KafkaAccess",
    "KubeAccess",
    "LeaseSettings",
    "PrefixedSettings",
    "ProcessSettings",
    "SPEC_ATTRIBUTES",
    "SaslMechanism",
    "Secret",
    "SecretText",
    "SourceSettings",
    "empty_as_unset",
    "http_url",
    "json_text",
    "label_selector_text",
    "load_settings",
    "namespace_names",
    "namespace_selector_text",
    "source_variables_in",
]

#: CloudEvents context attributes an override may not replace (spec attributes, not extensions).
SPEC_ATTRIBUTES = frozenset(
    {
        "id",
        "source",
        "specversion",
        "type",
        "datacontenttype",
        "dataschema",
        "subject",
        "time",
        "data",
        "data_base64",
    }
)

_ISO_DURATION = re.compile(
    r"^P(?!$)(\d+(\.\d+)?Y)?(\d+(\.\d+)?M)?(\d+(\.\d+)?W)?(\d+(\.\d+)?D)?"
    r"(T(?=\d)(\d+(\.\d+)?H)?(\d+(\.\d+)?M)?(\d+(\.\d+)?S)?)?$"
)


def _iso_duration_text(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str) or not _ISO_DURATION.match(value.strip()):
        raise ValueError(f"expected an ISO-8601 duration such as PT0.2S or PT1M, got {value!r}")
    return value.strip()


#: An ISO-8601 duration (``PT0.2S``, ``PT10M``, ``P1D``), never negative.
IsoDuration = Annotated[timedelta, BeforeValidator(_iso_duration_text)]


class ConfigError(Exception):
    """Bad configuration: ``variable`` names the environment variable, ``reason`` what is wrong."""

    def __init__(self, variable: str, reason: str) -> None:
        super().__init__(f"{variable}: {reason}")
        self.variable = variable
        self.reason = reason


class FromFile:
    """Marks a setting ``X`` that may instead come from a file: ``X_FILE`` names it.

    The one convention for every secret (and key material) in every Springhead process: give the
    value in ``X``, or mount it (a Kubernetes Secret as a file) and name the file in ``X_FILE``.
    The file is read once at start-up; line breaks at its end are not part of the value. Setting
    both, an unreadable file and an empty file are configuration errors naming ``X_FILE``. An
    empty ``X`` counts as unset (charts render unset values as ``""``).
    """


def empty_as_unset(value: Any) -> Any:
    """A ``BeforeValidator`` for optional settings: an empty (or blank) variable means unset,
    as charts render unset values as ``""``."""
    return None if isinstance(value, str) and not value.strip() else value


#: A secret setting (a password, a token, a key): ``X`` or the file ``X_FILE`` names; hidden in
#: reprs and logs.
Secret = Annotated[SecretStr | None, BeforeValidator(empty_as_unset), FromFile()]
#: Text that may come from a file the same way but is not secret (a CA bundle, a certificate).
SecretText = Annotated[str | None, BeforeValidator(empty_as_unset), FromFile()]


class BackoffPolicy(StrEnum):
    """How the delay between delivery attempts grows (Knative ``backoffPolicy``)."""

    LINEAR = "linear"
    EXPONENTIAL = "exponential"


class EventLoop(StrEnum):
    """The asyncio event loop a source runs on (``SPRINGHEAD_EVENT_LOOP``)."""

    AUTO = "auto"
    """uvloop when installed (the webhook sources' images have it), else asyncio's."""
    ASYNCIO = "asyncio"
    """The standard library's loop: the smallest footprint (no uvloop library in memory)."""
    UVLOOP = "uvloop"
    """uvloop, required: a start-up error when it is not installed."""


class ContentMode(StrEnum):
    """CloudEvents HTTP content mode used towards the sink."""

    BINARY = "binary"
    STRUCTURED = "structured"


def http_url(value: str | None) -> str | None:
    """An absolute ``http://`` or ``https://`` URL as given (None stays None); else ValueError.

    For an optional URL setting put ``empty_as_unset`` before it, so that ``""`` means unset."""
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"must be an absolute http:// or https:// URL, got {value!r}")
    return value


def json_text(value: Any) -> Any:
    """``value`` parsed as JSON when it is text (blank text: None); other values unchanged."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None


_SELECTOR_OPERATORS = {"In": "in", "NotIn": "notin"}


def label_selector_text(value: Any) -> str:
    """A label selector as Kubernetes' text form.

    Accepts the text form itself (``app=web,tier!=db``) or a ``LabelSelector`` object
    (``{"matchLabels": {...}, "matchExpressions": [{"key", "operator", "values"}]}``), as
    Knative's ``selector`` and ``namespaceSelector`` fields hold.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if not isinstance(value, dict):
        raise ValueError("a label selector is a string or a {matchLabels, matchExpressions} object")
    unknown = set(value) - {"matchLabels", "matchExpressions"}
    if unknown:
        raise ValueError(f"unknown label selector field(s): {', '.join(sorted(unknown))}")
    parts = [f"{k}={v}" for k, v in sorted((value.get("matchLabels") or {}).items())]
    for expression in value.get("matchExpressions") or ():
        if not isinstance(expression, dict) or not expression.get("key"):
            raise ValueError("each matchExpressions entry needs a key and an operator")
        key, operator = str(expression["key"]), expression.get("operator")
        values = [str(v) for v in expression.get("values") or ()]
        if operator in _SELECTOR_OPERATORS:
            if not values:
                raise ValueError(f"operator {operator} on {key!r} needs values")
            parts.append(f"{key} {_SELECTOR_OPERATORS[operator]} ({','.join(values)})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
        else:
            raise ValueError(
                f"operator {operator!r} on {key!r}: expected In, NotIn, Exists or DoesNotExist"
            )
    return ",".join(parts)


def namespace_names(value: Any) -> Any:
    """A ``BeforeValidator`` for a list of namespaces: comma-separated text or a JSON list;
    blank text is unset (None). Checking the names is the setting's business."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.startswith("["):
            return json_text(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


def namespace_selector_text(value: Any) -> Any:
    """A ``BeforeValidator`` for a label selector on namespaces: Kubernetes' text form, or a
    ``LabelSelector`` JSON object made text (:func:`label_selector_text`; ``{}`` gives ``""``,
    every namespace); blank text is unset (None)."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if not text.startswith("{"):
            return text
        value = json_text(text)
    return value if value is None else label_selector_text(value)


def _parse_overrides(value: Any) -> dict[str, str]:
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    if not isinstance(value, Mapping):
        raise ValueError('expected a JSON object like {"extensions": {"name": "value"}}')
    extensions = value.get("extensions") or {}
    if not isinstance(extensions, Mapping):
        raise ValueError('"extensions" must be a JSON object of name -> string value')
    parsed: dict[str, str] = {}
    for name, ext_value in extensions.items():
        if name in SPEC_ATTRIBUTES:
            raise ValueError(
                f"override {name!r} names a CloudEvents spec attribute; only extensions may be "
                "overridden"
            )
        problem = extension_name_problem(name)
        if problem is not None:
            raise ValueError(problem)
        if not isinstance(ext_value, str | int | bool) or ext_value is None:
            raise ValueError(f"extension {name!r} must have a string value")
        parsed[name] = str(ext_value).lower() if isinstance(ext_value, bool) else str(ext_value)
    return parsed


def _check_pem(value: str | None) -> str | None:
    if not value:
        return None
    try:
        ssl.create_default_context(cadata=value)
    except (ssl.SSLError, ValueError) as exc:
        raise ValueError(f"not a valid PEM certificate bundle ({exc})") from None
    return value


def _from_file(field: FieldInfo) -> bool:
    return any(isinstance(item, FromFile) for item in field.metadata)


def _read_value_file(variable: str, path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(variable, f"cannot read {path}: {exc}") from None
    # A mounted Secret's file often ends with a newline that is not part of the value.
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigError(variable, f"{path} is empty")
    return value


class ProcessSettings(BaseSettings):
    """What every Springhead process reads: who it is (for logs and metrics), its one HTTP port
    (health, metrics and any webhook routes), logging, shutdown and the event loop.

    A process that sends no events subclasses this directly and adds its own fields; each field
    names its environment variable through ``validation_alias``.
    """

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=True)

    namespace: str = Field(default="default", min_length=1, validation_alias="NAMESPACE")
    """Namespace of the source object (``NAMESPACE``); sent as the ``Kn-Namespace`` header."""

    name: str = Field(default="springhead", min_length=1, validation_alias="NAME")
    """Name of the source object (``NAME``)."""

    component: str = Field(default="springhead", validation_alias="K_COMPONENT")
    """Component name used in logs and metrics (``K_COMPONENT``)."""

    port: int = Field(default=8080, ge=0, le=65535, validation_alias="SPRINGHEAD_PORT")
    """Port serving /healthz, /readyz and /metrics (0 = any free port)."""

    host: str = Field(default="0.0.0.0", validation_alias="SPRINGHEAD_HOST")  # noqa: S104
    """Address the health and metrics server binds to."""

    head_timeout: IsoDuration = Field(
        default=timedelta(seconds=10), gt=timedelta(0), validation_alias="SPRINGHEAD_HEAD_TIMEOUT"
    )
    """How long a request head (request line and headers) may take to arrive whole on the port,
    from its first byte or the connection's opening; then 408, or the connection closes if nothing
    came (ISO-8601, default PT10S: GitHub abandons a whole delivery after 10 s)."""

    body_timeout: IsoDuration = Field(
        default=timedelta(seconds=30), gt=timedelta(0), validation_alias="SPRINGHEAD_BODY_TIMEOUT"
    )
    """How long a request body may take to arrive whole once its head did; then 408, and a
    webhook's request slot is free again (ISO-8601, default PT30S: a 1 MiB body at 35 KB/s or
    more)."""

    idle_timeout: IsoDuration = Field(
        default=timedelta(seconds=75), gt=timedelta(0), validation_alias="SPRINGHEAD_IDLE_TIMEOUT"
    )
    """How long a kept-alive connection may stay idle between requests (ISO-8601, default PT75S:
    callers that pool connections keep them a while, and closing sooner races their next
    request)."""

    max_inbound_connections: int = Field(
        default=1024, ge=1, validation_alias="SPRINGHEAD_MAX_INBOUND_CONNECTIONS"
    )
    """Connections to the port open at once; one more is closed at once (after a 503). Each
    holds at most one request head (64 KiB) while it arrives: 64 MiB of heads at the default."""

    shutdown_grace: IsoDuration = Field(
        default=timedelta(seconds=25), validation_alias="SPRINGHEAD_SHUTDOWN_GRACE"
    )
    """How long in-flight deliveries may take to finish after SIGTERM (ISO-8601, default PT25S)."""

    revision: str = Field(default="", validation_alias="SPRINGHEAD_REVISION")
    """The source revision (git commit) the running build came from: set by the image build, not
    by users. Shown by ``--version`` and in ``springhead_build_info``; unset in a development
    checkout, where the version names the commit."""

    log_level: str = Field(default="INFO", validation_alias="SPRINGHEAD_LOG_LEVEL")
    """Log level: DEBUG, INFO, WARNING or ERROR."""

    event_loop: EventLoop = Field(default=EventLoop.AUTO, validation_alias="SPRINGHEAD_EVENT_LOOP")
    """Event loop: ``auto`` (uvloop when installed: the HTTP and GitHub images install it; fewer
    instructions per request for a little more memory, bench/RESULTS.md (z)), ``asyncio`` (the
    smallest footprint) or ``uvloop`` (an error when it is not installed)."""

    _from_files: set[str] = PrivateAttr(default_factory=set)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        added = False
        for name, field in list(cls.model_fields.items()):
            companion = f"{name}_file"
            if _from_file(field) and companion not in cls.model_fields:
                cls.model_fields[companion] = FieldInfo(
                    annotation=str | None,
                    default=None,
                    validation_alias=f"{field.validation_alias}_FILE",
                    description=f"File holding {field.validation_alias} (instead of it).",
                )
                added = True
        if added:
            cls.model_rebuild(force=True)

    @model_validator(mode="after")
    def _values_from_files(self) -> Self:
        for name, field in type(self).model_fields.items():
            if not _from_file(field):
                continue
            path = getattr(self, f"{name}_file", None)
            if not path:
                continue
            variable = str(field.validation_alias)
            if name in self._from_files:
                continue  # already read (the validator may run once per class that uses it)
            if getattr(self, name) is not None:
                raise ConfigError(
                    f"{variable}_FILE", f"{variable} and {variable}_FILE cannot both be set"
                )
            text = _read_value_file(f"{variable}_FILE", path)
            secret = SecretStr in typing.get_args(field.annotation)
            object.__setattr__(self, name, SecretStr(text) if secret else text)
            self._from_files.add(name)
        return self

    def file_of(self, field: str) -> str | None:
        """The file ``X_FILE`` named for the :class:`FromFile` setting ``field``, or None when
        the value came from ``X`` (or nowhere)."""
        path = getattr(self, f"{field}_file", None)
        return str(path) if path else None

    def variable_of(self, field: str) -> str:
        """The variable ``field``'s value was given in: ``X_FILE`` when from a file, else ``X``."""
        alias = str(type(self).model_fields[field].validation_alias)
        return f"{alias}_FILE" if self.file_of(field) else alias

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, got {value!r}")
        return level

    @property
    def source_name(self) -> str:
        """``<namespace>/<name>``: how logs and metrics name this process."""
        return f"{self.namespace}/{self.name}"


class PrefixedSettings(ProcessSettings):
    """A settings group whose variables carry the service's own prefix.

    A group lists its fields in ``prefixed_fields``; a service's settings class sets
    ``settings_prefix`` (``"PING"``), and each of those fields then reads
    ``<prefix>_<FIELD NAME IN UPPER CASE>`` (``lease_duration`` -> ``PING_LEASE_DURATION``). So a
    group is written, documented and validated once, and every service keeps its own variable
    names.
    """

    settings_prefix: ClassVar[str] = ""
    """The service's prefix, set by the class that uses the group."""
    prefixed_fields: ClassVar[tuple[str, ...]] = ()
    """This group's fields (each group class lists its own)."""

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.settings_prefix:
            return
        names = [name for klass in cls.__mro__ for name in vars(klass).get("prefixed_fields", ())]
        changed = False
        for name in names:
            field = cls.model_fields[name]
            variable = f"{cls.settings_prefix}_{name.upper()}"
            if field.validation_alias != variable:
                field.validation_alias = variable
                changed = True
        if changed:
            cls.model_rebuild(force=True)

    @classmethod
    def variable(cls, field: str) -> str:
        """The environment variable ``field`` is read from."""
        alias = cls.model_fields[field].validation_alias
        return alias if isinstance(alias, str) else field.upper()


def _kubeconfig_file(value: str | None) -> str | None:
    if not value:
        return None
    if not Path(value).is_file():
        raise ValueError(f"no such file: {value}")
    return value


class KubeAccess(PrefixedSettings):
    """How a process reaches the Kubernetes API server (``<prefix>_KUBECONFIG``)."""

    prefixed_fields: ClassVar[tuple[str, ...]] = ("kubeconfig",)

    kubeconfig: Annotated[str | None, AfterValidator(_kubeconfig_file)] = None
    """Kubeconfig file for reaching the API server; unset or empty means the pod's service
    account (in-cluster configuration)."""


class LeaseSettings(PrefixedSettings):
    """Leader election over a Kubernetes Lease, so that of several replicas one acts
    (``<prefix>_LEADER_ELECTION`` and ``<prefix>_LEASE_*``).

    The timings follow client-go's rules, checked once here: the duration is whole seconds (the
    Lease stores seconds), the renew deadline is shorter than it, and the retry period times
    1.2 (its jitter) is shorter than the renew deadline. They are checked only when leader
    election is on.
    """

    prefixed_fields: ClassVar[tuple[str, ...]] = (
        "leader_election",
        "lease_name",
        "lease_namespace",
        "lease_duration",
        "lease_renew_deadline",
        "lease_retry_period",
    )

    leader_election: bool = False
    """Act only while holding the Lease, so several replicas are safe. Needs API access to
    Leases."""

    lease_name: str = ""
    """Name of the Lease the replicas share; empty means the service's default name."""

    lease_namespace: str = ""
    """Namespace of the Lease; empty means ``NAMESPACE``."""

    lease_duration: IsoDuration = timedelta(seconds=15)
    """How long a standby waits after the leader's last renewal before taking over (whole
    seconds, at least PT1S)."""

    lease_renew_deadline: IsoDuration = timedelta(seconds=10)
    """How long the leader keeps trying to renew before it stops acting (below the duration)."""

    lease_retry_period: IsoDuration = timedelta(seconds=2)
    """How often the leader renews and a standby tries to take over."""

    def default_lease_name(self) -> str:
        """The Lease's name when none is set (a service overrides it)."""
        return self.component

    @property
    def effective_lease_name(self) -> str:
        """The Lease's name: the setting, else :meth:`default_lease_name`."""
        return self.lease_name or self.default_lease_name()

    @property
    def effective_lease_namespace(self) -> str:
        """The Lease's namespace: the setting, else ``NAMESPACE``."""
        return self.lease_namespace or self.namespace

    @model_validator(mode="after")
    def _check_lease(self) -> Self:
        if not self.leader_election:
            return self
        name = self.effective_lease_name
        if not is_dns_subdomain(name):
            raise ConfigError(self.variable("lease_name"), f"{name!r} is not a valid Lease name")
        duration = self.lease_duration.total_seconds()
        deadline = self.lease_renew_deadline.total_seconds()
        retry = self.lease_retry_period.total_seconds()
        if duration < 1 or duration != int(duration):
            raise ConfigError(
                self.variable("lease_duration"), "must be whole seconds, at least PT1S"
            )
        if not deadline < duration:
            raise ConfigError(
                self.variable("lease_renew_deadline"),
                f"must be shorter than {self.variable('lease_duration')}",
            )
        if not 0 < retry * 1.2 < deadline:
            raise ConfigError(
                self.variable("lease_retry_period"),
                "must be positive and, times 1.2, shorter than "
                f"{self.variable('lease_renew_deadline')}",
            )
        return self


class SaslMechanism(StrEnum):
    """SASL mechanisms for Kafka (Knative's ``net.sasl.type``)."""

    PLAIN = "PLAIN"
    SCRAM_SHA_256 = "SCRAM-SHA-256"
    SCRAM_SHA_512 = "SCRAM-SHA-512"


_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[^\s:/\[\]]+)(:\d{1,5})?$")


def _comma_list(value: Any) -> Any:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def _sasl_mechanism(value: Any) -> Any:
    value = empty_as_unset(value)
    return value.strip().upper() if isinstance(value, str) else value


class KafkaAccess(ProcessSettings):
    """How a process reaches Apache Kafka: the brokers, SASL and TLS (``KAFKA_*``; Knative's
    KafkaSource ``net`` spec). One group for every process that talks to Kafka (the Kafka
    source, the broker data plane, the controller's admin client), so each reads the same
    variables, checked the same way.

    :meth:`kafka_options` turns them into Kafka client options; the TLS context is built once,
    when the settings load (before the event loop runs: a client certificate is read from
    files).
    """

    bootstrap_servers: Annotated[list[str], NoDecode, BeforeValidator(_comma_list)] = Field(
        default_factory=list, validation_alias="KAFKA_BOOTSTRAP_SERVERS"
    )
    """``bootstrapServers``: ``host:port`` of one or more Kafka brokers, comma-separated."""

    sasl_mechanism: Annotated[SaslMechanism | None, BeforeValidator(_sasl_mechanism)] = Field(
        default=None, validation_alias="KAFKA_SASL_MECHANISM"
    )
    """``net.sasl.type``: ``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``; empty: no SASL."""

    sasl_user: Annotated[str | None, BeforeValidator(empty_as_unset)] = Field(
        default=None, validation_alias="KAFKA_SASL_USER"
    )
    """``net.sasl.user``: the SASL user name."""

    sasl_password: Secret = Field(default=None, validation_alias="KAFKA_SASL_PASSWORD", repr=False)
    """``net.sasl.password``: the SASL password; or ``KAFKA_SASL_PASSWORD_FILE``."""

    tls_enable: bool = Field(default=False, validation_alias="KAFKA_TLS_ENABLE")
    """``net.tls.enable``: connect with TLS (implied by any ``KAFKA_TLS_*`` certificate setting);
    the system CAs are trusted unless ``KAFKA_TLS_CA_CERT`` is set."""

    tls_ca_cert: SecretText = Field(default=None, validation_alias="KAFKA_TLS_CA_CERT")
    """``net.tls.caCert``: CA certificates (PEM) that sign the brokers' certificates; or
    ``KAFKA_TLS_CA_CERT_FILE``."""

    tls_cert: SecretText = Field(default=None, validation_alias="KAFKA_TLS_CERT")
    """``net.tls.cert``: client certificate for mutual TLS (PEM); or ``KAFKA_TLS_CERT_FILE``."""

    tls_key: Secret = Field(default=None, validation_alias="KAFKA_TLS_KEY")
    """``net.tls.key``: the client certificate's private key (PEM, unencrypted); or
    ``KAFKA_TLS_KEY_FILE``."""

    _ssl: ssl.SSLContext | None = PrivateAttr(default=None)

    @field_validator("bootstrap_servers")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        for server in value:
            match = _HOST_PORT.match(server)
            port = match.group(2) if match else None
            if match is None or (port is not None and not 0 < int(port[1:]) < 65536):
                raise ValueError(f"{server!r} is not host:port")
        return value

    @model_validator(mode="after")
    def _check_kafka_access(self) -> Self:
        self._check_sasl()
        self._check_tls()
        return self

    def _check_sasl(self) -> None:
        if self.sasl_mechanism is None:
            if self.sasl_user or self.sasl_password:
                raise ConfigError(
                    "KAFKA_SASL_MECHANISM", "required when KAFKA_SASL_USER or _PASSWORD is set"
                )
            return
        if not self.sasl_user:
            raise ConfigError("KAFKA_SASL_USER", f"required for SASL {self.sasl_mechanism}")
        if self.sasl_password is None:
            raise ConfigError("KAFKA_SASL_PASSWORD", f"required for SASL {self.sasl_mechanism}")

    def _check_tls(self) -> None:
        if bool(self.tls_cert) != bool(self.tls_key):
            missing = "KAFKA_TLS_KEY" if self.tls_cert else "KAFKA_TLS_CERT"
            raise ConfigError(missing, "KAFKA_TLS_CERT and KAFKA_TLS_KEY must be set together")
        if self.tls_ca_cert:
            try:
                ssl.create_default_context(cadata=self.tls_ca_cert)
            except (ssl.SSLError, ValueError) as exc:
                raise ConfigError(
                    self.variable_of("tls_ca_cert"), f"not a valid PEM certificate bundle ({exc})"
                ) from None
        if not self.tls:
            return
        try:
            self._ssl = self.ssl_context()
        except (ssl.SSLError, ValueError, OSError) as exc:
            raise ConfigError(
                self.variable_of("tls_cert"), f"certificate and key do not load ({exc})"
            ) from None

    @property
    def tls(self) -> bool:
        """Whether connections to the brokers use TLS."""
        return self.tls_enable or bool(self.tls_ca_cert or self.tls_cert)

    @property
    def security_protocol(self) -> str:
        """Kafka's ``security.protocol`` for these settings."""
        if self.sasl_mechanism is not None:
            return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
        return "SSL" if self.tls else "PLAINTEXT"

    def ssl_context(self) -> ssl.SSLContext:
        """A new TLS context trusting ``KAFKA_TLS_CA_CERT`` (or the system CAs) and presenting
        the client certificate when one is set. Reads and writes small files: call it off the
        loop."""
        context = ssl.create_default_context()
        if self.tls_ca_cert:
            context.load_verify_locations(cadata=self.tls_ca_cert)
        if self.tls_cert and self.tls_key is not None:
            # load_cert_chain reads files only: hand it private temporary copies.
            with tempfile.TemporaryDirectory(prefix="springhead-kafka-") as folder:
                cert, key = Path(folder, "cert.pem"), Path(folder, "key.pem")
                cert.write_text(self.tls_cert)
                key.touch(mode=0o600)
                key.write_text(self.tls_key.get_secret_value())
                context.load_cert_chain(str(cert), str(key))
        return context

    def kafka_options(self, bootstrap_servers: list[str] | None = None) -> dict[str, Any]:
        """Kafka client options (aiokafka's keyword names) for these brokers, SASL and TLS;
        ``bootstrap_servers`` replaces ``KAFKA_BOOTSTRAP_SERVERS`` (another cluster reached with
        the same credentials). The TLS context is the one built when the settings loaded."""
        options: dict[str, Any] = {
            "bootstrap_servers": list(bootstrap_servers or self.bootstrap_servers),
            "security_protocol": self.security_protocol,
        }
        if self._ssl is not None:
            options["ssl_context"] = self._ssl
        if self.sasl_mechanism is not None:
            password = self.sasl_password.get_secret_value() if self.sasl_password else None
            options.update(
                sasl_mechanism=self.sasl_mechanism.value,
                sasl_plain_username=self.sasl_user,
                sasl_plain_password=password,
            )
        return options


class SourceSettings(ProcessSettings):
    """A source's settings: the process's plus the Knative sink contract (``K_SINK`` and the
    rest) and Springhead's delivery settings (``SPRINGHEAD_DELIVERY_*``).

    Sources subclass this and add their own fields.
    """

    sink: Annotated[str, AfterValidator(http_url)] = Field(validation_alias="K_SINK")
    """Where events are POSTed (``K_SINK``); required."""

    ce_overrides: Annotated[dict[str, str], NoDecode, BeforeValidator(_parse_overrides)] = Field(
        default_factory=dict, validation_alias="K_CE_OVERRIDES"
    )
    """Extensions set on every event (``K_CE_OVERRIDES``: ``{"extensions": {...}}``; "" = none)."""

    ca_certs: Annotated[str | None, AfterValidator(_check_pem)] = Field(
        default=None, validation_alias="K_CA_CERTS"
    )
    """Extra trusted CA certificates (PEM) for an https sink (``K_CA_CERTS``)."""

    sink_timeout: int | None = Field(default=None, ge=1, validation_alias="K_SINK_TIMEOUT")
    """Per-request timeout in whole seconds (``K_SINK_TIMEOUT``); missing means none."""

    audience: str | None = Field(default=None, validation_alias="K_AUDIENCE")
    """OIDC audience of the sink (``K_AUDIENCE``); enables bearer-token authentication."""

    oidc_service_account: str | None = Field(
        default=None, validation_alias="K_OIDC_SERVICE_ACCOUNT"
    )
    """Service account whose token is presented to the sink (``K_OIDC_SERVICE_ACCOUNT``)."""

    oidc_token_file: str | None = Field(default=None, validation_alias="SPRINGHEAD_OIDC_TOKEN_FILE")
    """File holding the bearer token for ``K_AUDIENCE`` (a projected service-account token);
    re-read on every delivery so rotation needs no restart."""

    retry: int = Field(default=5, ge=0, le=1000, validation_alias="SPRINGHEAD_DELIVERY_RETRY")
    """Delivery ``retry``: attempts after the first (Knative default for sources: 5)."""

    backoff_policy: BackoffPolicy = Field(
        default=BackoffPolicy.EXPONENTIAL, validation_alias="SPRINGHEAD_DELIVERY_BACKOFF_POLICY"
    )
    """Delivery ``backoffPolicy``: ``linear`` (delay*n) or ``exponential`` (delay*2^n)."""

    backoff_delay: IsoDuration = Field(
        default=timedelta(milliseconds=200), validation_alias="SPRINGHEAD_DELIVERY_BACKOFF_DELAY"
    )
    """Delivery ``backoffDelay`` (ISO-8601, default PT0.2S)."""

    timeout: IsoDuration | None = Field(
        default=None, validation_alias="SPRINGHEAD_DELIVERY_TIMEOUT"
    )
    """Delivery ``timeout`` per attempt (ISO-8601); falls back to ``K_SINK_TIMEOUT``."""

    retry_after_max: IsoDuration | None = Field(
        default=None, validation_alias="SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX"
    )
    """Delivery ``retryAfterMax``: cap on a sink's Retry-After (ISO-8601); unset = no cap."""

    dead_letter_sink: Annotated[
        str | None, BeforeValidator(empty_as_unset), AfterValidator(http_url)
    ] = Field(default=None, validation_alias="SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK")
    """Delivery ``deadLetterSink``: URL receiving events whose retries are exhausted."""

    content_mode: ContentMode = Field(
        default=ContentMode.BINARY, validation_alias="SPRINGHEAD_CONTENT_MODE"
    )
    """``binary`` (default, as Knative) or ``structured`` CloudEvents HTTP content mode."""

    max_connections: int = Field(default=100, ge=1, validation_alias="SPRINGHEAD_MAX_CONNECTIONS")
    """Keep-alive connections to the sink kept in the pool at most."""

    @model_validator(mode="after")
    def _audience_needs_token(self) -> Self:
        if self.audience and not self.oidc_token_file:
            raise ConfigError(
                "SPRINGHEAD_OIDC_TOKEN_FILE",
                "K_AUDIENCE is set, so a token file for the sink's audience is required",
            )
        return self

    @property
    def attempt_timeout(self) -> float | None:
        """Per-attempt timeout in seconds: delivery ``timeout``, else ``K_SINK_TIMEOUT``."""
        if self.timeout is not None:
            return self.timeout.total_seconds()
        return float(self.sink_timeout) if self.sink_timeout is not None else None


SettingsT = TypeVar("SettingsT", bound=ProcessSettings)


def load_settings(settings_cls: type[SettingsT], env: Mapping[str, str] | None = None) -> SettingsT:
    """Build ``settings_cls`` from ``env`` (default: the process environment).

    Raises :class:`ConfigError` naming the first offending variable, so a caller can print one line.
    """
    try:
        if env is None:
            return settings_cls()  # values come from the environment
        return settings_cls.model_validate(dict(env))
    except ConfigError:
        raise
    except ValidationError as exc:
        raise _first_error(settings_cls, exc) from None
    except ValueError as exc:
        # pydantic-settings raises SettingsError (a ValueError) when a value fails to decode.
        raise ConfigError("environment", str(exc)) from None


def _first_error(settings_cls: type[ProcessSettings], exc: ValidationError) -> ConfigError:
    error = exc.errors()[0]
    loc = error.get("loc") or ()
    variable = str(loc[0]) if loc else "environment"
    field = settings_cls.model_fields.get(variable)
    if field is not None and isinstance(field.validation_alias, str):
        variable = field.validation_alias
    ctx_error = (error.get("ctx") or {}).get("error")
    if isinstance(ctx_error, ConfigError):
        return ctx_error
    message = str(ctx_error) if ctx_error is not None else error["msg"]
    if error["type"] == "missing":
        message = "required but not set"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return ConfigError(variable, message)


def source_variables_in(env: Mapping[str, str]) -> list[str]:
    """The variables in ``env`` that only a process sending events reads (``K_SINK``,
    ``SPRINGHEAD_DELIVERY_*`` ...): a process that sends nothing reports them rather than
    ignore them silently."""
    names = {
        str(field.validation_alias)
        for key, field in SourceSettings.model_fields.items()
        if key not in ProcessSettings.model_fields
    }
    return sorted(name for name in env if name in names)
