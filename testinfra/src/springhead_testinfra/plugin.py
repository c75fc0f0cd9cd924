"""pytest plugin: session fixtures for the real components (registered via ``pytest11``).

Fixtures (each starts its component lazily, the first time a test asks, once per run):

``kafka``
    :class:`~springhead_testinfra.kafka.KafkaBroker` - ``.bootstrap``, ``.client_kwargs()``,
    ``.create_topic()``, ``.stop()``, ``.start()``, ``.restart()``, ``.kill()``.
``kafka_secure``
    :class:`~springhead_testinfra.kafka.SecureKafkaBroker` - ``.listeners``, ``.users``,
    ``.ca_file``, ``.client_cert``, ``.client_key``, ``.client_kwargs(listener, mechanism)``.
``kube``
    :class:`~springhead_testinfra.kube.KubeCluster` - ``.kubeconfig``, ``.api_url``, ``.token``,
    ``.ca_file``, ``.api_client()``, ``.stop_apiserver()``, ``.start_apiserver()``,
    ``.compact()``.
``helm``
    :class:`~springhead_testinfra.helm.Helm` - ``.binary``, ``.run()``, ``.template()``,
    ``.lint()``, ``.for_cluster(kube)``.
``promtool``
    The path of the pinned promtool binary (``promtool check rules``, ``promtool test rules``).
``podman``
    :class:`~springhead_testinfra.images.Podman` on testinfra's own image storage, with the
    Python base and the uv image the Dockerfile starts from - ``.build()``, ``.run()``,
    ``.inspect()``, ``.size()``; :class:`~springhead_testinfra.images.Container` runs an image.

A fixture whose component cannot be obtained or started fails the test with the reason and the
log tail; it never skips. Tests that use a fixture get its markers (``integration`` and
``kafka``/``kafka_secure``/``kube``/``helm``/``promtool``/``images``) automatically, so
``-m "not integration"`` leaves them out. A test that leaves its component stopped gets it
started again after it.

This module imports nothing heavy (no aiokafka, no kubernetes): every test run loads it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from .helm import Helm
    from .images import Podman
    from .kafka import KafkaBroker, SecureKafkaBroker
    from .kube import KubeCluster

T = TypeVar("T")

#: Fixture name -> the component (as ``fetch`` names it) it needs.
FIXTURE_COMPONENTS: dict[str, str] = {
    "kafka": "kafka",
    "kafka_secure": "kafka",
    "kube": "kube",
    "helm": "helm",
    "promtool": "promtool",
    "podman": "images",
}

#: Fixture name -> the markers a test using it receives.
FIXTURE_MARKERS: dict[str, tuple[str, ...]] = {
    "kafka": ("integration", "kafka"),
    "kafka_secure": ("integration", "kafka_secure"),
    "kube": ("integration", "kube"),
    "helm": ("integration", "helm"),
    "promtool": ("integration", "promtool"),
    "podman": ("integration", "images"),
}

_MARKER_HELP = {
    "integration": "needs a real component beyond the loopback sink (Kafka, kube-apiserver, Helm)",
    "kafka": "needs the real Apache Kafka broker from testinfra",
    "kafka_secure": "needs the SASL/TLS Kafka profile from testinfra",
    "kube": "needs the real kube-apiserver + etcd from testinfra",
    "helm": "needs Helm from testinfra",
    "promtool": "needs Prometheus' promtool from testinfra",
    "images": "builds and runs container images with podman from testinfra",
}


class _Restartable(Protocol):
    def start(self) -> None: ...


class _Closable(Protocol):
    def close(self) -> None: ...


C = TypeVar("C", bound=_Closable)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers (harmless when the project's configuration declares them too)."""
    for name, help_text in _MARKER_HELP.items():
        config.addinivalue_line("markers", f"{name}: {help_text}")


_NEEDED = pytest.StashKey[set[str]]()
_PREFETCH_FAILURES = pytest.StashKey[dict[str, Exception]]()


#: Markers whose tests share one pytest-xdist worker: they build and run images in one podman
#: storage, where two builds of the same image at once would only repeat each other's work.
SERIAL_MARKERS = ("images", "release")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test that uses a component fixture, before ``-m`` selects tests.

    Under pytest-xdist (``-n N --dist loadgroup``, as ``make test`` runs) each test also gets an
    ``xdist_group``: its file, so a module's fixtures are set up once and its tests run in order
    on one worker, or ``podman`` for every test of :data:`SERIAL_MARKERS`. Each worker starts the
    session components (Kafka, kube-apiserver) it needs itself; the fetches are serialised by the
    cache's locks.
    """
    grouped = config.pluginmanager.hasplugin("xdist")
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        for fixture, markers in FIXTURE_MARKERS.items():
            if fixture in names:
                for marker in markers:
                    if item.get_closest_marker(marker) is None:
                        item.add_marker(marker)
        if grouped and item.get_closest_marker("xdist_group") is None:
            group = "podman" if _is_serial(item) else item.nodeid.split("::")[0]
            item.add_marker(pytest.mark.xdist_group(group))
    if grouped:
        # The podman group is the longest one worker runs: it goes first, so the other worker
        # takes the rest meanwhile instead of waiting for it at the end (a stable sort: the same
        # order on every worker, as xdist requires).
        items.sort(key=lambda item: not _is_serial(item))


def _is_serial(item: pytest.Item) -> bool:
    return any(item.get_closest_marker(m) is not None for m in SERIAL_MARKERS)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Remember which components the selected tests need (to build them together, once)."""
    session.config.stash[_NEEDED] = {
        FIXTURE_COMPONENTS[name]
        for item in session.items
        for name in getattr(item, "fixturenames", ())
        if name in FIXTURE_COMPONENTS
    }


