"""The Broker and Trigger reconciler (Knative's ``eventing.knative.dev/v1``) for Springhead's
Kafka broker data plane (``springhead-broker``).

Brokers of Springhead's class (annotation ``eventing.knative.dev/broker.class`` equal to
``BROKER_CLASS``; with ``BROKER_DEFAULT_CLASS`` also Brokers without the annotation) and the
Triggers on them are reconciled together, level-based: every change to any of them (and a
periodic safety net) rebuilds one contract document, because the data plane reads all brokers
and triggers from one ConfigMap (``BROKER_CONTRACT_CONFIGMAP``; format:
``springhead_broker.contract``). A ConfigMap rather than a watch so that the data plane needs no
Kubernetes API access, sees one consistent snapshot and keeps serving when the API server is
away (Knative's Kafka broker does the same).

For each Broker: its Kafka config is the controller's defaults (``BROKER_TOPIC_PARTITIONS``,
``BROKER_TOPIC_REPLICATION``, ``KAFKA_BOOTSTRAP_SERVERS``), overridden key by key by the
ConfigMap its ``spec.config`` names (Knative's ``kafka-broker-config``:
``default.topic.partitions``, ``default.topic.replication.factor``, ``bootstrap.servers``;
:func:`parse_broker_config`; a bad or missing one is ``ConfigParsed`` False with the reason; its
keys are kept in the status annotations, which rebuild it once the ConfigMap is deleted, as
Knative's Kafka broker does; read on every pass, not watched: a change is seen within
``REFRESH``). The topic
``knative-broker-<ns>-<name>`` is created through Kafka's admin API on that cluster (an existing
topic is used as it is), or the annotation ``kafka.eventing.knative.dev/external.topic`` names an
existing topic that is used instead (checked to exist, never created, never deleted);
``status.address.url`` is ``http://<ingress host>/<ns>/<name>``; the conditions are those of
Knative's Kafka broker (Addressable, ConfigMapUpdated, ConfigParsed, DataPlaneAvailable,
ProbeSucceeded, TopicReady; not EventPoliciesReady: Springhead has no EventPolicies) plus Ready.
ProbeSucceeded is True once every endpoint of the ingress Service serves the Broker
(:mod:`springhead_controller.probe`; ``BROKER_PROBE=false`` leaves the condition out, and Ready
then follows the contract ConfigMap alone). For each Trigger: the subscriber (ref or uri) and
the dead-letter sink are resolved as the SinkBinding reconciler resolves sinks; the filter is
validated (:func:`springhead.eventfilter.trigger_filter`: an invalid one makes SubscriptionReady
False with reason ``InvalidFilter``); conditions BrokerReady, DeadLetterSinkResolved,
DependencyReady, SubscriberResolved, SubscriptionReady and Ready; ``status.subscriberUri``,
``status.deadLetterSinkUri`` and the status annotation ``group.id`` (plus ``bootstrap.servers``
when its Broker's topic is on another cluster than ``KAFKA_BOOTSTRAP_SERVERS``: where its group
is deleted).

Deletion policy (finalizer ``brokers.eventing.springhead.dev``): deleting a Broker deletes its
topic and every event in it (not an external topic); deleting a Trigger removes it from the
contract, then deletes its consumer group ``knative-trigger-<ns>-<name>`` (its committed offsets)
once the dispatchers have left it. A Trigger whose Broker is deleted stays, with BrokerReady
False.

The class is immutable, as in Knative (whose webhook refuses the change; Springhead has no
webhook): a Broker that carries this controller's finalizer but is no longer of its class is not
reconciled any more. It stays as it was (its last contract entry, triggers included, keeps being
served; its topic is kept) and its ``ConfigParsed``, hence ``Ready``, is False with reason
``BrokerClassImmutable`` saying so. Its Triggers can still be deleted, and the Broker itself
(finalized as before). Changed back, it is reconciled again.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from springhead.backoff import stopped_within
from springhead.eventfilter import FilterSpecError, trigger_filter
from springhead.kafka.admin import KafkaAdmin, KafkaAdminError
from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    KubeClient,
    Selection,
)

from springhead_controller.cache import Cache
from springhead_controller.conditions import Conditions, condition_of, write_status
from springhead_controller.config import ControllerSettings
from springhead_controller.probe import IngressProber, ProbeStatus
from springhead_controller.spec import (
    InvalidSpec,
    SinkError,
    parse_destination,
    resolve_sink,
)

__all__ = [
    "BROKERS",
    "BrokerOptions",
    "BrokerReconciler",
    "CLASS_ANNOTATION",
    "FINALIZER",
    "TRIGGERS",
    "broker_reconciler",
    "broker_topic",
    "trigger_group",
]

log = logging.getLogger("springhead.controller")

EVENTING = "eventing.knative.dev/v1"
BROKERS = ApiResource(EVENTING, "Broker", "brokers", True)
TRIGGERS = ApiResource(EVENTING, "Trigger", "triggers", True)
CLASS_ANNOTATION = "eventing.knative.dev/broker.class"
#: A Broker annotation naming an existing topic to use (never created, never deleted).
EXTERNAL_TOPIC_ANNOTATION = "kafka.eventing.knative.dev/external.topic"
FINALIZER = "brokers.eventing.springhead.dev"
#: Keys of Knative's ``kafka-broker-config`` ConfigMap (a Broker's ``spec.config``).
PARTITIONS_KEY = "default.topic.partitions"
REPLICATION_KEY = "default.topic.replication.factor"
BOOTSTRAP_KEY = "bootstrap.servers"
#: A ``kafka-broker-config`` key naming per-Broker Kafka credentials, which Springhead refuses.
AUTH_SECRET_KEY = "auth.secret.ref.name"  # noqa: S105 - a key's name, not a secret
CONTRACT_KEY = "contract.json"
#: The Broker conditions Springhead reports (Knative's Kafka broker's, without EventPoliciesReady),
#: besides ProbeSucceeded (:data:`PROBE_CONDITION`) when the ingress is probed.
BROKER_CONDITIONS = (
    "Addressable", "ConfigMapUpdated", "ConfigParsed", "DataPlaneAvailable", "TopicReady",
)  # fmt: skip
PROBE_CONDITION = "ProbeSucceeded"
#: Trigger annotations the data plane reads.
_DATA_PLANE_ANNOTATIONS = ("kafka.eventing.knative.dev/delivery.order",)
_MERGE_PATCH = "application/merge-patch+json"
#: How soon an object that is not Ready yet (unresolved subscriber, Kafka away) is looked at again.
RETRY = 5.0
#: How often a pass runs anyway (a safety net: a change to a subscriber or dead-letter sink the
#: last pass resolved starts a pass at once; ConfigMaps named by spec.config are not watched and
#: are seen this soon). A pass that changes nothing writes nothing (ConfigMap reads only).
REFRESH = 30.0

NamespacedName = tuple[str, str]


def broker_topic(namespace: str, name: str) -> str:
    """A Broker's topic: ``knative-broker-<namespace>-<name>`` (Knative's Kafka broker)."""
    return f"knative-broker-{namespace}-{name}"


def trigger_group(namespace: str, name: str) -> str:
    """A Trigger's consumer group: ``knative-trigger-<namespace>-<name>``."""
    return f"knative-trigger-{namespace}-{name}"


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """What the reconciler needs from the controller's settings."""

    contract_namespace: str
    contract_name: str
    ingress_host: str
    broker_class: str
    default_class: bool
    partitions: int
    replication: int
    cluster_domain: str = "cluster.local"
    bootstrap_servers: tuple[str, ...] = ()
    """Kafka's brokers (``KAFKA_BOOTSTRAP_SERVERS``): a Broker's cluster unless its
    ``spec.config`` names another."""
    probe_service: str = ""
    """The ingress Service (in ``contract_namespace``) whose endpoints are probed for each
    Broker's ProbeSucceeded; empty: no probing, no such condition."""


