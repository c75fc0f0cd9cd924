"""Shared pieces of the image tests: every test that takes ``service`` runs once per service
image (springhead_testinfra.services finds them; the ``image_builds`` fixture, shared with the
e2e tier, is in tests/conftest.py), and the containers a test starts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from springhead_testinfra.images import Container, Podman
from springhead_testinfra.services import SERVICES, Service


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run every test that takes ``service`` once per service image."""
    if "service" in metafunc.fixturenames:
        metafunc.parametrize("service", SERVICES, ids=[s.name for s in SERVICES])


@pytest.fixture(scope="session")
def all_services() -> tuple[Service, ...]:
    """Every service image."""
    return SERVICES


@pytest.fixture
def containers(podman: Podman) -> Iterator[list[Container]]:
    """Containers a test starts (append them); each is removed after the test."""
    started: list[Container] = []
    yield started
    for container in started:
        container.remove()