def _prefetch(config: pytest.Config, component: str) -> None:
    """On the first component fixture, obtain every component the run needs in parallel.

    A cold cache then costs about the longest build, not the sum of them (etcd, kube-apiserver
    and Helm compile side by side). Failures are kept and reported by the fixture of the
    component that failed.
    """
    if _PREFETCH_FAILURES not in config.stash:
        from .obtain import missing, obtain_each

        needed = missing(config.stash.get(_NEEDED, set()) | {component})
        failures: dict[str, Exception] = {}
        if needed:
            failures.update(obtain_each(needed))
        config.stash[_PREFETCH_FAILURES] = failures
    failure = config.stash[_PREFETCH_FAILURES].get(component)
    if failure is not None:
        raise failure


@contextlib.contextmanager
def _terminal_progress(config: pytest.Config) -> Iterator[None]:
    """Let progress lines reach the terminal while a component is obtained and started."""
    from .process import progress_to

    capture = config.pluginmanager.getplugin("capturemanager")
    reporter = config.pluginmanager.getplugin("terminalreporter")

    def sink(line: str) -> None:
        if reporter is not None:
            reporter.write_line(line)

    disabled = capture.global_and_fixture_disabled() if capture is not None else None
    with disabled if disabled is not None else contextlib.nullcontext(), progress_to(sink):
        yield


def _start(
    config: pytest.Config, what: str, factory: Callable[[], T], component: str | None = None
) -> T:
    """Run ``factory`` with progress on the terminal; turn any failure into ``pytest.fail``."""
    from .process import ComponentError

    try:
        with _terminal_progress(config):
            if component is not None:
                _prefetch(config, component)
            return factory()
    except ComponentError as exc:
        pytest.fail(f"springhead-testinfra: {what} could not start:\n{exc}", pytrace=False)
    except Exception as exc:  # noqa: BLE001 - every failure must fail the test, loudly
        pytest.fail(
            f"springhead-testinfra: {what} could not start: {type(exc).__name__}: {exc}",
            pytrace=True,
        )


def _for_the_session(
    config: pytest.Config, what: str, factory: Callable[[], C], component: str
) -> Iterator[C]:
    """The body of a session fixture: :func:`_start` the component, yield it, close it."""
    started = _start(config, what, factory, component)
    yield started
    started.close()


@pytest.fixture(scope="session")
def kafka(pytestconfig: pytest.Config) -> Iterator[KafkaBroker]:
    """A real Apache Kafka broker (KRaft, PLAINTEXT on 127.0.0.1) for the whole session."""
    from .kafka import start_kafka

    yield from _for_the_session(pytestconfig, "Apache Kafka", start_kafka, "kafka")


@pytest.fixture(scope="session")
def kafka_secure(pytestconfig: pytest.Config) -> Iterator[SecureKafkaBroker]:
    """A real Kafka broker with SASL (PLAIN, SCRAM), TLS and mutual-TLS listeners."""
    from .kafka import start_secure_kafka

    what = "Apache Kafka (SASL/TLS profile)"
    yield from _for_the_session(pytestconfig, what, start_secure_kafka, "kafka")


@pytest.fixture(scope="session")
def kube(pytestconfig: pytest.Config) -> Iterator[KubeCluster]:
    """A real kube-apiserver on a real etcd (no nodes, no controllers) for the whole session."""
    from .kube import start_kube

    yield from _for_the_session(pytestconfig, "etcd + kube-apiserver", start_kube, "kube")


@pytest.fixture(scope="session")
def helm(pytestconfig: pytest.Config) -> Iterator[Helm]:
    """The pinned Helm binary (``helm.for_cluster(kube)`` binds it to the apiserver)."""
    from .helm import Helm

    yield from _for_the_session(pytestconfig, "Helm", Helm, "helm")


@pytest.fixture(scope="session")
def promtool(pytestconfig: pytest.Config) -> Path:
    """The pinned promtool binary (Prometheus' rule checker and rule unit-test runner)."""
    from . import gobuild

    return _start(pytestconfig, "promtool", lambda: gobuild.build(gobuild.PROMTOOL), "promtool")


@pytest.fixture(scope="session")
def podman(pytestconfig: pytest.Config) -> Podman:
    """podman (installed when missing) on testinfra's own storage, holding the base images."""
    from .images import Podman, ensure_base_images

    def ready() -> Podman:
        found = Podman.for_tests()
        ensure_base_images(found)
        return found

    return _start(pytestconfig, "podman and the base images", ready, "images")


@pytest.fixture(autouse=True)
def _springhead_testinfra_restore(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test that used a component, start it again if the test left it stopped."""
    yield
    funcargs: dict[str, Any] = getattr(request.node, "funcargs", {})
    for name in ("kafka", "kafka_secure", "kube"):
        component: _Restartable | None = funcargs.get(name)
        if component is not None:
            _start(request.config, f"{name} (restart after the test)", component.start)
