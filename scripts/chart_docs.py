"""The one source of every chart's ``values.schema.json``, of the settings templates
(``templates/_settings.tpl``), of the values tables in ``charts/README.md`` and of the
variables tables in the READMEs (``<!-- settings-table: NAME -->``, :data:`SETTINGS_TABLES`).

The settings classes are the truth: each environment variable a chart's processes read is found
by walking the classes' fields (:func:`settings_of`), placed at a values path (:data:`CHARTED`:
by a rule from its name, or named where the chart's values do not follow the rule), and from the
field come the schema leaf (type, bounds, choices), its description (the field's docstring) and,
for a variable a value maps to one-to-one, its line in the generated template. What only a chart
knows (images, pods, secrets in existing Secrets, cross-field rules, stricter patterns) is
written here once and composed into every chart that has it.

``uv run --no-sync python scripts/chart_docs.py`` rewrites the generated files;
``tests/charts/test_docs.py`` fails when a committed file differs from what this prints, and
``tests/charts/test_settings.py`` when a variable of a settings class has no place in its chart.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import re
import sys
import textwrap
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import yaml  # type: ignore[import-untyped]
from feed_source.config import FeedSettings
from pydantic import AliasChoices, AliasPath, BaseModel
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings
from springhead.config import ProcessSettings, SourceSettings
from springhead.names import DNS_LABEL_PATTERN, EXTENSION_NAME_PATTERN, extension_name_problem
from springhead.webhook import WebhookSettings
from springhead_apiserver.config import ApiServerSettings
from springhead_broker.config import BrokerSettings
from springhead_controller.config import ControllerSettings
from springhead_display.config import DisplaySettings
from springhead_github.config import GitHubSettings, HookSettings
from springhead_http.config import HttpSettings
from springhead_kafka.config import KafkaSettings
from springhead_ping.config import PingSettings

__all__ = [
    "CHARTED",
    "CHARTS",
    "CHARTS_DIR",
    "README",
    "SHARED",
    "Bound",
    "Charted",
    "Setting",
    "bound_settings",
    "chart_schema",
    "chart_settings",
    "generated_files",
    "leaf_paths",
    "readme_text",
    "settings_readme_text",
    "settings_table",
    "settings_group",
    "settings_of",
    "table_for",
    "unplaced",
    "value_kind",
    "write_all",
]

CHARTS_DIR = Path(__file__).resolve().parents[1] / "charts"
README = CHARTS_DIR / "README.md"
SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

Schema = dict[str, Any]

# -- the settings classes, read generically --------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One environment variable a settings class reads."""

    env: str
    """The variable's name."""
    field: str
    """The dotted field path in the settings object (nested groups included)."""
    owner: type
    """The class that declares the field (where its documentation lives)."""
    info: FieldInfo
    """pydantic's field (type, default, constraints)."""
    description: str
    """The field's description, or its attribute docstring."""
    file_for: str = ""
    """For ``X_FILE``, the companion of a secret ``X`` read from the file it names: ``X``."""


@functools.cache
def _attribute_docstrings(cls: type) -> dict[str, str]:
    """``name -> docstring`` of the attributes ``cls`` itself declares (a string literal right
    after an annotated assignment, as Sphinx and pydantic's ``use_attribute_docstrings`` read)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    [node] = ast.parse(source).body
    body = node.body if isinstance(node, ast.ClassDef) else []
    for statement, following in zip(body, body[1:], strict=False):
        if (
            isinstance(statement, ast.AnnAssign)
            and isinstance(statement.target, ast.Name)
            and isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[statement.target.id] = inspect.cleandoc(following.value.value)
    return docs


def _documentation(cls: type, name: str) -> tuple[type, str]:
    """Where field ``name`` of ``cls`` is declared, and its description: ``Field(description=)``
    or the attribute docstring of the most derived class that declares the field."""
    for klass in cls.__mro__:
        if name in klass.__dict__.get("__annotations__", {}):
            return klass, _attribute_docstrings(klass).get(name, "")
    return cls, ""


def _env_names(cls: type[BaseModel], name: str, info: FieldInfo, prefix: str) -> list[str]:
    """The variables field ``name`` is read from, in pydantic-settings' order of preference."""
    alias = info.validation_alias if info.validation_alias is not None else info.alias
    if isinstance(alias, str):
        return [alias]
    if isinstance(alias, AliasPath):
        return [str(alias.path[0])]
    if isinstance(alias, AliasChoices):
        names: list[str] = []
        for choice in alias.choices:
            first = choice if isinstance(choice, str) else choice.path[0]
            names.append(str(first))
        return names
    config = cls.model_config
    env = f"{prefix}{config.get('env_prefix', '')}{name}"
    return [env if config.get("case_sensitive") else env.upper()]


def settings_group(annotation: Any) -> type[BaseModel] | None:
    """The model class of a nested settings group (a field whose type is a model), if any."""
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


@functools.cache
def settings_of(cls: type[BaseModel], *, _prefix: str = "", _path: str = "") -> tuple[Setting, ...]:
    """Every environment variable ``cls`` reads, in field order (inherited fields first, as
    pydantic orders them). A field typed as a :class:`BaseSettings` subclass is a group read
    with its own prefixes; a field typed as a plain model is a group only when the class sets
    ``env_nested_delimiter`` (otherwise it is one variable holding JSON)."""
    settings: list[Setting] = []
    delimiter = cls.model_config.get("env_nested_delimiter")
    for name, info in cls.model_fields.items():
        group = settings_group(info.annotation)
        path = f"{_path}{name}"
        if group is not None and issubclass(group, BaseSettings):
            settings += settings_of(group, _prefix=_prefix, _path=f"{path}.")
            continue
        [env, *_] = _env_names(cls, name, info, _prefix)
        if group is not None and delimiter:
            settings += settings_of(group, _prefix=f"{env}{delimiter}", _path=f"{path}.")
            continue
        owner, doc = _documentation(cls, name)
        base = cls.model_fields.get(name.removesuffix("_file")) if name.endswith("_file") else None
        file_for = ""
        if base is not None and env == f"{_env_names(cls, name[:-5], base, _prefix)[0]}_FILE":
            file_for = env.removesuffix("_FILE")
        settings.append(Setting(env, path, owner, info, info.description or doc, file_for))
    return tuple(settings)


# -- where each setting lives in a chart ------------------------------------------------------


@dataclass(frozen=True)
class Charted:
    """How a chart gives the variables of its processes' settings classes.

    Every variable is one of: a value (``values.<path>``; the path follows from the variable's
    name by ``sections`` unless ``paths`` names it), mapped one-to-one by a generated template
    (``_settings.tpl``) or, when listed in ``by_hand``, by the chart's own ``_env.tpl``;
    ``fixed`` by the chart itself; or ``absent``: not a value of the chart (settable through
    ``extraEnv``). Each non-value entry says why. A secret's ``X_FILE`` companion is never a
    value: the chart gives ``X`` from an existing Secret (``secretKeyRef``); ``X_FILE`` is for a
    file mounted by other means (``extraEnv`` and a volume).
    """

    classes: tuple[type[BaseModel], ...]
    """The settings classes the chart's processes read."""
    sections: tuple[tuple[str, str], ...] = ()
    """``(variable prefix, values section)``: ``PING_SOME_THING`` -> ``ping.someThing``."""
    paths: Mapping[str, str] = field(default_factory=dict)
    """Variables whose values path does not follow from their name."""
    by_hand: frozenset[str] = frozenset()
    """Variables the chart's ``_env.tpl`` renders itself (secrets, JSON, computed defaults)."""
    flags: Mapping[str, str] = field(default_factory=dict)
    """Booleans rendered with another text than "" when false (default: "true" or left out)."""
    fixed: Mapping[str, str] = field(default_factory=dict)
    absent: Mapping[str, str] = field(default_factory=dict)
    templates: tuple[tuple[str, str], ...] = ()
    """``(define, values prefix)``: the generated templates, each mapping the variables whose
    values path is under the prefix (``""``: the top level)."""


def _camel(words: str) -> str:
    head, *tail = words.lower().split("_")
    return head + "".join(word.capitalize() for word in tail)


#: Where the charts that talk to Kafka (kafka, broker, controller) put SASL and TLS: one
#: ``kafka.sasl`` and ``kafka.tls`` shape, the credentials as keys of existing Secrets.
KAFKA_SECURITY_PATHS = {
    "KAFKA_SASL_MECHANISM": "kafka.sasl.mechanism",
    "KAFKA_SASL_USER": "kafka.sasl.userKey",
    "KAFKA_SASL_PASSWORD": "kafka.sasl.passwordKey",
    "KAFKA_TLS_ENABLE": "kafka.tls.enabled",
    "KAFKA_TLS_CA_CERT": "kafka.tls.caCertKey",
    "KAFKA_TLS_CERT": "kafka.tls.certKey",
    "KAFKA_TLS_KEY": "kafka.tls.keyKey",
}
#: The variables the library chart's ``springhead-common.kafkaSecretEnv`` renders (secretKeyRef).
KAFKA_SECRETS = frozenset(
    {
        "KAFKA_SASL_USER",
        "KAFKA_SASL_PASSWORD",
        "KAFKA_TLS_CA_CERT",
        "KAFKA_TLS_CERT",
        "KAFKA_TLS_KEY",
    }
)


