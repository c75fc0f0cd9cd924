"""The KafkaSource reconciler: per object, a Deployment of Springhead's Kafka source
(``CONTROLLER_KAFKA_IMAGE``) with ``spec.consumers`` replicas in one consumer group.

The spec becomes the Kafka source's variables (``KAFKA_*``, ``SPRINGHEAD_DELIVERY_*``). SASL and
TLS credentials are ``secretKeyRef`` variables read by the kubelet from the user's Secrets: the
controller never reads a Secret, and no secret value is written into the Deployment.

Conditions (the two eventing-kafka-broker's reconciler sets): ``ConsumerGroup`` (the spec is
runnable and the Deployment is ``Available``), ``SinkProvided``; and ``Ready``. Status also has
``consumers`` and ``selector`` (the scale subresource: ``kubectl scale kafkasource`` works).

Deletion: the Deployment is owned by the KafkaSource (the garbage collector removes it); the
reconciler also deletes it when it finds it orphaned, for clusters without one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from springhead.config import ConfigError, SourceSettings, load_settings
from springhead.kube import KubeClient

from springhead_controller.adapters import (
    AdapterProblem,
    adapter_container,
    adapter_deployment,
    delete_owned,
    deployment_availability,
    ensure_deployment,
    env_value,
)
from springhead_controller.binding import ce_overrides_env
from springhead_controller.cache import KAFKA_SOURCE, Cache, controller_owner
from springhead_controller.conditions import Conditions, write_status
from springhead_controller.containersources import child_name
from springhead_controller.spec import (
    InvalidSpec,
    SinkError,
    parse_destination,
    resolve_sink,
    validate_ce_overrides,
)

__all__ = [
    "CONSUMER_GROUP",
    "KAFKA_EVENT_TYPE",
    "KEY_TYPE_LABEL",
    "KafkaSourceReconciler",
    "SINK_PROVIDED",
    "adapter_name",
    "consumer_group",
    "kafka_env",
]

log = logging.getLogger("springhead.controller")

CONSUMER_GROUP = "ConsumerGroup"
SINK_PROVIDED = "SinkProvided"
KAFKA_EVENT_TYPE = "dev.knative.kafka.event"
#: Knative's label choosing how record keys are decoded.
KEY_TYPE_LABEL = "kafkasources.sources.knative.dev/key-type"
_KEY_TYPES = ("string", "int", "float", "byte-array")
_SOURCE_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/kafkasources/{name}"
_DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments"
_DELIVERY = {
    "retry": "SPRINGHEAD_DELIVERY_RETRY",
    "backoffPolicy": "SPRINGHEAD_DELIVERY_BACKOFF_POLICY",
    "backoffDelay": "SPRINGHEAD_DELIVERY_BACKOFF_DELAY",
    "timeout": "SPRINGHEAD_DELIVERY_TIMEOUT",
    "retryAfterMax": "SPRINGHEAD_DELIVERY_RETRY_AFTER_MAX",
}
#: (spec.net path, variable): values read from the user's Secrets.
_SECRETS = (
    (("sasl", "type"), "KAFKA_SASL_MECHANISM"),
    (("sasl", "user"), "KAFKA_SASL_USER"),
    (("sasl", "password"), "KAFKA_SASL_PASSWORD"),
    (("tls", "caCert"), "KAFKA_TLS_CA_CERT"),
    (("tls", "cert"), "KAFKA_TLS_CERT"),
    (("tls", "key"), "KAFKA_TLS_KEY"),
)


def adapter_name(source: Mapping[str, Any]) -> str:
    """``kafkasource-<name>-<uid>`` (shortened as Knative's ``kmeta.ChildName``)."""
    metadata = source.get("metadata") or {}
    return child_name(f"kafkasource-{metadata.get('name')}-", str(metadata.get("uid")))


def consumer_group(source: Mapping[str, Any]) -> str:
    """``spec.consumerGroup``, or Knative's default ``knative-kafka-source-<uid>``."""
    group = (source.get("spec") or {}).get("consumerGroup")
    if isinstance(group, str) and group:
        return group
    return f"knative-kafka-source-{(source.get('metadata') or {}).get('uid')}"


def _labels(name: str) -> dict[str, str]:
    return {
        "sources.knative.dev/source": "kafka-source-controller",
        "sources.knative.dev/kafkaSource": name,
        "app.kubernetes.io/managed-by": "springhead-controller",
    }


def _choice(spec: Mapping[str, Any], field: str, choices: tuple[str, ...], default: str) -> str:
    value = spec.get(field)
    if value is None or value == "":
        return default
    if value not in choices:
        raise InvalidSpec(
            "InvalidSpec", f"spec.{field}: {value!r} is not one of {', '.join(choices)}"
        )
    return str(value)


def _strings(spec: Mapping[str, Any], field: str) -> list[str]:
    value = spec.get(field)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise InvalidSpec("InvalidSpec", f"spec.{field}: at least one is required")
    return list(value)


def _secret_ref(net: Mapping[str, Any], path: tuple[str, str]) -> dict[str, Any] | None:
    value = (net.get(path[0]) or {}).get(path[1])
    if value is None:
        return None
    ref = value.get("secretKeyRef") if isinstance(value, Mapping) else None
    if not isinstance(ref, Mapping) or not ref.get("name") or not ref.get("key"):
        raise InvalidSpec(
            "InvalidSpec", f"spec.net.{'.'.join(path)}: needs secretKeyRef with a name and a key"
        )
    return {"secretKeyRef": {k: ref[k] for k in ("name", "key", "optional") if k in ref}}


def _net_env(net: Mapping[str, Any]) -> list[dict[str, Any]]:
    """SASL and TLS variables: literal switches, credentials as ``secretKeyRef``."""
    sasl, tls = net.get("sasl") or {}, net.get("tls") or {}
    for unsupported in ("tokenProvider", "roleARN"):
        if sasl.get(unsupported):
            raise InvalidSpec(
                "InvalidSpec", f"spec.net.sasl.{unsupported} (MSK IAM) is not supported"
            )
    env: list[dict[str, Any]] = []
    enabled = {"sasl": sasl.get("enable") is True, "tls": tls.get("enable") is True}
    for path, variable in _SECRETS:
        if not enabled[path[0]]:
            continue  # Knative ignores the credentials of a disabled mechanism
        ref = _secret_ref(net, path)
        if ref is not None:
            env.append({"name": variable, "valueFrom": ref})
    if enabled["sasl"]:
        names = {e["name"] for e in env}
        for needed in ("KAFKA_SASL_USER", "KAFKA_SASL_PASSWORD"):
            if needed not in names:
                field = needed.removeprefix("KAFKA_SASL_").lower()
                raise InvalidSpec("InvalidSpec", f"spec.net.sasl.{field} is required with SASL")
        if "KAFKA_SASL_MECHANISM" not in names:
            env.insert(0, env_value("KAFKA_SASL_MECHANISM", "PLAIN"))  # Knative's default
    if enabled["tls"]:
        env.insert(0, env_value("KAFKA_TLS_ENABLE", "true"))
    return env


def _delivery_env(delivery: Any, dead_letter_sink: str | None) -> dict[str, str]:
    env: dict[str, str] = {}
    if not isinstance(delivery, Mapping):
        return env
    for field, variable in _DELIVERY.items():
        value = delivery.get(field)
        if value is not None and value != "":
            env[variable] = str(value)
    if dead_letter_sink:
        env["SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK"] = dead_letter_sink
    return env


def _check_delivery(env: Mapping[str, str], sink: str) -> None:
    """Refuse delivery values the source would refuse (checked by the shared settings)."""
    try:
        load_settings(SourceSettings, {"K_SINK": sink, **env})
    except ConfigError as exc:
        fields = {v: f"spec.delivery.{k}" for k, v in _DELIVERY.items()}
        fields["SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK"] = "spec.delivery.deadLetterSink"
        field = fields.get(exc.variable, exc.variable)
        raise InvalidSpec("InvalidDelivery", f"{field}: {exc.reason}") from None


def kafka_env(
    source: Mapping[str, Any],
    sink: str,
    *,
    ca_certs: str | None = None,
    dead_letter_sink: str | None = None,
) -> list[dict[str, Any]]:
    """The Deployment's environment for ``source``. Raises :class:`InvalidSpec` for a spec the
    Kafka source could not run."""
    metadata = source.get("metadata") or {}
    spec = source.get("spec") or {}
    key_type = (metadata.get("labels") or {}).get(KEY_TYPE_LABEL) or "string"
    if key_type not in _KEY_TYPES:
        raise InvalidSpec(
            "InvalidSpec", f"label {KEY_TYPE_LABEL}: {key_type!r} is not one of "
            f"{', '.join(_KEY_TYPES)}",
        )  # fmt: skip
    delivery = _delivery_env(spec.get("delivery"), dead_letter_sink)
    _check_delivery(delivery, sink)
    env = [
        env_value("K_SINK", sink),
        env_value("K_CE_OVERRIDES", ce_overrides_env(spec.get("ceOverrides"))),
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        env_value("NAME", str(metadata.get("name"))),
        env_value("K_COMPONENT", "kafkasource"),
        env_value("KAFKA_BOOTSTRAP_SERVERS", ",".join(_strings(spec, "bootstrapServers"))),
        env_value("KAFKA_TOPICS", ",".join(_strings(spec, "topics"))),
        env_value("KAFKA_CONSUMER_GROUP", consumer_group(source)),
        env_value(
            "KAFKA_INITIAL_OFFSET", _choice(spec, "initialOffset", ("earliest", "latest"), "latest")
        ),
        env_value("KAFKA_ORDERING", _choice(spec, "ordering", ("ordered", "unordered"), "ordered")),
        env_value("KAFKA_KEY_TYPE", key_type),
    ]
    if ca_certs:
        env.append(env_value("K_CA_CERTS", ca_certs))
    env.extend(_net_env(spec.get("net") or {}))
    env.extend(env_value(k, v) for k, v in sorted(delivery.items()))
    return env


def _consumers(spec: Mapping[str, Any]) -> int:
    consumers = spec.get("consumers", 1)
    if consumers is None:
        return 1
    if type(consumers) is not int or consumers < 1:
        raise InvalidSpec("InvalidSpec", f"spec.consumers: {consumers!r} is not a positive number")
    return consumers


class KafkaSourceReconciler:
    """Reconciles one KafkaSource at a time (many may run concurrently)."""

    def __init__(
        self,
        client: KubeClient,
        cache: Cache,
        *,
        image: str,
        cluster_domain: str = "cluster.local",
    ) -> None:
        self.client = client
        self.cache = cache
        self.image = image
        self.cluster_domain = cluster_domain

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one KafkaSource's Deployment and status in line; remove the Deployment of one
        that no longer exists. Returns seconds after which to look again (None: only when
        something changes)."""
        where = (namespace, name)
        source = self.cache.adapter_sources[KAFKA_SOURCE].get(where)
        if source is None or (source.get("metadata") or {}).get("deletionTimestamp"):
            self.cache.track_sink(where, None, KAFKA_SOURCE)
            await self._remove_orphans(namespace, name, source)
            return None
        metadata = source.get("metadata") or {}
        spec = source.get("spec") or {}
        conditions = Conditions(
            [CONSUMER_GROUP, SINK_PROVIDED], (source.get("status") or {}).get("conditions")
        )
        status: dict[str, Any] = {"observedGeneration": metadata.get("generation", 0)}
        topics = spec.get("topics")
        topics = topics if isinstance(topics, list) else []
        status["ceAttributes"] = [
            {"type": KAFKA_EVENT_TYPE, "source": f"/apis/v1/namespaces/{namespace}/kafkasources/"
                                                 f"{name}#{topic}"}
            for topic in topics
        ]  # fmt: skip
        sink, retry = await self._sink(source, conditions, status)
        if sink is not None:
            await self._deploy(source, sink, status, conditions)
        else:
            conditions.unknown(CONSUMER_GROUP, "SinkMissing", "waiting for the sink")
        await self._write_status(source, conditions, status)
        return retry

    async def _resolve(
        self, destination: Any, namespace: str, field: str
    ) -> tuple[str, str | None]:
        where = f"spec.{field}"
        try:
            parsed = parse_destination(destination, namespace)
        except InvalidSpec as exc:
            raise InvalidSpec(exc.reason, exc.message.replace("spec.sink", where)) from None
        target = await self.cache.sink_target(parsed.ref) if parsed.ref is not None else None
        resolved = resolve_sink(parsed, lambda _: target, cluster_domain=self.cluster_domain)
        return resolved.url, resolved.ca_certs

    async def _sink(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> tuple[str | None, float | None]:
        namespace, name = source["metadata"]["namespace"], source["metadata"]["name"]
        sink_spec = (source.get("spec") or {}).get("sink")
        try:
            ref = parse_destination(sink_spec, namespace).ref
        except InvalidSpec as exc:
            self.cache.track_sink((namespace, name), None, KAFKA_SOURCE)
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
            return None, None
        self.cache.track_sink((namespace, name), ref, KAFKA_SOURCE)
        try:
            url, ca_certs = await self._resolve(sink_spec, namespace, "sink")
        except SinkError as exc:
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
            return None, 30.0  # also watched: this is only a safety net
        conditions.true(SINK_PROVIDED)
        status["sinkUri"] = url
        if ca_certs:
            status["sinkCACerts"] = ca_certs
        return url, None

    async def _deploy(
        self,
        source: Mapping[str, Any],
        sink: str,
        status: dict[str, Any],
        conditions: Conditions,
    ) -> None:
        namespace, name = source["metadata"]["namespace"], source["metadata"]["name"]
        spec = source.get("spec") or {}
        try:
            dead_letter = None
            if isinstance(spec.get("delivery"), Mapping) and spec["delivery"].get("deadLetterSink"):
                try:
                    dead_letter, _ = await self._resolve(
                        spec["delivery"]["deadLetterSink"], namespace, "delivery.deadLetterSink"
                    )
                except SinkError as exc:
                    raise InvalidSpec("DeadLetterSinkResolutionFailed", exc.message) from None
            validate_ce_overrides(spec.get("ceOverrides"))
            replicas = _consumers(spec)
            env = kafka_env(
                source, sink, ca_certs=status.get("sinkCACerts"), dead_letter_sink=dead_letter
            )
        except InvalidSpec as exc:
            conditions.false(CONSUMER_GROUP, exc.reason, exc.message)
            return
        if not self.image:
            conditions.false(
                CONSUMER_GROUP, "NoImage", "CONTROLLER_KAFKA_IMAGE is not set in the controller"
            )
            return
        labels = _labels(name)
        desired = adapter_deployment(
            source,
            adapter_name(source),
            labels,
            adapter_container(self.image, env),
            replicas=replicas,
        )
        existing = self.cache.adapter_deployments[KAFKA_SOURCE].get(
            (namespace, adapter_name(source))
        )
        try:
            deployment = await ensure_deployment(self.client, source, desired, existing)
        except AdapterProblem as exc:
            conditions.false(CONSUMER_GROUP, exc.reason, exc.message)
            return
        status["consumers"] = replicas
        status["selector"] = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        conditions.mark(CONSUMER_GROUP, *deployment_availability(deployment))

    async def _remove_orphans(
        self, namespace: str, name: str, source: Mapping[str, Any] | None
    ) -> None:
        """Delete Deployments controlled by a KafkaSource ``name`` that is gone (or going)."""
        live_uid = None
        if source is not None and not (source.get("metadata") or {}).get("deletionTimestamp"):
            live_uid = source["metadata"].get("uid")
        for (where, deployment_name), deployment in list(
            self.cache.adapter_deployments[KAFKA_SOURCE].items()
        ):
            owner = controller_owner(deployment)
            if where != namespace or owner is None or owner.get("name") != name:
                continue
            if live_uid is not None and owner.get("uid") == live_uid:
                continue
            await delete_owned(
                self.client,
                f"{_DEPLOYMENTS.format(namespace=namespace)}/{deployment_name}",
                deployment["metadata"].get("uid"),
            )

    async def _write_status(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        metadata = source["metadata"]
        path = _SOURCE_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        kept = ("annotations", "placements", "claims")
        await write_status(self.client, path, source, conditions, status, keep=kept)
