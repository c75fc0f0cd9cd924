"""A Broker's ``spec.config`` (Knative's ``kafka-broker-config`` ConfigMap data), parsed over
the controller's defaults (pure): each key replaces its default, a bad one is named."""

from __future__ import annotations

import pytest
from springhead_controller.brokers import ConfigProblem, KafkaConfig, parse_broker_config

DEFAULTS = KafkaConfig(
    partitions=10, replication=3, bootstrap_servers=("kafka:9092",), annotations={}
)


def test_knatives_config_map_overrides_every_default() -> None:
    data = {
        "default.topic.partitions": "4",
        "default.topic.replication.factor": "1",
        "bootstrap.servers": "k-0.kafka:9092, k-1.kafka:9092",
    }
    config = parse_broker_config(data, DEFAULTS)
    assert (config.partitions, config.replication) == (4, 1)
    assert config.bootstrap_servers == ("k-0.kafka:9092", "k-1.kafka:9092")
    assert config.annotations == data


def test_keys_left_out_keep_the_defaults() -> None:
    config = parse_broker_config({"default.topic.partitions": "2", "other": "x"}, DEFAULTS)
    assert (config.partitions, config.replication) == (2, 3)
    assert config.bootstrap_servers == ("kafka:9092",)
    assert config.annotations == {"default.topic.partitions": "2"}
    assert parse_broker_config({}, DEFAULTS) == DEFAULTS


@pytest.mark.parametrize(
    ("data", "reason", "message"),
    [
        ({"default.topic.partitions": "ten"}, "InvalidConfig",
         "default.topic.partitions must be a whole number, got 'ten'"),
        ({"default.topic.partitions": "0"}, "InvalidConfig",
         "default.topic.partitions must be positive, got 0"),
        ({"default.topic.replication.factor": "-1"}, "InvalidConfig",
         "default.topic.replication.factor must be positive"),
        ({"bootstrap.servers": " , "}, "InvalidConfig", "bootstrap.servers names no server"),
        ({"bootstrap.servers": "kafka"}, "InvalidConfig", "'kafka' is not host:port"),
        ({"bootstrap.servers": "kafka:99999"}, "InvalidConfig", "'kafka:99999' is not host:port"),
        ({"auth.secret.ref.name": "kafka-sasl"}, "UnsupportedConfig",
         "auth.secret.ref.name is not supported"),
    ],
)  # fmt: skip
def test_a_bad_key_is_named(data: dict[str, str], reason: str, message: str) -> None:
    with pytest.raises(ConfigProblem) as caught:
        parse_broker_config(data, DEFAULTS, "ConfigMap ns/kafka-broker-config")
    assert caught.value.reason == reason
    assert caught.value.message.startswith("ConfigMap ns/kafka-broker-config: ")
    assert message in caught.value.message