#: How every chart gives the shared settings (the adapter contract, the delivery spec, the
#: runtime, webhook receiving).
SHARED = Charted(
    classes=(ProcessSettings, SourceSettings, WebhookSettings),
    sections=(("SPRINGHEAD_DELIVERY_", "delivery"), ("WEBHOOK_", "webhook"), ("SPRINGHEAD_", "")),
    paths={
        "K_SINK": "sink.uri",
        "K_CA_CERTS": "sink.caCerts",
        "K_CE_OVERRIDES": "ceOverrides.extensions",
        "SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK": "delivery.deadLetterSink.uri",
        "SPRINGHEAD_HEAD_TIMEOUT": "webhook.headTimeout",
        "SPRINGHEAD_BODY_TIMEOUT": "webhook.bodyTimeout",
        "SPRINGHEAD_IDLE_TIMEOUT": "webhook.idleTimeout",
        "SPRINGHEAD_MAX_INBOUND_CONNECTIONS": "webhook.maxConnections",
        "WEBHOOK_BEARER_TOKEN": "webhook.auth.bearerTokenKey",
        "WEBHOOK_BASIC_USER": "webhook.auth.basicUserKey",
        "WEBHOOK_BASIC_PASSWORD": "webhook.auth.basicPasswordKey",
    },
    by_hand=frozenset(
        {
            "K_SINK",
            "K_CA_CERTS",
            "K_CE_OVERRIDES",
            "WEBHOOK_BEARER_TOKEN",
            "WEBHOOK_BASIC_USER",
            "WEBHOOK_BASIC_PASSWORD",
        }
    ),
    fixed={
        "NAMESPACE": "the release's namespace (fieldRef)",
        "NAME": "the release's full name",
        "K_COMPONENT": "springhead-<chart>",
        "SPRINGHEAD_PORT": "8080, the port the probes, the Service and the ServiceMonitor use",
    },
    absent={
        "K_SINK_TIMEOUT": "Knative's variable; the chart sets delivery.timeout instead",
        "K_AUDIENCE": "injected by Knative's OIDC support, not by the chart",
        "K_OIDC_SERVICE_ACCOUNT": "injected by Knative's OIDC support, not by the chart",
        "SPRINGHEAD_OIDC_TOKEN_FILE": "a projected token: extraEnv with a volume of one's own",
        "SPRINGHEAD_MAX_CONNECTIONS": "not a chart value yet (extraEnv)",
        "SPRINGHEAD_HOST": "the pod listens on every address",
        "SPRINGHEAD_EVENT_LOOP": "the image's default; extraEnv to change it",
        "SPRINGHEAD_REVISION": "set by the image build (the commit it was built from)",
    },
    templates=(
        ("springhead-common.deliveryEnv", "delivery"),
        ("springhead-common.webhookSettingsEnv", "webhook"),
        ("springhead-common.runtimeEnv", ""),
    ),
)

#: What only a webhook source's settings mean (the others' port serves health and metrics).
_RECEIVER_ONLY = {
    env: "no webhook: the port serves health, readiness and metrics only"
    for env in (
        "SPRINGHEAD_HEAD_TIMEOUT", "SPRINGHEAD_BODY_TIMEOUT", "SPRINGHEAD_IDLE_TIMEOUT",
        "SPRINGHEAD_MAX_INBOUND_CONNECTIONS",
    )
}  # fmt: skip

#: Chart directory -> how it gives its processes' settings (the shared ones from SHARED).
CHARTED: dict[str, Charted] = {
    "ping": Charted(
        classes=(PingSettings,),
        sections=(("PING_", "ping"),),
        paths={
            "PING_LEADER_ELECTION": "ping.leaderElection.enabled",
            "PING_LEASE_NAME": "ping.leaderElection.leaseName",
            "PING_LEASE_DURATION": "ping.leaderElection.leaseDuration",
            "PING_LEASE_RENEW_DEADLINE": "ping.leaderElection.renewDeadline",
            "PING_LEASE_RETRY_PERIOD": "ping.leaderElection.retryPeriod",
        },
        by_hand=frozenset(
            {
                "PING_MULTI_TENANT",
                "PING_NAMESPACES",
                "PING_NAMESPACE_SELECTOR",
                "PING_LEADER_ELECTION",
                "PING_LEASE_NAME",
                "PING_LEASE_DURATION",
                "PING_LEASE_RENEW_DEADLINE",
                "PING_LEASE_RETRY_PERIOD",
            }
        ),
        absent={
            "PING_LEASE_NAMESPACE": "the Lease is in the release's namespace (the Role's)",
            "PING_KUBECONFIG": "in a pod: its ServiceAccount",
            **_RECEIVER_ONLY,
        },
        templates=(("springhead-ping.settingsEnv", "ping"),),
    ),
    "http": Charted(
        classes=(HttpSettings,),
        sections=(("HTTP_", "http"),),
        paths={
            "HTTP_HMAC_SECRET": "http.hmac.key",
            "HTTP_HMAC_HEADER": "http.hmac.header",
        },
        by_hand=frozenset({"HTTP_HEADER_EXTENSIONS", "HTTP_HMAC_SECRET"}),
        templates=(("springhead-http.settingsEnv", "http"),),
    ),
    "github": Charted(
        classes=(GitHubSettings, HookSettings),
        sections=(("GITHUB_", "github"),),
        paths={
            "GITHUB_API_URL": "github.apiURL",
            "GITHUB_WEB_URL": "github.webURL",
            "GITHUB_WEBHOOK_SECRET": "github.webhookSecret.key",
            "GITHUB_WEBHOOK_URL": "hooks.webhookURL",
            "GITHUB_HOOK_ACTIVE": "hooks.active",
            "GITHUB_HOOK_INSECURE_SSL": "hooks.insecureSSL",
            "GITHUB_TOKEN": "hooks.token.key",
            "GITHUB_APP_ID": "hooks.app.id",
            "GITHUB_APP_INSTALLATION_ID": "hooks.app.installationId",
            "GITHUB_APP_PRIVATE_KEY": "hooks.app.privateKey.key",
            "GITHUB_REDELIVER_WINDOW": "hooks.redeliver.window",
        },
        by_hand=frozenset({"GITHUB_WEBHOOK_SECRET", "GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY"}),
        flags={"GITHUB_HOOK_ACTIVE": "false", "GITHUB_HOOK_INSECURE_SSL": "false"},
        templates=(
            ("springhead-github.settingsEnv", "github"),
            ("springhead-github.hookSettingsEnv", "hooks"),
        ),
    ),
    "kafka": Charted(
        classes=(KafkaSettings,),
        sections=(("KAFKA_", "kafka"),),
        paths=KAFKA_SECURITY_PATHS,
        by_hand=KAFKA_SECRETS,
        absent=_RECEIVER_ONLY,
        templates=(("springhead-kafka.settingsEnv", "kafka"),),
    ),
    "apiserver": Charted(
        classes=(ApiServerSettings,),
        sections=(("APISERVER_", "apiserver"),),
        paths={"APISERVER_STATE_CONFIGMAP": "apiserver.stateConfigMap.name"},
        by_hand=frozenset(
            {
                "APISERVER_RESOURCES",
                "APISERVER_NAMESPACE_SELECTOR",
                "APISERVER_OWNER",
                "APISERVER_STATE_CONFIGMAP",
            }
        ),
        absent={"APISERVER_KUBECONFIG": "in a pod: its ServiceAccount", **_RECEIVER_ONLY},
        templates=(("springhead-apiserver.settingsEnv", "apiserver"),),
    ),
    "controller": Charted(
        classes=(ControllerSettings,),
        sections=(
            ("CONTROLLER_", ""),
            ("SINK_BINDING_", ""),
            ("BROKER_", "broker"),
            ("KAFKA_", "kafka"),
        ),
        paths={
            "CONTROLLER_LEADER_ELECTION": "leaderElection.enabled",
            "BROKER_CONTRACT_CONFIGMAP": "broker.contractConfigMap",
            "CONTROLLER_GITHUB_IMAGE": "github.receiverImage",
            "CONTROLLER_GITHUB_API_URL": "github.apiUrl",
            "CONTROLLER_LEASE_NAME": "leaderElection.leaseName",
            "CONTROLLER_LEASE_DURATION": "leaderElection.leaseDuration",
            "CONTROLLER_LEASE_RENEW_DEADLINE": "leaderElection.renewDeadline",
            "CONTROLLER_LEASE_RETRY_PERIOD": "leaderElection.retryPeriod",
            "CONTROLLER_APISERVER_IMAGE": "apiServerSources.image",
            "CONTROLLER_KAFKA_IMAGE": "kafkaSources.image",
            **KAFKA_SECURITY_PATHS,
        },
        by_hand=frozenset(
            {
                "CONTROLLER_APISERVER_IMAGE",
                "CONTROLLER_KAFKA_IMAGE",
                "CONTROLLER_GITHUB_IMAGE",
                "CONTROLLER_LEASE_NAME",
                "CONTROLLER_LEASE_DURATION",
                "CONTROLLER_LEASE_RENEW_DEADLINE",
                "CONTROLLER_LEASE_RETRY_PERIOD",
            }
        )
        | KAFKA_SECRETS,
        flags={"CONTROLLER_LEADER_ELECTION": "false", "BROKER_PROBE": "false"},
        fixed={
            "CONTROLLER_INSTALL_CRDS": "false: the chart installs the CRDs (crds/)",
            "CONTROLLER_ROLES": "one Deployment per enabled role (roles.<role>.enabled)",
        },
        absent={
            "CONTROLLER_KUBECONFIG": "in a pod: its ServiceAccount",
            "CONTROLLER_LEASE_NAMESPACE": "the Lease is in the release's namespace (the Role's)",
            **_RECEIVER_ONLY,
        },
        # The broker role's settings go to its Deployment only.
        templates=(
            ("springhead-controller.brokerSettingsEnv", "broker"),
            ("springhead-controller.kafkaSettingsEnv", "kafka"),
            ("springhead-controller.settingsEnv", ""),
        ),
    ),
    "containersource": Charted(classes=(SourceSettings,), absent=_RECEIVER_ONLY),
    "display": Charted(
        classes=(DisplaySettings,),
        sections=(("DISPLAY_", "display"),),
        flags={"DISPLAY_TERMINAL": "false", "DISPLAY_WEB": "false"},
        absent={
            env: "the sink's connection limits keep the process defaults (extraEnv to change)"
            for env in _RECEIVER_ONLY
        },
        templates=(("springhead-display.settingsEnv", "display"),),
    ),
    "broker": Charted(
        classes=(BrokerSettings,),
        sections=(("BROKER_", "broker"), ("KAFKA_", "kafka")),
        paths=KAFKA_SECURITY_PATHS,
        by_hand=KAFKA_SECRETS,
        fixed={
            "BROKER_ROLE": "one Deployment per role: ingress and dispatcher",
            "BROKER_BACKEND": "kafka: the memory backend is one process, for development only",
            "BROKER_CONTRACT_FILE": "the mounted contract ConfigMap (contract.configMapName)",
        },
        absent={
            env: "not a chart value yet (extraEnv)"
            for env in (
                "SPRINGHEAD_HEAD_TIMEOUT",
                "SPRINGHEAD_BODY_TIMEOUT",
                "SPRINGHEAD_IDLE_TIMEOUT",
                "SPRINGHEAD_MAX_INBOUND_CONNECTIONS",
            )
        },  # fmt: skip
        templates=(
            ("springhead-broker.settingsEnv", "broker"),
            ("springhead-broker.kafkaSettingsEnv", "kafka"),
        ),
    ),
}


