"""The broker's settings: what each backend needs, and one clear line for what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from springhead.config import ConfigError, load_settings
from springhead_broker.config import BackendKind, BrokerSettings, InitialOffset, Role


@pytest.fixture
def contract(tmp_path: Path) -> str:
    path = tmp_path / "contract.json"
    path.write_text('{"brokers": [{"namespace": "n", "name": "b"}]}')
    return str(path)


def test_defaults(contract: str) -> None:
    settings = load_settings(
        BrokerSettings,
        {"BROKER_CONTRACT_FILE": contract, "KAFKA_BOOTSTRAP_SERVERS": "k1:9092, k2:9092"},
    )
    assert (settings.role, settings.backend) == (Role.ALL, BackendKind.KAFKA)
    assert settings.bootstrap_servers == ["k1:9092", "k2:9092"]
    assert settings.initial_offset is InitialOffset.LATEST
    assert settings.produce_timeout.total_seconds() == 10


@pytest.mark.parametrize(
    "env, variable, reason",
    [
        ({}, "BROKER_CONTRACT_FILE", ""),
        ({"BROKER_CONTRACT_FILE": "/nonexistent/contract.json"}, "BROKER_CONTRACT_FILE",
         "cannot read"),
        ({"BROKER_BACKEND": "memory", "BROKER_ROLE": "ingress"}, "BROKER_ROLE", "BROKER_ROLE=all"),
        ({"BROKER_BACKEND": "kafka"}, "KAFKA_BOOTSTRAP_SERVERS", "required"),
        ({"BROKER_BACKEND": "disk"}, "BROKER_BACKEND", ""),
        ({"BROKER_ROLE": "both"}, "BROKER_ROLE", ""),
    ],
)  # fmt: skip
def test_bad_settings_name_the_variable(
    contract: str, env: dict[str, str], variable: str, reason: str
) -> None:
    full = {"BROKER_CONTRACT_FILE": contract, **env}
    if not env:
        full = {}
    with pytest.raises(ConfigError) as error:
        load_settings(BrokerSettings, full)
    assert error.value.variable == variable
    assert reason in error.value.reason