@dataclass(frozen=True, slots=True)
class KafkaConfig:
    """Where a Broker's topic lives and how it is made: the controller's defaults, overridden by
    the Broker's ``spec.config`` ConfigMap (Knative's ``kafka-broker-config``)."""

    partitions: int
    replication: int
    bootstrap_servers: tuple[str, ...]
    annotations: Mapping[str, str]
    """The ConfigMap's keys as read, kept in the Broker's status annotations (as Knative's
    Kafka broker does): a ConfigMap deleted before its Broker is rebuilt from them."""


class ConfigProblem(Exception):
    """A Broker's ``spec.config`` cannot be used; ``reason`` and ``message`` go into its
    ``ConfigParsed`` condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def parse_broker_config(
    data: Mapping[str, Any], defaults: KafkaConfig, where: str = "spec.config"
) -> KafkaConfig:
    """A ``kafka-broker-config`` ConfigMap's ``data`` over ``defaults``: each key given replaces
    the default (Knative requires all three; Springhead takes its own default for a key left
    out). :class:`ConfigProblem` (reason ``InvalidConfig`` or ``UnsupportedConfig``) names the
    key that is wrong."""
    if data.get(AUTH_SECRET_KEY):
        raise ConfigProblem(
            "UnsupportedConfig",
            f"{where}: {AUTH_SECRET_KEY} is not supported: Springhead reaches Kafka with one set "
            "of credentials, the controller's and data plane's KAFKA_SASL_*/KAFKA_TLS_* (the "
            "charts' kafka.sasl and kafka.tls)",
        )

    def count(key: str, default: int) -> int:
        text = data.get(key)
        if text is None:
            return default
        try:
            value = int(str(text).strip())
        except ValueError:
            raise ConfigProblem(
                "InvalidConfig", f"{where}: {key} must be a whole number, got {text!r}"
            ) from None
        if value <= 0:
            raise ConfigProblem("InvalidConfig", f"{where}: {key} must be positive, got {value}")
        return value

    servers = defaults.bootstrap_servers
    if data.get(BOOTSTRAP_KEY) is not None:
        servers = tuple(s.strip() for s in str(data[BOOTSTRAP_KEY]).split(",") if s.strip())
        if not servers:
            raise ConfigProblem("InvalidConfig", f"{where}: {BOOTSTRAP_KEY} names no server")
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigProblem(
                    "InvalidConfig", f"{where}: {BOOTSTRAP_KEY}: {server!r} is not host:port"
                )
    kept = {k: str(data[k]) for k in (BOOTSTRAP_KEY, PARTITIONS_KEY, REPLICATION_KEY) if k in data}
    return KafkaConfig(
        partitions=count(PARTITIONS_KEY, defaults.partitions),
        replication=count(REPLICATION_KEY, defaults.replication),
        bootstrap_servers=servers,
        annotations=kept,
    )


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _where(obj: Mapping[str, Any]) -> NamespacedName:
    return str(_meta(obj).get("namespace") or ""), str(_meta(obj).get("name") or "")


def _path(resource: ApiResource, namespace: str, name: str) -> str:
    return f"/apis/{resource.api_version}/namespaces/{namespace}/{resource.plural}/{name}"


class BrokerReconciler:
    """Watches Brokers and Triggers and reconciles all of them on every change (see the module
    documentation). ``cache`` gives sink lookups (the SinkBinding reconciler's)."""

    def __init__(
        self,
        client: KubeClient,
        cache: Cache,
        options: BrokerOptions,
        kafka: Mapping[str, Any],
    ) -> None:
        self.client = client
        self.cache = cache
        self.options = options
        self.kafka = dict(kafka)
        """Kafka client options (SASL, TLS) for every cluster a Broker's topic lives on."""
        self.defaults = KafkaConfig(
            partitions=options.partitions,
            replication=options.replication,
            bootstrap_servers=options.bootstrap_servers,
            annotations={},
        )
        self.brokers: dict[NamespacedName, dict[str, Any]] = {}
        self.triggers: dict[NamespacedName, dict[str, Any]] = {}
        self._admins: dict[tuple[str, ...], KafkaAdmin] = {}
        self._topics: set[tuple[tuple[str, ...], str]] = set()
        self._dirty = asyncio.Event()
        self.conditions: tuple[str, ...] = BROKER_CONDITIONS
        """The Broker conditions Ready follows here."""
        self.prober: IngressProber | None = None
        if options.probe_service:
            self.conditions = (*BROKER_CONDITIONS, PROBE_CONDITION)
            self.prober = IngressProber(client, options.contract_namespace, options.probe_service)
        # The subscribers and dead-letter sinks (objects) the last pass resolved: a change to
        # one of them starts a pass at once, so a new address reaches the contract promptly.
        self._resolved: set[tuple[str, str, str, str]] = set()
        self._resolving: set[tuple[str, str, str, str]] = set()
        cache.listen_to_sinks(self._sink_changed)
        self._informers = [
            Informer(client, Selection(BROKERS), self._store(self.brokers), emit_existing=True),
            Informer(client, Selection(TRIGGERS), self._store(self.triggers), emit_existing=True),
        ]

    def _store(self, objects: dict[NamespacedName, dict[str, Any]]) -> Any:
        async def handle(change: Change) -> None:
            where = _where(change.object)
            if change.type is ChangeType.DELETE:
                objects.pop(where, None)
            else:
                objects[where] = dict(change.object)
            self._dirty.set()

        return handle

    def _sink_changed(self, sink: tuple[str, str, str, str]) -> None:
        if sink in self._resolved or sink in self._resolving:
            self._dirty.set()

    def admin(self, servers: tuple[str, ...]) -> KafkaAdmin:
        """Kafka's admin API on the cluster ``servers`` name (the controller's credentials)."""
        admin = self._admins.get(servers)
        if admin is None:
            admin = self._admins[servers] = KafkaAdmin(
                {**self.kafka, "bootstrap_servers": list(servers)}
            )
        return admin

    def address(self, namespace: str, name: str) -> str:
        """A Broker's address: ``http://<ingress host>/<namespace>/<name>``."""
        return f"http://{self.options.ingress_host}/{namespace}/{name}"

    def ours(self, broker: Mapping[str, Any]) -> bool:
        """Whether a Broker is of Springhead's class."""
        annotations = _meta(broker).get("annotations") or {}
        broker_class = annotations.get(CLASS_ANNOTATION)
        if broker_class is None:
            return self.options.default_class
        return bool(broker_class == self.options.broker_class)

    def class_changed(self, broker: Mapping[str, Any]) -> bool:
        """Whether a Broker this controller took (its finalizer is on it) is no longer of
        Springhead's class: its class annotation changed, which Knative forbids."""
        return not self.ours(broker) and FINALIZER in (_meta(broker).get("finalizers") or [])

    async def run(self, resync: float) -> None:
        """Watch and reconcile until cancelled: after every change, ``RETRY`` seconds after a
        pass that left something not Ready, every ``REFRESH`` seconds otherwise, and every
        ``resync`` seconds with the topics checked again."""
        tasks = [asyncio.create_task(i.run(), name="informer brokers") for i in self._informers]
        try:
            await asyncio.gather(*(i.wait_synced() for i in self._informers))
            loop = asyncio.get_running_loop()
            next_resync = loop.time() + resync
            while True:
                self._dirty.clear()
                try:
                    pending = await self.reconcile_all()
                except (KubeApiError, KafkaAdminError) as exc:
                    log.warning("broker reconcile failed; retrying", extra={"error": str(exc)})
                    pending = True
                if loop.time() >= next_resync:
                    self._topics.clear()
                    if self.prober is not None:
                        self.prober.forget()
                    next_resync = loop.time() + resync
                wait = RETRY if pending else min(REFRESH, max(0.0, next_resync - loop.time()))
                await stopped_within(self._dirty, wait)
        finally:
            for informer in self._informers:
                await informer.stop()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.prober is not None:
                await self.prober.close()

    # -- one pass -----------------------------------------------------------------------------

    async def reconcile_all(self) -> bool:
        """One pass over every Broker and Trigger; True when something is not Ready yet (or a
        deletion waits) and the pass should run again soon."""
        pending = False
        self._resolving = set()
        entries: dict[NamespacedName, dict[str, Any]] = {}
        broker_status: dict[NamespacedName, tuple[dict[str, Any], Conditions, dict[str, Any]]] = {}
        deleting_triggers = []
        configmap, problem = await self._read_contract()
        served = _served(configmap)
        for where, broker in sorted(self.brokers.items()):
            if not self.ours(broker) and not self.class_changed(broker):
                continue
            if not self.ours(broker) and not _meta(broker).get("deletionTimestamp"):
                # Left as it was: still served (its last contract entry, triggers included),
                # its topic kept; only the refusal is reported.
                if where in served:
                    entries[where] = served[where]
                await self._refuse_class_change(broker)
                continue
            if _meta(broker).get("deletionTimestamp"):
                pending |= not await self._finalize_broker(broker)
                continue
            broker = await self._ensure_finalizer(BROKERS, broker)
            conditions, status, entry = await self._broker(broker)
            broker_status[where] = (broker, conditions, status)
            if entry is not None:
                entries[where] = entry
        trigger_status = []
        for where, trigger in sorted(self.triggers.items()):
            spec = trigger.get("spec") or {}
            broker_key = (where[0], str(spec.get("broker") or ""))
            its_broker = self.brokers.get(broker_key)
            finalizers = _meta(trigger).get("finalizers") or []
            if its_broker is not None and not self.ours(its_broker):
                deleting = _meta(trigger).get("deletionTimestamp") and FINALIZER in finalizers
                if deleting and self.class_changed(its_broker):
                    # A Broker left as it was still lets its Triggers go: out of its frozen
                    # entry, then their groups are deleted.
                    frozen = entries.get(broker_key)
                    if frozen is not None:
                        frozen["triggers"] = [
                            t for t in frozen.get("triggers") or [] if t.get("name") != where[1]
                        ]
                    deleting_triggers.append(trigger)
                continue
            if its_broker is None and not (self.options.default_class or FINALIZER in finalizers):
                continue
            if _meta(trigger).get("deletionTimestamp"):
                deleting_triggers.append(trigger)
                continue
            trigger = await self._ensure_finalizer(TRIGGERS, trigger)
            conditions, status, item = await self._trigger(
                trigger, its_broker, entries.get(broker_key), broker_key in broker_status
            )
            trigger_status.append((trigger, conditions, status, item is not None))
            if item is not None:
                entries[broker_key]["triggers"].append(item)
        written = None
        if configmap is not None:
            written, problem = await self._write_contract(configmap, list(entries.values()))
        probed: dict[str, ProbeStatus] = {}
        if self.prober is not None and problem is None:
            probed = await self.prober.probe(
                _broker_path(where) for where in broker_status if where in entries
            )
        for where, (broker, conditions, status) in broker_status.items():
            if problem is not None:
                conditions.false("DataPlaneAvailable", "ContractConfigMapUnavailable", problem)
                conditions.false("ConfigMapUpdated", "ContractConfigMapUnavailable", problem)
            elif where in entries:
                conditions.true("DataPlaneAvailable")
                conditions.true(
                    "ConfigMapUpdated",
                    "ContractUpdated",
                    f"broker in ConfigMap {self._contract_ref()}",
                )
                found = probed.get(_broker_path(where))
                if found is ProbeStatus.READY:
                    conditions.true(PROBE_CONDITION)
                elif found is not None:
                    # Knative's reason and message (ProbesStatusNotReady).
                    conditions.false(PROBE_CONDITION, "ProbeStatus", f"status: {found.value}")
            pending |= conditions.ready() != "True"
            await self._write_status(BROKERS, broker, conditions, status)
        for trigger, conditions, status, included in trigger_status:
            if included and problem is None:
                conditions.true("SubscriptionReady")
            elif included:
                conditions.false("SubscriptionReady", "ContractConfigMapUnavailable", problem or "")
            pending |= conditions.ready() != "True"
            await self._write_status(TRIGGERS, trigger, conditions, status)
        if written is not None:
            log.info(
                "contract updated",
                extra={"configmap": self._contract_ref(), "brokers": len(entries)},
            )
        for trigger in deleting_triggers:
            if problem is None:
                pending |= not await self._finalize_trigger(trigger)
            else:
                pending = True
        self._resolved = self._resolving
        return pending

    async def _broker(
        self, broker: dict[str, Any]
    ) -> tuple[Conditions, dict[str, Any], dict[str, Any] | None]:
        namespace, name = _where(broker)
        conditions = Conditions(self.conditions, _conditions(broker))
        status: dict[str, Any] = {"observedGeneration": _meta(broker).get("generation", 0)}
        external = (_meta(broker).get("annotations") or {}).get(EXTERNAL_TOPIC_ANNOTATION)
        topic = broker_topic(namespace, name) if external is None else str(external)
        try:
            config = await self._config(broker)
        except ConfigProblem as exc:
            # The last config read stays in the status annotations (a later rebuild needs it).
            kept = _config_annotations(broker)
            status["annotations"] = {**kept, "default.topic": topic}
            conditions.false("ConfigParsed", exc.reason, exc.message)
            conditions.unknown("TopicReady", "ConfigNotParsed", "no topic until spec.config parses")
            conditions.unknown("Addressable", "TopicNotReady", "no address until the topic exists")
            return conditions, status, None
        status["annotations"] = {**config.annotations, "default.topic": topic}
        spec = broker.get("spec") or {}
        delivery, dls_error = await self._delivery(spec.get("delivery"), namespace)
        if dls_error is not None:
            conditions.false("ConfigParsed", dls_error[0], dls_error[1])
        else:
            conditions.true("ConfigParsed")
            if delivery and delivery.get("deadLetterSink"):
                status["deadLetterSinkUri"] = delivery["deadLetterSink"]
        servers = config.bootstrap_servers
        try:
            if (servers, topic) not in self._topics:
                await self._ensure_topic(topic, config, external=external is not None)
                self._topics.add((servers, topic))
            owner = "external" if external is not None else "created"
            conditions.true("TopicReady", "TopicReady", f"topic {topic} ({owner})")
        except KafkaAdminError as exc:
            conditions.false("TopicReady", "TopicNotPresentOrInvalid", str(exc))
            conditions.unknown("Addressable", "TopicNotReady", "no address until the topic exists")
            return conditions, status, None
        url = self.address(namespace, name)
        status["address"] = {"name": "http", "url": url}
        status["addresses"] = [{"name": "http", "url": url}]
        conditions.true("Addressable")
        if dls_error is not None:
            return conditions, status, None
        entry: dict[str, Any] = {
            "namespace": namespace, "name": name, "topic": topic, "triggers": [],
        }  # fmt: skip
        if servers != self.options.bootstrap_servers:
            entry["bootstrapServers"] = list(servers)
        if delivery:
            entry["delivery"] = delivery
        return conditions, status, entry

    async def _config(self, broker: Mapping[str, Any]) -> KafkaConfig:
        """The Broker's Kafka config: its ``spec.config`` ConfigMap over the defaults (none: the
        defaults); a ConfigMap deleted before the Broker is rebuilt from the Broker's status
        annotations, as Knative's Kafka broker does. :class:`ConfigProblem` when unusable."""
        ref = (broker.get("spec") or {}).get("config")
        if not ref:
            return self.defaults
        if not isinstance(ref, Mapping):
            raise ConfigProblem("InvalidConfig", "spec.config must be a reference to a ConfigMap")
        kind = str(ref.get("kind") or "")
        if kind.lower() != "configmap":
            raise ConfigProblem(
                "UnsupportedConfigKind",
                f"spec.config: the kind must be ConfigMap, got {kind!r}",
            )
        name = str(ref.get("name") or "")
        if not name:
            raise ConfigProblem("InvalidConfig", "spec.config.name is required")
        namespace = str(ref.get("namespace") or _where(broker)[0])
        where = f"ConfigMap {namespace}/{name}"
        try:
            configmap = await asyncio.to_thread(
                self.client.get, f"/api/v1/namespaces/{namespace}/configmaps/{name}"
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise ConfigProblem(
                    "ConfigMapUnavailable", f"cannot read {where}: {exc.message}"
                ) from None
            kept = _config_annotations(broker)
            if not kept:
                raise ConfigProblem(
                    "ConfigMapNotFound", f"{where} (spec.config) does not exist"
                ) from None
            where += " (deleted; rebuilt from the Broker's status annotations)"
            return parse_broker_config(kept, self.defaults, where)
        return parse_broker_config(configmap.get("data") or {}, self.defaults, where)

    async def _ensure_topic(self, topic: str, config: KafkaConfig, *, external: bool) -> None:
        """Create the Broker's topic unless it exists; an external topic must exist already."""
        admin = self.admin(config.bootstrap_servers)
        if external:
            if topic not in await admin.topics():
                raise KafkaAdminError(
                    f"topic {topic!r} does not exist: {EXTERNAL_TOPIC_ANNOTATION} names an "
                    "existing topic, which Springhead neither creates nor deletes"
                )
            return
        if await admin.ensure_topic(
            topic, partitions=config.partitions, replication=config.replication
        ):
            log.info("created a broker topic", extra={"topic": topic})

    async def _refuse_class_change(self, broker: Mapping[str, Any]) -> None:
        """Report that a Broker's class changed: ``ConfigParsed`` (hence ``Ready``) False with
        reason ``BrokerClassImmutable``; everything else in its status stays as it was."""
        annotations = _meta(broker).get("annotations") or {}
        now = annotations.get(CLASS_ANNOTATION)
        message = (
            f"{CLASS_ANNOTATION} changed from {self.options.broker_class!r} to "
            f"{now if now is not None else '(none)'!r} after creation; the class is immutable "
            "(Knative's webhook refuses the change). The Broker is left as it was: still "
            "served, its topic kept. Restore the annotation, or delete the Broker and create it "
            "again to change its class."
        )
        previous = _conditions(broker)
        conditions = Conditions(self.conditions, previous)
        for condition in previous:
            kind = str(condition.get("type"))
            if kind in self.conditions:
                conditions.mark(
                    kind,
                    str(condition.get("status") or "Unknown"),
                    str(condition.get("reason") or ""),
                    str(condition.get("message") or ""),
                )
        conditions.false("ConfigParsed", "BrokerClassImmutable", message)
        status = {k: v for k, v in (broker.get("status") or {}).items() if k != "conditions"}
        ready = condition_of(broker.get("status"), "Ready") or {}
        if ready.get("reason") != "BrokerClassImmutable":  # logged once, when first seen
            log.warning(
                "a Broker's class changed; it is left as it was",
                extra={"broker": "/".join(_where(broker)), "class": now},
            )
        await self._write_status(BROKERS, broker, conditions, status)

    async def _trigger(
        self,
        trigger: dict[str, Any],
        broker: Mapping[str, Any] | None,
        entry: Mapping[str, Any] | None,
        reconciled: bool,
    ) -> tuple[Conditions, dict[str, Any], dict[str, Any] | None]:
        namespace, name = _where(trigger)
        conditions = Conditions(
            [
                "BrokerReady", "DeadLetterSinkResolved", "DependencyReady", "SubscriberResolved",
                "SubscriptionReady",
            ],
            _conditions(trigger),
        )  # fmt: skip
        status: dict[str, Any] = {
            "observedGeneration": _meta(trigger).get("generation", 0),
            "annotations": {"group.id": trigger_group(namespace, name)},
        }
        spec = trigger.get("spec") or {}
        conditions.true("DependencyReady")
        if broker is None or not reconciled:
            conditions.false(
                "BrokerReady", "BrokerDoesNotExist", f"Broker {spec.get('broker')!r} does not exist"
            )
        elif entry is None:
            conditions.false("BrokerReady", "BrokerNotReady", "the Broker is not Ready")
        else:
            conditions.true("BrokerReady")
            if entry.get("bootstrapServers"):
                # Where its consumer group lives, for its deletion (the Broker may be gone).
                status["annotations"][BOOTSTRAP_KEY] = ",".join(entry["bootstrapServers"])
        try:
            subscriber = await self._resolve(spec.get("subscriber"), namespace, "subscriber")
        except (InvalidSpec, SinkError) as exc:
            conditions.false("SubscriberResolved", exc.reason, exc.message)
            subscriber = None
        else:
            conditions.true("SubscriberResolved")
            status["subscriberUri"] = subscriber
        delivery, dls_error = await self._delivery(spec.get("delivery"), namespace)
        broker_delivery = (entry or {}).get("delivery") or {}
        dls = (delivery or {}).get("deadLetterSink") or broker_delivery.get("deadLetterSink")
        if dls_error is not None:
            conditions.false("DeadLetterSinkResolved", dls_error[0], dls_error[1])
        elif dls:
            conditions.true("DeadLetterSinkResolved")
            status["deadLetterSinkUri"] = dls
        else:
            conditions.true("DeadLetterSinkResolved", "DeadLetterSinkNotConfigured")
        try:
            trigger_filter(spec)
        except FilterSpecError as exc:
            conditions.false("SubscriptionReady", "InvalidFilter", str(exc))
            return conditions, status, None
        if entry is None or subscriber is None or dls_error is not None:
            conditions.unknown(
                "SubscriptionReady", "NotSubscribed", "waiting for the broker and the subscriber"
            )
            return conditions, status, None
        item: dict[str, Any] = {"name": name, "subscriber": subscriber}
        for key in ("filter", "filters"):
            if spec.get(key):
                item[key] = spec[key]
        if delivery:
            item["delivery"] = delivery
        annotations = _meta(trigger).get("annotations") or {}
        kept = {k: annotations[k] for k in _DATA_PLANE_ANNOTATIONS if k in annotations}
        if kept:
            item["annotations"] = kept
        return conditions, status, item

    # -- pieces -------------------------------------------------------------------------------

    async def _resolve(self, destination: Any, namespace: str, what: str) -> str:
        """The URL a Destination (``subscriber``, ``deadLetterSink``) resolves to; raises
        InvalidSpec or SinkError."""
        try:
            parsed = parse_destination(destination, namespace)
        except InvalidSpec as exc:
            raise InvalidSpec(
                exc.reason, exc.message.replace("spec.sink", f"spec.{what}")
            ) from None
        target = None
        if parsed.ref is not None:
            ref = parsed.ref
            self._resolving.add((ref.group, ref.kind, ref.namespace, ref.name))
            target = await self.cache.sink_target(ref)
        resolved = resolve_sink(
            parsed, lambda _: target, cluster_domain=self.options.cluster_domain
        )
        return resolved.url

    async def _delivery(
        self, delivery: Any, namespace: str
    ) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
        """A delivery spec for the contract (its deadLetterSink resolved to a URL), or the
        (reason, message) why its dead-letter sink does not resolve."""
        if not isinstance(delivery, Mapping) or not delivery:
            return None, None
        out = {k: v for k, v in delivery.items() if k != "deadLetterSink"}
        if delivery.get("deadLetterSink"):
            try:
                out["deadLetterSink"] = await self._resolve(
                    delivery["deadLetterSink"], namespace, "delivery.deadLetterSink"
                )
            except (InvalidSpec, SinkError) as exc:
                return None, ("DeadLetterSinkResolutionFailed", exc.message)
        return out, None

    def _contract_ref(self) -> str:
        return f"{self.options.contract_namespace}/{self.options.contract_name}"

    def _contract_path(self) -> str:
        return f"/api/v1/namespaces/{self.options.contract_namespace}/configmaps/" + (
            self.options.contract_name
        )

    async def _read_contract(self) -> tuple[dict[str, Any] | None, str | None]:
        """The contract ConfigMap, or (None, why it cannot be read)."""
        try:
            configmap: dict[str, Any] = await asyncio.to_thread(
                self.client.get, self._contract_path()
            )
        except KubeApiError as exc:
            if exc.status == 404:
                return None, (
                    f"ConfigMap {self._contract_ref()} does not exist: install the broker chart"
                )
            return None, f"cannot read ConfigMap {self._contract_ref()}: {exc.message}"
        return configmap, None

    async def _write_contract(
        self, configmap: Mapping[str, Any], brokers: list[dict[str, Any]]
    ) -> tuple[str | None, str | None]:
        """Write the contract document into ``configmap`` (when it changed): (the text written
        or None, None), or (None, why it cannot be written)."""
        text = json.dumps({"brokers": brokers}, sort_keys=True, separators=(",", ":"))
        if (configmap.get("data") or {}).get(CONTRACT_KEY) == text:
            return None, None
        body = {**configmap, "data": {**(configmap.get("data") or {}), CONTRACT_KEY: text}}
        try:
            await asyncio.to_thread(self.client.request, "PUT", self._contract_path(), body=body)
        except KubeApiError as exc:
            return None, f"cannot write ConfigMap {self._contract_ref()}: {exc.message}"
        return text, None

    async def _ensure_finalizer(self, resource: ApiResource, obj: dict[str, Any]) -> dict[str, Any]:
        finalizers = list(_meta(obj).get("finalizers") or [])
        if FINALIZER in finalizers:
            return obj
        return await self._set_finalizers(resource, obj, [*finalizers, FINALIZER])

    async def _set_finalizers(
        self, resource: ApiResource, obj: Mapping[str, Any], finalizers: list[str]
    ) -> dict[str, Any]:
        patch = {
            "metadata": {
                "finalizers": finalizers,
                "resourceVersion": _meta(obj).get("resourceVersion"),
            }
        }
        updated: dict[str, Any] = await asyncio.to_thread(
            self.client.request,
            "PATCH",
            _path(resource, *_where(obj)),
            body=patch,
            content_type=_MERGE_PATCH,
        )
        return updated

    async def _release(self, resource: ApiResource, obj: Mapping[str, Any]) -> None:
        finalizers = [f for f in _meta(obj).get("finalizers") or [] if f != FINALIZER]
        try:
            await self._set_finalizers(resource, obj, finalizers)
        except KubeApiError as exc:
            if exc.status not in (404, 409):
                raise

    async def _finalize_broker(self, broker: Mapping[str, Any]) -> bool:
        """Delete the Broker's topic, then release it; False when it must be tried again."""
        if FINALIZER not in (_meta(broker).get("finalizers") or []):
            return True
        external = (_meta(broker).get("annotations") or {}).get(EXTERNAL_TOPIC_ANNOTATION)
        if external is not None:
            log.info("a broker's external topic is kept", extra={"topic": external})
            await self._release(BROKERS, broker)
            return True
        try:
            config = await self._config(broker)
        except ConfigProblem:
            config = self.defaults  # never parsed: its topic, if any, is on the default cluster
        topic = broker_topic(*_where(broker))
        try:
            await self.admin(config.bootstrap_servers).delete_topic(topic)
        except KafkaAdminError as exc:
            log.warning(
                "cannot delete a broker topic yet", extra={"topic": topic, "error": str(exc)}
            )
            return False
        self._topics.discard((config.bootstrap_servers, topic))
        log.info("deleted a broker topic", extra={"topic": topic})
        await self._release(BROKERS, broker)
        return True

    async def _finalize_trigger(self, trigger: Mapping[str, Any]) -> bool:
        """Delete the Trigger's consumer group (once the dispatchers, which read the contract
        without it, have left it), then release it; False when it must be tried again."""
        if FINALIZER not in (_meta(trigger).get("finalizers") or []):
            return True
        group = trigger_group(*_where(trigger))
        recorded = ((trigger.get("status") or {}).get("annotations") or {}).get(BOOTSTRAP_KEY)
        servers = (
            tuple(s for s in str(recorded).split(",") if s)
            if recorded
            else self.options.bootstrap_servers
        )
        try:
            await self.admin(servers).delete_groups([group])
        except KafkaAdminError as exc:
            log.info("consumer group not deleted yet", extra={"group": group, "error": str(exc)})
            return False
        await self._release(TRIGGERS, trigger)
        return True

    async def _write_status(
        self,
        resource: ApiResource,
        obj: Mapping[str, Any],
        conditions: Conditions,
        status: dict[str, Any],
    ) -> None:
        # 404: gone; 409: changed (the next pass writes it).
        path = _path(resource, *_where(obj))
        await write_status(self.client, path, obj, conditions, status, tolerate=(404, 409))


def _conditions(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list((obj.get("status") or {}).get("conditions") or [])


def _broker_path(where: NamespacedName) -> str:
    """A Broker's path at the ingress (its address's): ``/<namespace>/<name>``."""
    return f"/{where[0]}/{where[1]}"


def _config_annotations(broker: Mapping[str, Any]) -> dict[str, str]:
    """The ``kafka-broker-config`` keys kept in a Broker's status annotations."""
    kept = (broker.get("status") or {}).get("annotations") or {}
    keys = (BOOTSTRAP_KEY, PARTITIONS_KEY, REPLICATION_KEY)
    return {k: str(kept[k]) for k in keys if k in kept}


def _served(configmap: Mapping[str, Any] | None) -> dict[NamespacedName, dict[str, Any]]:
    """The brokers the contract ConfigMap holds now, by namespace and name (none when it is
    missing or unreadable)."""
    text = ((configmap or {}).get("data") or {}).get(CONTRACT_KEY) or "{}"
    try:
        brokers = json.loads(text).get("brokers") or []
    except (ValueError, AttributeError):
        return {}
    return {
        (str(b.get("namespace")), str(b.get("name"))): dict(b)
        for b in brokers
        if isinstance(b, dict)
    }


def broker_reconciler(
    client: KubeClient,
    cache: Cache,
    settings: ControllerSettings,
    counted: Callable[[str, str], None] = lambda kind, outcome: None,
) -> BrokerReconciler | None:
    """The broker role's factory (:data:`springhead_controller.roles.ROLES`): None without
    ``BROKER_CONTRACT_CONFIGMAP``. Its passes rebuild every Broker and Trigger at once, so
    ``counted`` is not told of single objects."""
    if not settings.broker_contract_configmap:
        return None
    namespace, name = settings.broker_contract_configmap.split("/", 1)
    service = f"{name.removesuffix('-contract')}-ingress"
    host = settings.broker_ingress_host or f"{service}.{namespace}.svc.{settings.cluster_domain}"
    options = BrokerOptions(
        contract_namespace=namespace,
        contract_name=name,
        ingress_host=host,
        broker_class=settings.broker_class,
        default_class=settings.broker_default_class,
        partitions=settings.broker_topic_partitions,
        replication=settings.broker_topic_replication,
        cluster_domain=settings.cluster_domain,
        bootstrap_servers=tuple(settings.bootstrap_servers),
        probe_service=service if settings.broker_probe else "",
    )
    return BrokerReconciler(client, cache, options, settings.kafka_options())