# -- bound settings: values paths, schema leaves, templates -----------------------------------


@dataclass(frozen=True)
class Bound:
    """A setting as one chart gives it."""

    setting: Setting
    path: str
    """The values path (``ping.catchupWindow``)."""
    by_hand: bool
    """Rendered by the chart's own ``_env.tpl`` rather than the generated template."""
    flag_false: str
    """For a boolean: the variable's text when the value is false ("" leaves it out)."""


def _shared_envs() -> frozenset[str]:
    return frozenset(s.env for cls in SHARED.classes for s in settings_of(cls))


def _values_path(charted: Charted, env: str) -> str | None:
    if env in charted.paths:
        return charted.paths[env]
    for prefix, section in charted.sections:
        if env.startswith(prefix):
            name = _camel(env.removeprefix(prefix))
            return f"{section}.{name}" if section else name
    return None


def chart_settings(chart: str) -> dict[str, Setting]:
    """Every variable the processes of ``chart`` read, by name (the first class that reads it
    describes it)."""
    found: dict[str, Setting] = {}
    for cls in CHARTED[chart].classes:
        for setting in settings_of(cls):
            found.setdefault(setting.env, setting)
    return found


def unplaced(chart: str) -> dict[str, str]:
    """Variables of ``chart``'s settings classes the chart neither gives as a value nor explains
    (``fixed``/``absent``), with what is missing."""
    missing: dict[str, str] = {}
    charted, shared = CHARTED[chart], _shared_envs()
    for env, setting in chart_settings(chart).items():
        if setting.file_for or env in charted.fixed or env in charted.absent:
            continue
        owner = SHARED if env in shared else charted
        if env in owner.fixed or env in owner.absent:
            continue
        if _values_path(owner, env) is None:
            missing[env] = "no values path (sections/paths) and not fixed or absent"
    return missing


def bound_settings(chart: str) -> list[Bound]:
    """The variables ``chart`` gives as values, in the settings classes' field order."""
    charted, shared = CHARTED[chart], _shared_envs()
    bound: list[Bound] = []
    for env, setting in chart_settings(chart).items():
        if setting.file_for or env in charted.fixed or env in charted.absent:
            continue
        owner = SHARED if env in shared else charted
        path = _values_path(owner, env)
        if path is None or env in owner.fixed or env in owner.absent:
            continue
        bound.append(Bound(setting, path, env in owner.by_hand, owner.flags.get(env, "")))
    return bound


def _strip_none(annotation: Any) -> tuple[Any, bool]:
    """The annotation without ``None`` and ``Annotated``, and whether it admitted None."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    args = typing.get_args(annotation)
    if args and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        inner, _ = _strip_none(rest[0]) if len(rest) == 1 else (rest, False)
        return inner, True
    return annotation, False


def _bounds(info: FieldInfo) -> dict[str, Any]:
    constraints: dict[str, Any] = {}
    for item in info.metadata:
        for attr, key in (("ge", "minimum"), ("le", "maximum"), ("gt", "exclusiveMinimum"),
                          ("lt", "exclusiveMaximum")):  # fmt: skip
            value = getattr(item, attr, None)
            if isinstance(value, int | float) and not isinstance(value, bool):
                constraints[key] = value
    return constraints


def _is_list(setting: Setting) -> bool:
    kind, _ = _strip_none(setting.info.annotation)
    return typing.get_origin(kind) in (list, tuple) or kind in (list, tuple)


def _iso(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("H", 3600), ("M", 60)):
        if seconds >= size and seconds % size == 0:
            return f"PT{int(seconds // size)}{unit}"
    return f"PT{seconds:g}S"


def _process_default(setting: Setting) -> str:
    """The process's default as text, "" when there is none worth saying."""
    default = setting.info.get_default(call_default_factory=True)
    if isinstance(default, bool) or default in (None, "") or default == [] or default == {}:
        return ""
    if isinstance(default, timedelta):
        return _iso(default)
    if isinstance(default, StrEnum):
        return default.value
    return str(default) if isinstance(default, str | int | float) else ""


def _describe(setting: Setting) -> str:
    """``VARIABLE: docstring`` (reST literals as Markdown), with the process's default."""
    text = " ".join(setting.description.split()).replace("``", "`")
    if _strip_none(setting.info.annotation)[0] is timedelta and "ISO-8601" not in text:
        text += " (ISO-8601 duration, e.g. PT10S)"
    described = f"{setting.env}: {text}" if text else setting.env
    default = _process_default(setting)
    if not default or default in text:
        return described
    return f"{described} Process default: {default}."


def derived_schema(setting: Setting, default: Any) -> Schema:
    """A values leaf for ``setting`` from its type and constraints; ``default`` is the chart's
    (values.yaml) default, which says whether "" means the process's default."""
    kind, _ = _strip_none(setting.info.annotation)
    description = _describe(setting)
    if kind is bool:
        return boolean(description)
    if kind is int:
        return integer(description, nullable=True, **_bounds(setting.info))
    if kind is float:
        return {"type": ["number", "null"], "description": description, **_bounds(setting.info)}
    if kind is timedelta:
        return duration(description)
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        values = [member.value for member in kind]
        return enum(description, [""] * (default == "") + values)
    if _is_list(setting):
        return {"type": "array", "description": description, "items": {"type": "string"}}
    return string(description)


def _node(schema: Schema, path: str) -> tuple[Schema, str]:
    """The object holding ``path``'s last part (created when missing), and that part."""
    *parents, last = path.split(".")
    node = schema
    for part in parents:
        node = node.setdefault("properties", {}).setdefault(part, obj("", {}))
    node.setdefault("properties", {})
    return node, last


def bind(chart: str, schema: Schema, values: Mapping[str, Any]) -> Schema:
    """``schema`` with every setting ``chart`` gives as a value described by its settings class.

    A leaf the chart's builder already has (:func:`setting`, or a chart-made node such as a
    Secret's key) keeps its place, type and constraints; the field adds what it does not say and
    the description (``VARIABLE: docstring``, the process's default, then the builder's note).
    A leaf the builder does not have is made from the field alone and comes last in its object.
    """
    for bound in bound_settings(chart):
        parent, name = _node(schema, bound.path)
        given = parent["properties"].get(name, {})
        leaf = {**derived_schema(bound.setting, _lookup(values, bound.path)), **given}
        leaf["description"] = _describe(bound.setting)
        if given.get("description"):
            leaf["description"] += f" ({given['description']})"
        parent["properties"][name] = leaf
    return schema


def _values_expr(path: str, *, tolerant: bool) -> str:
    """The template expression of a value. ``tolerant`` (the library chart): a missing object
    on the way reads as empty, as a missing value does, so a chart built on the library need
    not have every object; a source chart's values.yaml has them all."""
    if not tolerant:
        return f".Values.{path}"
    *parents, last = path.split(".")
    expression = ".Values"
    for part in parents:
        expression = f"({expression}.{part} | default dict)"
    return f"{expression}.{last}"


def value_kind(setting: Setting) -> str:
    """How a value becomes the variable's text: ``list`` (joined with commas), ``flag`` (a
    boolean: "true", or the chart's text for false) or ``text`` (as it is)."""
    if _is_list(setting):
        return "list"
    return "flag" if _strip_none(setting.info.annotation)[0] is bool else "text"


def _env_expr(bound: Bound, *, tolerant: bool) -> str:
    value = _values_expr(bound.path, tolerant=tolerant)
    kind = value_kind(bound.setting)
    if kind == "list":
        return f'(join "," {value})'
    if kind == "flag":
        return f'(ternary "true" "{bound.flag_false}" {value})'
    return value


def _template_of(charted: Charted, path: str) -> str | None:
    for define, prefix in charted.templates:
        if not prefix or path == prefix or path.startswith(prefix + "."):
            return define
    return None


