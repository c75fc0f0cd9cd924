"""The contract file (pure): names, delivery policy (the trigger's replaces the broker's),
ordering, and the errors a bad document gets."""

from __future__ import annotations

import json

import pytest
from springhead.config import BackoffPolicy
from springhead.delivery import DeliveryPolicy
from springhead.eventfilter import Verdict
from springhead_broker.contract import (
    ContractError,
    broker_topic,
    parse_contract,
    trigger_group,
)


def doc(*brokers: dict[str, object]) -> str:
    return json.dumps({"brokers": list(brokers)})


def test_names_follow_knatives_kafka_broker() -> None:
    assert broker_topic("ns", "b") == "knative-broker-ns-b"
    assert trigger_group("ns", "t") == "knative-trigger-ns-t"
    [broker] = parse_contract(doc({"namespace": "ns", "name": "b"})).brokers.values()
    assert (broker.path, broker.topic_name) == ("/ns/b", "knative-broker-ns-b")
    [other] = parse_contract(
        doc({"namespace": "ns", "name": "b", "topic": "mine"})
    ).brokers.values()
    assert other.topic_name == "mine"
    assert broker.bootstrap_servers is None  # the process's KAFKA_BOOTSTRAP_SERVERS
    [elsewhere] = parse_contract(
        doc({"namespace": "ns", "name": "b", "bootstrapServers": ["k2:9092", "k3:9092"]})
    ).brokers.values()
    assert elsewhere.bootstrap_servers == ("k2:9092", "k3:9092")


def test_the_triggers_delivery_replaces_the_brokers() -> None:
    broker_delivery = {"retry": 2, "backoffPolicy": "linear", "backoffDelay": "PT1S",
                       "deadLetterSink": "http://broker-dls/"}  # fmt: skip
    contract = parse_contract(
        doc({
            "namespace": "ns", "name": "b", "delivery": broker_delivery,
            "triggers": [
                {"name": "own", "subscriber": "http://s/",
                 "delivery": {"retry": 0, "timeout": "PT3S", "retryAfterMax": "PT10S"}},
                {"name": "inherits", "subscriber": "http://s/"},
            ],
        })
    )  # fmt: skip
    broker = contract.brokers["/ns/b"]
    own, inherits = broker.triggers
    assert broker.policy_of(own) == DeliveryPolicy(
        retry=0, timeout=3.0, retry_after_max=10.0, dead_letter_sink=None
    )
    assert broker.policy_of(inherits) == DeliveryPolicy(
        retry=2,
        backoff_policy=BackoffPolicy.LINEAR,
        backoff_delay=1.0,
        dead_letter_sink="http://broker-dls/",
    )
    bare = parse_contract(doc({"namespace": "ns", "name": "c", "triggers": [
        {"name": "t", "subscriber": "http://s/"}]}))  # fmt: skip
    assert bare.brokers["/ns/c"].policy_of(bare.brokers["/ns/c"].triggers[0]) == DeliveryPolicy()


def test_order_comes_from_the_kafka_broker_annotation() -> None:
    annotation = "kafka.eventing.knative.dev/delivery.order"
    triggers = [
        {"name": "default", "subscriber": "http://s/"},
        {"name": "o", "subscriber": "http://s/", "annotations": {annotation: "ordered"}},
        {"name": "u", "subscriber": "http://s/", "annotations": {annotation: "unordered"}},
    ]
    broker = parse_contract(doc({"namespace": "n", "name": "b", "triggers": triggers})).brokers
    assert [t.ordered for t in broker["/n/b"].triggers] == [False, True, False]


def test_filters_are_knatives() -> None:
    triggers = [
        {"name": "a", "subscriber": "http://s/", "filter": {"attributes": {"type": "x"}}},
        {"name": "b", "subscriber": "http://s/", "filters": [{"cesql": "type = 'y'"}],
         "filter": {"attributes": {"type": "x"}}},
    ]  # fmt: skip
    a, b = (
        parse_contract(doc({"namespace": "n", "name": "b", "triggers": triggers}))
        .brokers["/n/b"]
        .triggers
    )
    assert a.event_filter()({"type": "x"}) is Verdict.PASS
    assert b.event_filter()({"type": "x"}) is Verdict.FAIL  # filters wins over filter
    assert b.event_filter()({"type": "y"}) is Verdict.PASS


@pytest.mark.parametrize(
    "text, reason",
    [
        ("{", "contract"),
        ('{"brokers": {}}', "brokers"),
        (doc({"namespace": "n"}), "name"),
        (doc({"namespace": "n", "name": "b"}, {"namespace": "n", "name": "b"}), "/n/b twice"),
        (doc({"namespace": "n", "name": "b", "triggers": [
            {"name": "t", "subscriber": "http://s/"}, {"name": "t", "subscriber": "http://s/"}]}),
         "'t' twice"),
        (doc({"namespace": "n", "name": "b", "triggers": [
            {"name": "t", "subscriber": "http://s/", "filters": [{"nope": {}}]}]}),
         "triggers[0]"),
        (doc({"namespace": "n", "name": "b", "triggers": [{"name": "t", "subscriber": "s"}]}),
         "absolute"),
        (doc({"namespace": "n", "name": "b", "delivery": {"backoffDelay": "1s"}}),
         "backoffDelay"),
        (doc({"namespace": "n", "name": "b", "delivery": {"retry": -1}}), "retry"),
        (doc({"namespace": "n", "name": "b", "bootstrapServers": []}), "bootstrapServers"),
    ],
)  # fmt: skip
def test_a_bad_document_says_where(text: str, reason: str) -> None:
    with pytest.raises(ContractError, match="contract") as error:
        parse_contract(text)
    assert reason in str(error.value)


def test_an_empty_file_is_no_brokers() -> None:
    assert parse_contract(b"").brokers == {}