def settings_template(chart: str) -> str:
    """The content of ``charts/<chart>/templates/_settings.tpl``: one define per group of
    settings a value maps to one-to-one (``common``: the shared settings)."""
    charted = SHARED if chart == "common" else CHARTED[chart]
    shared = _shared_envs()
    classes = sorted({c.__module__ + "." + c.__qualname__ for c in charted.classes})
    groups: dict[str, list[Bound]] = {define: [] for define, _ in charted.templates}
    charts = [c for c in CHARTED if CHARTED[c].templates] if chart == "common" else [chart]
    seen: set[str] = set()
    for name in charts:
        for bound in bound_settings(name):
            env = bound.setting.env
            if bound.by_hand or (env in shared) != (chart == "common") or env in seen:
                continue
            define = _template_of(charted, bound.path)
            if define is None:
                raise ValueError(f"{env} ({bound.path}) is in none of {chart}'s templates")
            seen.add(env)
            groups[define].append(bound)
    lines = [
        "{{/* Generated by scripts/chart_docs.py: the settings a value maps to one-to-one",
        '(null and "" are left out), read from the fields of',
        *(f"  {name}" for name in classes),
        "Do not edit: change the settings class and run the script. Special cases (secrets, JSON,",
        "computed defaults) are written in _env.tpl. */}}",
    ]
    for define, members in groups.items():
        lines.append("")
        lines.append(f'{{{{- define "{define}" -}}}}')
        lines.append('{{- include "springhead-common.envFromDict" (dict')
        for bound in sorted(members, key=lambda b: b.setting.env):
            expression = _env_expr(bound, tolerant=chart == "common")
            lines.append(f'      "{bound.setting.env}" {expression}')
        lines[-1] += ") }}"
        lines.append("{{- end -}}")
    return "\n".join(lines) + "\n"


# -- building blocks -------------------------------------------------------------------------

ISO_DURATION = r"^$|^P((\d+(\.\d+)?[YMWD])+(T(\d+(\.\d+)?[HMS])+)?|T(\d+(\.\d+)?[HMS])+)$"
NAME_PATTERN = DNS_LABEL_PATTERN
EXTENSION_NAME = EXTENSION_NAME_PATTERN
SPEC_ATTRIBUTES = [
    "id", "source", "specversion", "type", "datacontenttype", "dataschema", "subject", "time",
    "data", "data_base64",
]  # fmt: skip


def string(description: str, **constraints: Any) -> Schema:
    """A string setting."""
    return {"type": "string", "description": description, **constraints}


def boolean(description: str) -> Schema:
    """A true/false setting."""
    return {"type": "boolean", "description": description}


def integer(description: str, *, nullable: bool = False, **constraints: Any) -> Schema:
    """A whole-number setting (null = the process's default when ``nullable``)."""
    kind: Any = ["integer", "null"] if nullable else "integer"
    return {"type": kind, "description": description, **constraints}


def duration(description: str) -> Schema:
    """An ISO-8601 duration ("" = the process's default)."""
    return string(f"{description} (ISO-8601, e.g. PT10S; empty: the default)", pattern=ISO_DURATION)


def enum(description: str, values: list[str]) -> Schema:
    """One of ``values``."""
    return {"type": "string", "enum": values, "description": description}


def obj(description: str, properties: Mapping[str, Schema], **extra: Any) -> Schema:
    """An object with exactly these properties (typos fail)."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": False,
        "properties": dict(properties),
        **extra,
    }


def free_form(description: str, kind: str | list[str] = "object") -> Schema:
    """A Kubernetes structure passed through as it is (documented as a whole)."""
    return {"type": kind, "description": description}


def string_map(description: str) -> Schema:
    """A map of string to string (labels, annotations)."""
    return {
        "type": "object",
        "description": description,
        "additionalProperties": {"type": "string"},
    }


def never_inline(hint: str) -> Schema:
    """A property that must not be given: secrets come from existing Secrets. The constant is
    the message Helm prints ("value must be '<hint>'")."""
    return {"const": hint, "description": "(not a setting)"}


def secret_key(default_key: str) -> Schema:
    """The key of a value in the existing Secret (the value's variable describes it)."""
    return string(f"its key in the Secret, e.g. {default_key}")


def setting(note: str = "", **constraints: Any) -> Schema:
    """A leaf its settings class describes (:func:`bind` adds the type, bounds, choices and the
    description): only what the chart adds, stricter constraints or a note on its own default.
    Listing a setting here also fixes its place in the table; new settings come last."""
    return {**constraints, **({"description": note} if note else {})}


# -- shared settings ---------------------------------------------------------------------------


def naming() -> dict[str, Schema]:
    return {
        "nameOverride": string("Replaces the chart's name in the app.kubernetes.io/name label"),
        "fullnameOverride": string(
            "Name of every object of the release (Deployment, Service, SinkBinding, "
            "ServiceAccount ...); default: the release name",
            pattern=r"^$|" + NAME_PATTERN[1:],
            maxLength=63,
        ),
        "commonLabels": string_map("Labels added to every object"),
    }


def image(repository: str, *, required: bool = False) -> Schema:
    repo = string(
        f"Image repository{' (required)' if required else f'; default {repository}'}",
        minLength=1,
    )
    return obj(
        "The container image",
        {
            "repository": repo,
            "tag": string("Image tag; empty: the chart's appVersion"),
            "digest": string(
                "Image digest (sha256:...); wins over the tag", pattern=r"^$|^sha256:[a-f0-9]{64}$"
            ),
            "pullPolicy": enum("imagePullPolicy", ["Always", "IfNotPresent", "Never"]),
        },
        required=["repository"],
    )


def pod_settings(*, memory_note: str = "") -> dict[str, Schema]:
    return {
        "imagePullSecrets": free_form("Secrets for pulling the image ([{name: ...}])", "array"),
        "serviceAccount": obj(
            "The pods' ServiceAccount",
            {
                "create": boolean("Create a ServiceAccount named like the release"),
                "name": string("Its name (create=false: an existing one; empty: default)"),
                "annotations": string_map("Annotations of the created ServiceAccount"),
            },
        ),
        "podAnnotations": string_map("Annotations of the pods"),
        "podLabels": string_map("Extra labels of the pods"),
        "deploymentAnnotations": string_map("Annotations of the Deployment"),
        "podSecurityContext": free_form(
            "The pod's securityContext (default: runAsNonRoot, seccomp RuntimeDefault)"
        ),
        "securityContext": free_form(
            "The container's securityContext (default: runAsNonRoot, readOnlyRootFilesystem, "
            "allowPrivilegeEscalation false, capabilities drop ALL)"
        ),
        "resources": free_form(f"The container's resources{memory_note}"),
        "priorityClassName": string("The pods' priorityClassName"),
        "nodeSelector": string_map("The pods' nodeSelector"),
        "tolerations": free_form("The pods' tolerations", "array"),
        "affinity": free_form("The pods' affinity"),
        "topologySpreadConstraints": free_form("The pods' topologySpreadConstraints", "array"),
        "terminationGracePeriodSeconds": integer(
            "Seconds between SIGTERM and SIGKILL (keep above shutdownGrace)", minimum=0
        ),
        "extraEnv": free_form(
            "More environment variables (Kubernetes EnvVar list, e.g. [{name, value}])", "array"
        ),
        "secretEnv": {
            "type": "array",
            "description": "Environment variables read from existing Secrets "
            "([{name, secretName, key, optional}])",
            "items": obj(
                "One variable from a Secret",
                {
                    "name": string("The variable", minLength=1),
                    "secretName": string("The existing Secret", minLength=1),
                    "key": string("The key in the Secret", minLength=1),
                    "optional": boolean("Start even when the Secret or key is missing"),
                },
                required=["name", "secretName", "key"],
            ),
        },
    }


def runtime_settings() -> dict[str, Schema]:
    return {
        "replicaCount": integer("Replicas of the Deployment", minimum=0),
        "logLevel": setting(type="string", enum=["DEBUG", "INFO", "WARNING", "ERROR"]),
        "shutdownGrace": setting(),
    }


def metrics() -> Schema:
    return obj(
        "Prometheus metrics (/metrics on the http port)",
        {
            "serviceMonitor": obj(
                "A monitoring.coreos.com/v1 ServiceMonitor (needs the Prometheus Operator's CRD); "
                "charts without a webhook Service then get a Service for it",
                {
                    "enabled": boolean("Create the ServiceMonitor"),
                    "interval": string("Scrape interval (e.g. 30s); empty: Prometheus' default"),
                    "scrapeTimeout": string("Scrape timeout; empty: Prometheus' default"),
                    "labels": string_map("Labels of the ServiceMonitor (for its selector)"),
                },
            ),
            "dashboard": obj(
                "A Grafana dashboard of the release's metrics, in a ConfigMap for Grafana's "
                "dashboard sidecar",
                {
                    "enabled": boolean("Create the dashboard's ConfigMap"),
                    "labels": string_map(
                        "Labels of the ConfigMap (the sidecar's default label: "
                        'grafana_dashboard: "1")'
                    ),
                    "annotations": string_map(
                        "Annotations of the ConfigMap (e.g. the sidecar's folder annotation)"
                    ),
                },
            ),
            "rules": obj(
                "Alerting rules on the release's metrics, in a monitoring.coreos.com/v1 "
                "PrometheusRule (needs the Prometheus Operator's CRD)",
                {
                    "enabled": boolean("Create the PrometheusRule"),
                    "labels": string_map("Labels of the PrometheusRule (for Prometheus' selector)"),
                },
            ),
        },
    )


SINK_REF_HINT = (
    "only with sinkBinding.enabled=true: a sink.ref is resolved by a SinkBinding, use sink.uri "
    "otherwise"
)


def sink_settings(*, binding_toggle: bool = True) -> dict[str, Schema]:
    ref = obj(
        "Knative Destination ref to an Addressable or Service; needs sinkBinding.enabled",
        {
            "apiVersion": string("The sink's apiVersion (e.g. v1)", minLength=1),
            "kind": string("The sink's kind (e.g. Service)", minLength=1),
            "name": string("The sink's name", minLength=1),
            "namespace": string("The sink's namespace; default: the release's"),
        },
        required=["apiVersion", "kind", "name"],
    )
    ref["type"] = ["object", "null"]
    settings: dict[str, Schema] = {
        "sink": obj(
            "Where events go",
            {
                "uri": string("absolute http(s) URL; with a ref, a URI relative to it"),
                "ref": ref,
                "caCerts": string("PEM text"),
            },
        ),
        "ceOverrides": obj(
            "CloudEvents overrides",
            {
                "extensions": {
                    "type": "object",
                    "description": "name: 1-20 lowercase letters or digits; not a spec attribute",
                    "propertyNames": {"pattern": EXTENSION_NAME},
                    "properties": {
                        name: never_inline(
                            f"not an extension: {name} is a CloudEvents spec attribute, "
                            "only extensions may be overridden"
                        )
                        for name in SPEC_ATTRIBUTES
                        if extension_name_problem(name) is None
                    },
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                }
            },
        ),
        "delivery": obj(
            "Knative's delivery spec (SPRINGHEAD_DELIVERY_*); empty fields: the source's default",
            {
                "retry": setting(),
                "backoffPolicy": setting(),
                "backoffDelay": setting(),
                "timeout": setting(),
                "retryAfterMax": setting(),
                "deadLetterSink": obj(
                    "Where events go when retries are exhausted",
                    {"uri": setting(pattern=r"^$|^https?://.+")},
                ),
            },
        ),
        "contentMode": setting(),
    }
    if binding_toggle:
        settings["sinkBinding"] = obj(
            "Bind the Deployment with a sources.knative.dev/v1 SinkBinding (named like the "
            "release) instead of setting K_SINK: needs Springhead's controller or Knative",
            {"enabled": boolean("Create the SinkBinding")},
        )
    return settings


def sink_rules(*, binding_toggle: bool = True) -> list[Schema]:
    """Cross-field rules: a sink is required (an absolute sink.uri unless there is a ref, when
    the uri is relative to it); a ref only through a SinkBinding."""
    has_ref = {
        "properties": {"sink": {"required": ["ref"], "properties": {"ref": {"type": "object"}}}}
    }
    rules: list[Schema] = [
        {
            "if": has_ref,
            "then": {"properties": {"sink": {"properties": {"uri": {
                "not": {"pattern": "^[a-zA-Z][a-zA-Z0-9+.-]*:"},
                "description": "with a ref, a relative URI (e.g. /path)",
            }}}}},
            "else": {"properties": {"sink": {"required": ["uri"], "properties": {"uri": {
                "minLength": 1, "pattern": r"^https?://[^/]+",
            }}}}},
        }
    ]  # fmt: skip
    if binding_toggle:
        binding_off = {"properties": {"sinkBinding": {"properties": {"enabled": {"const": False}}}}}
        rules.append(
            {
                "if": binding_off,
                "then": {"properties": {"sink": {"properties": {"ref": {
                    "anyOf": [{"type": "null"}, {"const": SINK_REF_HINT}]
                }}}}},
            }
        )  # fmt: skip
    return rules


def secret_ref(description: str, default_key: str) -> Schema:
    return obj(
        description,
        {
            "existingSecret": string("Name of an existing Secret holding it"),
            "key": secret_key(default_key),
            "value": never_inline(
                "never inline: put it in a Secret and set existingSecret and key"
            ),
        },
    )


def webhook_settings() -> dict[str, Schema]:
    return {
        "webhook": obj(
            "Webhook receiving (WEBHOOK_*), on the http port behind the Service",
            {
                "path": setting(pattern=r"^$|^/"),
                "maxBodyBytes": setting(),
                "rateLimit": setting(),
                "rateBurst": setting(),
                "maxInFlight": setting(),
                "retryAfter": setting(),
                "headTimeout": setting(),
                "bodyTimeout": setting(),
                "idleTimeout": setting(),
                "maxConnections": setting(),
                "auth": obj(
                    "Require credentials, read from an existing Secret",
                    {
                        "existingSecret": string("The Secret holding the credentials"),
                        "bearerTokenKey": secret_key("bearer-token"),
                        "basicUserKey": secret_key("username"),
                        "basicPasswordKey": secret_key("password"),
                        "bearerToken": never_inline(
                            "never inline: set webhook.auth.existingSecret and bearerTokenKey"
                        ),
                        "basicPassword": never_inline(
                            "never inline: set webhook.auth.existingSecret and basicPasswordKey"
                        ),
                    },
                ),
            },
        ),
        "service": service_settings("The Service in front of the webhook"),
    }


def service_settings(description: str) -> Schema:
    """The Service in front of the runtime port (type, port, nodePort, annotations)."""
    return obj(
        description,
        {
            "type": enum("Service type", ["ClusterIP", "NodePort", "LoadBalancer"]),
            "port": integer("Service port", minimum=1, maximum=65535),
            "nodePort": integer("nodePort (type NodePort)", nullable=True),
            "annotations": string_map("Annotations of the Service"),
        },
    )


def secret_needed_rule(path: list[str], keys: list[str]) -> Schema:
    """When any of ``keys`` under ``path`` is set, ``existingSecret`` there must be too."""

    def nest(inner: Schema) -> Schema:
        for name in reversed(path):
            inner = {"properties": {name: inner}}
        return inner

    key_set = {"anyOf": [{"required": [k], "properties": {k: {"minLength": 1}}} for k in keys]}
    need = {"required": ["existingSecret"], "properties": {"existingSecret": {"minLength": 1}}}
    return nest({"if": key_set, "then": need})


def common_source(repository: str, *, memory_note: str = "") -> dict[str, Schema]:
    return {
        **naming(),
        "image": image(repository),
        **runtime_settings(),
        **sink_settings(),
        **pod_settings(memory_note=memory_note),
        "metrics": metrics(),
    }


# -- per chart --------------------------------------------------------------------------------


def ping_schema() -> Schema:
    leader = obj(
        "Several replicas: only the holder of a Lease fires (PING_LEADER_ELECTION); the chart "
        "grants the Lease in a Role",
        {
            "enabled": setting(),
            "leaseName": setting("empty: pingsource-<release>"),
            "leaseDuration": setting(),
            "renewDeadline": setting(),
            "retryPeriod": setting(),
        },
    )
    ping = obj(
        "The PingSource spec (PING_*)",
        {
            "schedule": setting("required, unless multiTenant"),
            "timezone": setting(),
            "contentType": setting(),
            "data": setting(),
            "dataBase64": setting(pattern=r"^[A-Za-z0-9+/]*={0,2}$"),
            "catchupWindow": setting("needs leaderElection"),
            "leaderElection": leader,
            "multiTenant": setting(
                "fire every PingSource object instead of the spec above (K_SINK and the spec "
                "values unused; leader election on; a ClusterRole to list and watch PingSources)"
            ),
            "namespaces": {
                "type": "array",
                "description": "a Role in each instead of the ClusterRole",
                "items": {"type": "string", "pattern": DNS_LABEL_PATTERN},
            },
            "namespaceSelector": label_selector(
                "a LabelSelector object or text; not with namespaces"
            ),
        },
    )
    leading = {"properties": {"ping": {"properties": {"leaderElection": {"properties": {
        "enabled": {"const": True}}}}}}}  # fmt: skip
    multi_tenant = {"properties": {"ping": {"properties": {"multiTenant": {"const": True}}}}}
    one_schedule = {
        "properties": {
            "ping": {"required": ["schedule"], "properties": {"schedule": {"minLength": 1}}}
        }
    }
    rules: list[Schema] = [
        {"if": multi_tenant, "else": {"allOf": [one_schedule, *sink_rules()]}},
        {
            "if": {"properties": {"ping": {"properties": {"data": {"minLength": 1}}}}},
            "then": {"properties": {"ping": {"properties": {"dataBase64": {"const": ""}}}}},
        },
        {
            "if": {"properties": {"replicaCount": {"minimum": 2}}},
            "then": {"anyOf": [leading, multi_tenant]},
        },
        {
            "if": {"properties": {"ping": {"properties": {"catchupWindow": {"minLength": 1}}}}},
            "then": {"anyOf": [leading, multi_tenant]},
        },
        {
            "properties": {
                "ping": {
                    "not": {
                        "required": ["namespaces", "namespaceSelector"],
                        "properties": {
                            "namespaces": {"minItems": 1},
                            "namespaceSelector": {"type": ["object", "string"]},
                        },
                    }
                }
            }
        },
    ]
    return _chart(
        {
            **common_source("ghcr.io/springhead/springhead-ping"),
            "ping": ping,
            "rbac": obj(
                "RBAC for the Lease (and, with multiTenant, for PingSources: a Role in each of "
                "ping.namespaces, else a ClusterRole)",
                {"create": boolean("Create the Role, the ClusterRole and their bindings")},
            ),
        },
        rules,
    )


def http_schema() -> Schema:
    http = obj(
        "How plain requests become CloudEvents (HTTP_*)",
        {
            "eventType": setting(),
            "eventSource": setting(),
            "idempotencyHeader": setting(),
            "headerExtensions": {
                "type": "object",
                "description": "header name -> extension name",
                "additionalProperties": {"type": "string", "pattern": EXTENSION_NAME},
            },
            "hmac": obj(
                "Require an HMAC-SHA256 signature of the body (HTTP_HMAC_*)",
                {
                    "existingSecret": string("Secret holding the HMAC key"),
                    "key": secret_key("hmac-secret"),
                    "header": setting(),
                    "secret": never_inline(
                        "never inline: set http.hmac.existingSecret and http.hmac.key"
                    ),
                },
            ),
        },
    )
    rules = [
        *sink_rules(),
        secret_needed_rule(
            ["webhook", "auth"], ["bearerTokenKey", "basicUserKey", "basicPasswordKey"]
        ),
        secret_needed_rule(["http", "hmac"], ["key"]),
    ]
    return _chart(
        {**common_source("ghcr.io/springhead/springhead-http"), **webhook_settings(), "http": http},
        rules,
    )


def github_schema() -> Schema:
    github = obj(
        "The GitHubSource spec (GITHUB_*)",
        {
            "ownerAndRepository": setting(
                "required", pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}(/[A-Za-z0-9._-]{1,100})?$"
            ),
            "eventTypes": setting(
                "required",
                minItems=1,
                items={"type": "string", "pattern": r"^(\*|[a-z][a-z0-9_]{0,63})$"},
            ),
            "apiURL": setting(pattern=r"^$|^https?://"),
            "webURL": setting(pattern=r"^$|^https?://"),
            "allowSha1": setting(),
            "insecureNoSecret": setting(),
            "webhookSecret": secret_ref(
                "The webhook secret from an existing Secret (required unless insecureNoSecret)",
                "webhook-secret",
            ),
        },
        required=["ownerAndRepository", "eventTypes"],
    )
    hooks = obj(
        "Register the webhook on GitHub after install/upgrade and remove it before delete "
        "(Helm hook Jobs running `python -m springhead_github hooks register|unregister`), "
        "and redeliver failed deliveries",
        {
            "enabled": boolean("Create the hook Jobs"),
            "image": obj(
                "The hook Jobs' image: the source with the GitHub API client (PyGithub), which "
                "the receiver's image does not hold; pulled with image.pullPolicy",
                {
                    "repository": string(
                        "Image repository; default ghcr.io/springhead/springhead-github-hooks",
                        minLength=1,
                    ),
                    "tag": string("Image tag; empty: the chart's appVersion"),
                    "digest": string(
                        "Image digest (sha256:...); wins over the tag",
                        pattern=r"^$|^sha256:[a-f0-9]{64}$",
                    ),
                },
                required=["repository"],
            ),
            "webhookURL": setting("required when enabled", pattern=r"^$|^https?://"),
            "active": setting(),
            "insecureSSL": setting(),
            "token": secret_ref("A token (a PAT) from an existing Secret", "token"),
            "app": obj(
                "Or a GitHub App",
                {
                    "id": setting(),
                    "installationId": setting(),
                    "privateKey": secret_ref(
                        "The App's private key (PEM) from an existing Secret", "private-key"
                    ),
                },
            ),
            "redeliver": obj(
                "A CronJob running `hooks redeliver`: GitHub redelivers what failed while the "
                "source or the sink was down",
                {
                    "schedule": string("Cron schedule; empty: no CronJob"),
                    "window": setting(),
                },
            ),
            "backoffLimit": integer("The Jobs' backoffLimit", minimum=0),
            "activeDeadlineSeconds": integer("The Jobs' activeDeadlineSeconds", minimum=1),
            "resources": free_form("The Jobs' container resources"),
        },
    )
    secret_set = {
        "properties": {"existingSecret": {"minLength": 1}},
        "required": ["existingSecret"],
    }
    token = {"properties": {"token": secret_set}}
    app = {
        "properties": {
            "app": {
                "required": ["id", "installationId", "privateKey"],
                "properties": {
                    "id": {"minLength": 1},
                    "installationId": {"type": "integer"},
                    "privateKey": secret_set,
                },
            }
        }
    }
    rules = [
        *sink_rules(),
        secret_needed_rule(
            ["webhook", "auth"], ["bearerTokenKey", "basicUserKey", "basicPasswordKey"]
        ),
        {
            "if": {
                "properties": {"github": {"properties": {"insecureNoSecret": {"const": False}}}}
            },
            "then": {"properties": {"github": {"properties": {"webhookSecret": secret_set}}}},
        },
        {
            "if": {"properties": {"hooks": {"properties": {"enabled": {"const": True}}}}},
            "then": {
                "properties": {
                    "hooks": {
                        "required": ["webhookURL"],
                        "properties": {"webhookURL": {"minLength": 1}},
                        "oneOf": [token, app],
                    }
                }
            },
        },
    ]
    return _chart(
        {
            **common_source("ghcr.io/springhead/springhead-github"),
            **webhook_settings(),
            "github": github,
            "hooks": hooks,
        },
        rules,
    )


def kafka_security() -> dict[str, Schema]:
    """The ``kafka.sasl`` and ``kafka.tls`` sections of every chart that talks to Kafka."""
    return {
        "sasl": obj(
            "SASL authentication (KAFKA_SASL_*), credentials from an existing Secret",
            {
                "mechanism": setting(),
                "existingSecret": string("The Secret holding user and password"),
                "userKey": secret_key("user"),
                "passwordKey": secret_key("password"),
                "password": never_inline(
                    "never inline: set kafka.sasl.existingSecret and passwordKey"
                ),
            },
        ),
        "tls": obj(
            "TLS to the brokers (KAFKA_TLS_*), certificates from an existing Secret",
            {
                "enabled": setting(),
                "existingSecret": string("The Secret holding the PEM certificates"),
                "caCertKey": secret_key("ca.crt"),
                "certKey": secret_key("tls.crt"),
                "keyKey": secret_key("tls.key"),
                "key": never_inline("never inline: set kafka.tls.existingSecret and keyKey"),
            },
        ),
    }


def kafka_security_rules() -> list[Schema]:
    """A SASL mechanism needs its Secret and keys; a TLS key needs its Secret."""
    sasl_on = {"properties": {"kafka": {"properties": {"sasl": {
        "required": ["mechanism"], "properties": {"mechanism": {"minLength": 1}}}}}}}  # fmt: skip
    sasl_secret = {"properties": {"kafka": {"properties": {"sasl": {
        "required": ["existingSecret", "userKey", "passwordKey"],
        "properties": {"existingSecret": {"minLength": 1}, "userKey": {"minLength": 1},
                       "passwordKey": {"minLength": 1}}}}}}}  # fmt: skip
    return [
        {"if": sasl_on, "then": sasl_secret},
        secret_needed_rule(["kafka", "tls"], ["caCertKey", "certKey", "keyKey"]),
    ]


def kafka_schema() -> Schema:
    kafka = obj(
        "The KafkaSource spec (KAFKA_*)",
        {
            "bootstrapServers": {
                "type": "array",
                "minItems": 1,
                "description": "required",
                "items": {"type": "string", "minLength": 1},
            },
            "topics": setting("this or topicPattern", items={"type": "string", "minLength": 1}),
            "topicPattern": setting(),
            "consumerGroup": setting(),
            "initialOffset": setting(),
            "ordering": setting(),
            "keyType": setting(),
            "onExhausted": setting(),
            "maxInFlight": setting(),
            "maxUncommitted": setting(),
            "prefetch": setting(),
            "maxPartitionFetchBytes": setting(),
            "fetchMaxBytes": setting(),
            "commitInterval": setting(),
            "revokeTimeout": setting(),
            **kafka_security(),
        },
        required=["bootstrapServers"],
    )
    topics_given = {
        "properties": {
            "kafka": {
                "anyOf": [
                    {"required": ["topics"], "properties": {"topics": {"minItems": 1}}},
                    {
                        "required": ["topicPattern"],
                        "properties": {"topicPattern": {"minLength": 1}},
                    },
                ]
            }
        }
    }
    rules = [*sink_rules(), topics_given, *kafka_security_rules()]
    return _chart(
        {
            **common_source(
                "ghcr.io/springhead/springhead-kafka", memory_note=" (grows with prefetch)"
            ),
            "kafka": kafka,
        },
        rules,
    )


def label_selector(description: str) -> Schema:
    return {
        "type": ["object", "string", "null"],
        "description": description,
        "properties": {
            "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
            "matchExpressions": {
                "type": "array",
                "items": obj(
                    "A requirement",
                    {
                        "key": string("Label key", minLength=1),
                        "operator": enum("Operator", ["In", "NotIn", "Exists", "DoesNotExist"]),
                        "values": {"type": "array", "items": {"type": "string"}},
                    },
                    required=["key", "operator"],
                ),
            },
        },
        "additionalProperties": False,
    }


def apiserver_schema() -> Schema:
    resource = obj(
        "One kind to watch",
        {
            "apiVersion": string("v1, apps/v1, example.com/v1alpha1", minLength=1),
            "kind": string("The kind, e.g. ConfigMap", minLength=1),
            "plural": string(
                "Its resource name when Kubernetes' guess from the kind is wrong (for RBAC)",
                pattern=r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
            ),
            "namespaced": {
                "type": ["boolean", "null"],
                "description": "Whether the kind is namespaced, for kinds the RBAC derivation "
                "does not know (custom resources default to namespaced)",
            },
            "selector": label_selector("Knative's label selector (LabelSelector object)"),
            "labelSelector": string("Label selector in text form (app=web,tier!=db)"),
            "fieldSelector": string("Field selector (metadata.name=x)"),
        },
        required=["apiVersion", "kind"],
    )
    apiserver = obj(
        "The ApiServerSource spec (APISERVER_*)",
        {
            "resources": {
                "type": "array",
                "minItems": 1,
                "description": "required",
                "items": resource,
            },
            "namespaces": {
                "type": "array",
                "description": "empty: the release's",
                "items": {"type": "string", "pattern": r"^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)$"},
            },
            "namespaceSelector": label_selector(
                "a LabelSelector object or text; not with namespaces"
            ),
            "owner": obj(
                "Only objects whose controller has this apiVersion/kind",
                {"apiVersion": string("Owner apiVersion"), "kind": string("Owner kind")},
            ),
            "mode": setting(),
            "emitExisting": setting(),
            "ignoreStatusUpdates": setting(),
            "stateConfigMap": obj(
                "Persist the delivered position (APISERVER_STATE_CONFIGMAP); the chart creates "
                "the ConfigMap",
                {
                    "enabled": boolean("Create and use the state ConfigMap"),
                    "name": string(
                        "Its name; empty: <release>-state",
                        pattern=r"^$|^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
                    ),
                },
            ),
            "stateInterval": setting(),
        },
        required=["resources"],
    )
    rules = [
        *sink_rules(),
        {
            "properties": {
                "apiserver": {
                    "not": {
                        "required": ["namespaces", "namespaceSelector"],
                        "properties": {
                            "namespaces": {"minItems": 1},
                            "namespaceSelector": {"type": ["object", "string"]},
                        },
                    }
                }
            }
        },
    ]
    return _chart(
        {
            **common_source(
                "ghcr.io/springhead/springhead-apiserver",
                memory_note=" (Resource mode keeps whole objects)",
            ),
            "apiserver": apiserver,
            "rbac": obj(
                "Least RBAC derived from apiserver.resources (what `python -m "
                "springhead_apiserver rbac` prints)",
                {"create": boolean("Create the Role(s)/ClusterRole and bindings")},
            ),
        },
        rules,
    )


def controller_schema() -> Schema:
    leader = obj(
        "Leader election on a Lease (CONTROLLER_LEADER_ELECTION, CONTROLLER_LEASE_*)",
        {
            "enabled": setting("needed with 2+ replicas"),
            "leaseName": setting("empty: the release name"),
            "leaseDuration": setting(),
            "renewDeadline": setting(),
            "retryPeriod": setting(),
        },
    )

    def role_image(role: str) -> Schema:
        return obj(
            f"The {role} role's image (springhead-controller[{role}]); its pull policy is "
            "image.pullPolicy",
            {
                "repository": string(
                    f"Image repository; default ghcr.io/springhead/springhead-controller-{role}",
                    minLength=1,
                ),
                "tag": string("Image tag; empty: image.tag, else the chart's appVersion"),
                "digest": string(
                    "Image digest (sha256:...); wins over the tag",
                    pattern=r"^$|^sha256:[a-f0-9]{64}$",
                ),
            },
            required=["repository"],
        )

    roles = obj(
        "The controller's roles (CONTROLLER_ROLES), each its own Deployment, ServiceAccount, "
        "Lease and least RBAC: <release> for the core, <release>-<role> for another",
        {
            "core": obj(
                "SinkBinding, ContainerSource, PingSource, ApiServerSource, KafkaSource (image)",
                {"enabled": boolean("Run the core role")},
            ),
            "broker": obj(
                "Broker and Trigger (the broker and kafka values)",
                {
                    "enabled": {
                        "type": ["boolean", "null"],
                        "description": "Run the broker role; null: when broker.contractConfigMap "
                        "is set",
                    },
                    "image": role_image("broker"),
                },
            ),
            "github": obj(
                "GitHubSource (the github values)",
                {"enabled": boolean("Run the github role"), "image": role_image("github")},
            ),
        },
    )
    settings = {
        **naming(),
        "image": image("ghcr.io/springhead/springhead-controller"),
        "roles": roles,
        **runtime_settings(),
        **pod_settings(),
        "metrics": metrics(),
        "leaderElection": leader,
        "selectionMode": setting(),
        "clusterDomain": setting(),
        "workers": setting(),
        "patchConcurrency": setting(),
        "resync": setting(),
        "broker": obj(
            "Broker and Trigger reconciling on the broker chart's data plane (BROKER_*; the "
            "broker role's Deployment only)",
            {
                "contractConfigMap": setting(),
                "ingressHost": setting(),
                "class": setting("empty: Springhead"),
                "defaultClass": setting(),
                "probe": setting(),
                "topicPartitions": setting(),
                "topicReplication": setting(),
            },
        ),
        "kafka": obj(
            "Kafka, where Broker topics are created (KAFKA_*)",
            {
                "bootstrapServers": setting(
                    "required with the broker role",
                    items={"type": "string", "minLength": 1},
                ),
                **kafka_security(),
            },
        ),
        "apiServerSources": obj(
            "ApiServerSources (sources.knative.dev/v1), each a Deployment of the apiserver source",
            {
                "image": setting("empty: springhead-apiserver beside image.repository, same tag"),
                "grantableRules": free_form(
                    "PolicyRules the controller holds so that it may grant them to the "
                    "ServiceAccount it makes for an ApiServerSource (it can grant only what it "
                    "holds)",
                    "array",
                ),
            },
        ),
        "kafkaSources": obj(
            "KafkaSources (sources.knative.dev), each a Deployment of the Kafka source",
            {"image": setting("empty: springhead-kafka beside image.repository, same tag")},
        ),
        "github": obj(
            "GitHubSource reconciling (CONTROLLER_GITHUB_*; the github role's Deployment only)",
            {
                "receiverImage": setting(
                    "empty: springhead-github beside image.repository, same tag"
                ),
                "apiUrl": setting(),
            },
        ),
        "rbac": obj(
            "The controller's ClusterRole",
            {
                "create": boolean("Create the ClusterRole, the Lease Role and their bindings"),
                "aggregateAddressables": boolean(
                    "Also read every Addressable kind whose ClusterRole is labelled "
                    "duck.knative.dev/addressable=true (Knative's convention), through an "
                    "aggregated ClusterRole"
                ),
                "extraSinkRules": free_form(
                    "More PolicyRules for sink kinds (get, list, watch on their resources)",
                    "array",
                ),
            },
        ),
    }
    rules = [{
        "if": {"properties": {"replicaCount": {"minimum": 2}}},
        "then": {"properties": {"leaderElection": {"properties": {"enabled": {"const": True}}}}},
    }, *kafka_security_rules()]  # fmt: skip
    return _chart(settings, rules)


def containersource_schema() -> Schema:
    probes = obj(
        "Liveness /healthz and readiness /readyz on port 8080 (Springhead-built images); "
        "turn off for images without them",
        {"enabled": boolean("Add the probes")},
    )
    settings = {
        **naming(),
        "mode": enum(
            "sinkbinding: a Deployment + a SinkBinding; containersource: a sources.knative.dev/v1 "
            "ContainerSource (the controller makes both)",
            ["sinkbinding", "containersource"],
        ),
        "image": image("", required=True),
        "command": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The container's command; empty: the image's entry point",
        },
        "args": {
            "type": "array",
            "items": {"type": "string"},
            "description": "The container's args",
        },
        "env": free_form(
            "The source's environment (Kubernetes EnvVar list: [{name, value}] or valueFrom)",
            "array",
        ),
        "containerName": string("Name of the container", pattern=NAME_PATTERN),
        "probes": probes,
        **runtime_settings(),
        **sink_settings(binding_toggle=False),
        **pod_settings(),
    }
    del settings["extraEnv"]  # env is this chart's environment
    settings["env"]["items"] = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1}},
    }
    rules = [
        *sink_rules(binding_toggle=False),
        {
            "if": {"properties": {"mode": {"const": "containersource"}}, "required": ["mode"]},
            "then": {"properties": {"replicaCount": {"const": 1}}},
        },
    ]
    return _chart(settings, rules)


def display_schema() -> Schema:
    display = obj(
        "What the display keeps and shows (DISPLAY_*)",
        {
            "maxEvents": setting(),
            "maxBytes": setting("keep below resources.limits.memory"),
            "maxBodyBytes": setting(),
            "terminal": setting(),
            "web": setting(),
        },
    )
    settings = {
        **naming(),
        "image": image("ghcr.io/springhead/springhead-display"),
        **runtime_settings(),
        **pod_settings(memory_note=" (holds display.maxBytes of events)"),
        "metrics": metrics(),
        "service": service_settings(
            "The Service in front of the sink and the page (a source's sink.ref names it)"
        ),
        "display": display,
    }
    return _chart(settings, [])


def broker_schema() -> Schema:
    pods = pod_settings()
    del pods["resources"]
    roles = {
        role: obj(
            f"The {role} Deployment ({what})",
            {
                "replicaCount": integer("Its replicas", minimum=0),
                "resources": free_form("Its container's resources"),
            },
        )
        for role, what in (
            ("ingress", "stateless: HTTP to the broker's topic"),
            ("dispatcher", "replicas share each trigger's partitions"),
        )
    }
    service = obj(
        "The ingress Service; the Broker's address is http://<service>.<ns>.svc/<ns>/<broker>",
        {
            "type": enum("Service type", ["ClusterIP", "NodePort", "LoadBalancer"]),
            "port": integer("Service port", minimum=1, maximum=65535),
            "nodePort": integer("NodePort (type NodePort)", nullable=True, minimum=1),
            "annotations": string_map("Annotations of the Service"),
        },
    )
    contract = obj(
        "The contract ConfigMap the controller writes and the pods mount",
        {
            "configMapName": string(
                "Its name; empty: <release>-contract (the controller's "
                "BROKER_CONTRACT_CONFIGMAP names it)",
                pattern=r"^$|" + NAME_PATTERN[1:],
            )
        },
    )
    broker = obj(
        "The data plane's settings (BROKER_*)",
        {
            "contractPoll": setting(),
            "produceTimeout": setting(),
            "retryAfter": setting(),
            "maxBodyBytes": setting(),
            "initialOffset": setting(),
            "maxInFlight": setting(),
            "maxUncommitted": setting(),
            "commitInterval": setting(),
        },
    )
    kafka = obj(
        "Kafka (KAFKA_*)",
        {
            "bootstrapServers": {
                "type": "array",
                "minItems": 1,
                "description": "required",
                "items": {"type": "string", "minLength": 1},
            },
            **kafka_security(),
        },
        required=["bootstrapServers"],
    )
    settings = {
        **naming(),
        "image": image("ghcr.io/springhead/springhead-broker"),
        "logLevel": setting(type="string", enum=["DEBUG", "INFO", "WARNING", "ERROR"]),
        "shutdownGrace": setting(),
        **roles,
        "service": service,
        "contract": contract,
        "broker": broker,
        "kafka": kafka,
        **pods,
        "metrics": metrics(),
    }
    return _chart(settings, kafka_security_rules())


def _chart(properties: Mapping[str, Schema], rules: list[Schema]) -> Schema:
    """A chart's schema: its settings, nothing else at the top level (typos fail), plus the
    keys Helm itself adds to the values (the library chart's and ``global``)."""
    props = dict(properties)
    props["springhead-common"] = {
        "type": "object",
        "description": "(added by Helm for the library chart; not a setting)",
    }
    props["global"] = {
        "type": "object",
        "description": "(Helm's global values; not used)",
    }
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "additionalProperties": False,
        "properties": props,
        **({"allOf": rules} if rules else {}),  # an empty allOf is not valid JSON Schema
        **({"allOf": rules} if rules else {}),
    }


def common_schema() -> Schema:
    """The library chart's schema. Helm validates a dependency's schema only against the values
    under the dependency's own key (``springhead-common``), never against the parent's values,
    so it cannot check the shared settings: each chart's schema does."""
    return {
        "$schema": SCHEMA_DIALECT,
        "type": "object",
        "description": "springhead-common takes no values of its own",
        "additionalProperties": False,
        "properties": {"global": {"type": "object"}},
    }


#: Chart directory -> (chart name, schema builder).
CHARTS: dict[str, Any] = {
    "ping": ping_schema,
    "http": http_schema,
    "github": github_schema,
    "kafka": kafka_schema,
    "apiserver": apiserver_schema,
    "controller": controller_schema,
    "containersource": containersource_schema,
    "display": display_schema,
    "broker": broker_schema,
}


def chart_schema(chart: str) -> Schema:
    """The schema of ``chart`` (a directory name under charts/)."""
    if chart == "common":
        return common_schema()
    builder = CHARTS[chart]
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}
    return bind(chart, builder(), values)


# -- values tables ----------------------------------------------------------------------------

_HIDDEN = {"springhead-common", "global"}


def leaf_paths(
    schema: Schema, prefix: str = "", *, objects: frozenset[str] = frozenset()
) -> Iterator[tuple[str, Schema]]:
    """Every documented setting: dotted path and its schema (objects with declared properties
    are descended into, and listed themselves too when in ``objects``; free-form structures are
    one setting)."""
    for name, node in (schema.get("properties") or {}).items():
        if name in _HIDDEN or node.get("description") == "(not a setting)":
            continue
        path = f"{prefix}{name}"
        if node.get("type") == "object" and node.get("additionalProperties") is False:
            if path in objects:
                yield path, node
            yield from leaf_paths(node, f"{path}.", objects=objects)
        else:
            yield path, node


def _lookup(values: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(values, dict) or part not in values:
            return None
        values = values[part]
    return values


def _cell(text: str) -> str:
    """Text as a table cell: one line, pipes escaped, angle brackets as entities outside code
    spans (inside them Markdown shows them as they are)."""
    parts = text.replace("|", "\\|").replace("\n", " ").split("`")
    for index in range(0, len(parts), 2):
        parts[index] = parts[index].replace("<", "&lt;").replace(">", "&gt;")
    return "`".join(parts)


def _default(value: Any) -> str:
    if value is None:
        return "`null`"
    if value == "":
        return '`""`'
    rendered = json.dumps(value, separators=(", ", ": "))
    if len(rendered) > 60:
        rendered = rendered[:57] + "..."
    return "`" + rendered.replace("|", "\\|") + "`"


def table_for(chart: str) -> str:
    """The values table of ``chart``: key, default (from its values.yaml), description."""
    values = yaml.safe_load((CHARTS_DIR / chart / "values.yaml").read_text()) or {}
    lines = ["| key | default | description |", "|---|---|---|"]
    # A variable given as an object (APISERVER_OWNER) gets a row of its own above its keys.
    bound = frozenset(b.path for b in bound_settings(chart)) if chart in CHARTED else frozenset()
    for path, node in leaf_paths(chart_schema(chart), objects=bound):
        description = _cell(str(node.get("description", "")))
        if "enum" in node:
            description += " (" + ", ".join(f"`{v}`" if v else '`""`' for v in node["enum"]) + ")"
        lines.append(f"| `{path}` | {_default(_lookup(values, path))} | {description} |")
    return "\n".join(lines) + "\n"


_TABLE = re.compile(
    r"(<!-- values-table: (?P<chart>[a-z]+) -->\n)(?P<body>.*?)(<!-- /values-table -->)", re.S
)


def readme_text() -> str:
    """charts/README.md with every values table regenerated."""
    text = README.read_text()
    return _TABLE.sub(lambda m: m.group(1) + table_for(m.group("chart")) + m.group(4), text)


def schema_text(chart: str) -> str:
    """The file content of ``charts/<chart>/values.schema.json``."""
    return json.dumps(chart_schema(chart), indent=2) + "\n"


# -- the variables tables in the READMEs --------------------------------------------------------

ROOT = CHARTS_DIR.parent

#: ``<!-- settings-table: NAME -->`` -> (the class, classes whose variables another table lists).
SETTINGS_TABLES: dict[str, tuple[type[BaseModel], tuple[type[BaseModel], ...]]] = {
    "contract": (SourceSettings, ()),
    "ping": (PingSettings, (SourceSettings,)),
    "http": (HttpSettings, (SourceSettings,)),
    "github": (GitHubSettings, (WebhookSettings,)),
    "github-hooks": (HookSettings, (GitHubSettings,)),
    "kafka": (KafkaSettings, (SourceSettings,)),
    "apiserver": (ApiServerSettings, (SourceSettings,)),
    "controller": (ControllerSettings, (ProcessSettings,)),
    "display": (DisplaySettings, (ProcessSettings,)),
    "feed": (FeedSettings, (SourceSettings,)),
}

#: The files holding settings tables.
SETTINGS_READMES = tuple(
    ROOT / path
    for path in (
        "README.md",
        "sources/github/README.md",
        "sources/apiserver/README.md",
        "examples/feed/README.md",
    )
)


def _default_cell(setting: Setting) -> str:
    if setting.info.is_required():
        return "**required**"
    default = setting.info.get_default(call_default_factory=True)
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    text = _process_default(setting)
    if text:
        return f"`{text}`"
    return "empty" if default == "" else "none"


def settings_table(name: str) -> str:
    """The variables table ``name``: each variable the class reads that the excluded classes do
    not (a secret's ``X_FILE`` form is said once, beside the secrets convention), its field's
    description and the process's default."""
    cls, excluded = SETTINGS_TABLES[name]
    elsewhere = {s.env for other in excluded for s in settings_of(other)}
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    for setting in settings_of(cls):
        if setting.env in elsewhere or setting.file_for:
            continue
        text = " ".join(setting.description.split()).replace("``", "`")
        lines.append(f"| `{setting.env}` | {_cell(text)} | {_default_cell(setting)} |")
    return "\n".join(lines) + "\n"


_SETTINGS_TABLE = re.compile(
    r"(<!-- settings-table: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- /settings-table -->)", re.S
)


def settings_readme_text(path: Path) -> str:
    """``path`` with every settings table regenerated."""
    return _SETTINGS_TABLE.sub(
        lambda m: m.group(1) + settings_table(m.group("name")) + m.group(4), path.read_text()
    )


def generated_files() -> dict[Path, str]:
    """Every generated file and its content: the schemas, the settings templates, the README."""
    files = {
        CHARTS_DIR / chart / "values.schema.json": schema_text(chart)
        for chart in ["common", *CHARTS]
    }
    for chart in ["common", *(name for name in CHARTED if CHARTED[name].templates)]:
        files[CHARTS_DIR / chart / "templates" / "_settings.tpl"] = settings_template(chart)
    files[README] = readme_text()
    for path in SETTINGS_READMES:
        files[path] = settings_readme_text(path)
    return files


def write_all() -> list[Path]:
    """Rewrite every generated file whose content changed; returns those."""
    changed = []
    for path, text in generated_files().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            changed.append(path)
    return changed


if __name__ == "__main__":
    written = write_all()
    for path in written:
        sys.stdout.write(f"wrote {path.relative_to(ROOT)}\n")
    sys.stdout.write(f"{len(written)} file(s) changed\n")
