"""Apache Kafka from Maven Central: a single-node KRaft broker on 127.0.0.1.

:func:`fetch_kafka` collects the broker's jars with Maven (a tiny pom and the
maven-dependency-plugin) into the cache. :class:`KafkaBroker` runs one broker with a PLAINTEXT
listener; :class:`SecureKafkaBroker` adds SASL_PLAINTEXT, SSL, SASL_SSL and mutual-TLS listeners
with PLAIN and SCRAM users and certificates made for the run.

Both pick free ports and a fresh ``log.dirs`` when they are made, keep them across
:meth:`KafkaBroker.stop` / :meth:`KafkaBroker.start` (a restart is the same broker with the same
data), and report ready only once an admin client has created a topic.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import secrets
import shutil
import ssl
import tempfile
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import versions
from .cache import (
    cache_root,
    component_dir,
    is_complete,
    locked,
    mark_complete,
    new_run_dir,
    remove_tree,
)
from .certs import CertKey, issue, make_ca, pkcs12
from .process import (
    ComponentError,
    ManagedProcess,
    free_ports,
    progress,
    require_tool,
    run_step,
    wait_until,
)

T = TypeVar("T")

#: Environment variable: keep run folders (config, data, logs) after the broker is closed.
KEEP_RUNS_ENV = "SPRINGHEAD_TESTINFRA_KEEP_RUNS"
#: Seconds a broker may take from process start to a successful admin operation.
START_TIMEOUT_S = 180.0
_READY_TOPIC = "springhead-testinfra-ready"
_TOPIC_ALREADY_EXISTS = 36

_POM = """\
<?xml version="1.0" encoding="UTF-8"?>
<!-- Made by springhead-testinfra: collects Apache Kafka's runtime class path. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.springhead.testinfra</groupId>
  <artifactId>kafka-classpath</artifactId>
  <version>{kafka}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{scala}</artifactId>
      <version>{kafka}</version>
      <exclusions>
{exclusions}
      </exclusions>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>{log4j}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version>
    </dependency>
  </dependencies>
</project>
"""

_QUICK_START_JVM = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
_SERVER_JVM = ("-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20")
_EXCLUSION = "        <exclusion><groupId>{}</groupId><artifactId>{}</artifactId></exclusion>"

_LOG4J2 = """\
# log4j2 configuration made by springhead-testinfra: everything to stdout (the run's log file).
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.target = SYSTEM_OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
logger.state.name = state.change.logger
logger.state.level = WARN
"""


# --- obtaining the jars -----------------------------------------------------------------------


def kafka_recipe() -> dict[str, Any]:
    """Return what the cached class path depends on (its cache marker)."""
    return {
        "kafka": versions.KAFKA_VERSION,
        "scala": versions.KAFKA_SCALA_VERSION,
        "log4j": versions.LOG4J_VERSION,
        "excluded": list(versions.KAFKA_EXCLUDED_ARTIFACTS),
        "recipe": versions.KAFKA_RECIPE,
    }


def kafka_home() -> Path:
    """Return the cache folder of the pinned Kafka version."""
    return component_dir("kafka", versions.KAFKA_VERSION)


def fetch_kafka(*, force: bool = False) -> Path:
    """Collect Kafka's jars into the cache (once) and return the ``libs`` folder.

    Needs ``java`` (17+) and ``mvn`` on PATH; Maven's local repository is kept in the cache.
    """
    home = kafka_home()
    recipe = kafka_recipe()
    if not force and is_complete(home, recipe):
        return home / "libs"
    with locked(home.name):
        if not force and is_complete(home, recipe):
            return home / "libs"
        mvn = require_tool("mvn", "install Maven 3.8+ (Debian: apt-get install maven)")
        require_tool("java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jdk)")
        progress(f"kafka {versions.KAFKA_VERSION}: collecting jars from Maven Central")
        staging = Path(tempfile.mkdtemp(prefix=f"{home.name}.", dir=cache_root()))
        exclusions = "\n".join(
            _EXCLUSION.format(*coordinate.split(":"))
            for coordinate in versions.KAFKA_EXCLUDED_ARTIFACTS
        )
        pom = staging / "pom.xml"
        pom.write_text(
            _POM.format(
                kafka=versions.KAFKA_VERSION,
                scala=versions.KAFKA_SCALA_VERSION,
                log4j=versions.LOG4J_VERSION,
                exclusions=exclusions,
            )
        )
        repository = cache_root() / "maven" / "repository"
        libs = staging / "libs"

        def status() -> str:
            return f"{sum(1 for _ in repository.rglob('*.jar'))} jars in the Maven repository"

        run_step(
            [
                mvn, "-B", "--no-transfer-progress", "-f", pom,
                f"-Dmaven.repo.local={repository}",
                "org.apache.maven.plugins:maven-dependency-plugin:"
                f"{versions.MAVEN_DEPENDENCY_PLUGIN_VERSION}:copy-dependencies",
                "-DincludeScope=runtime", f"-DoutputDirectory={libs}",
            ],
            what=f"kafka {versions.KAFKA_VERSION}: maven",
            log_path=staging / "maven.log",
            status=status,
        )  # fmt: skip
        main_jar = libs / f"kafka_{versions.KAFKA_SCALA_VERSION}-{versions.KAFKA_VERSION}.jar"
        if not main_jar.is_file():
            raise ComponentError(f"maven finished but {main_jar.name} is not in {libs}")
        mark_complete(staging, recipe)
        remove_tree(home)
        staging.rename(home)
        progress(
            f"kafka {versions.KAFKA_VERSION}: {len(list((home / 'libs').iterdir()))} jars ready"
        )
        return home / "libs"


# --- running a broker -------------------------------------------------------------------------


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a fresh event loop in a helper thread.

    Safe to call from synchronous code whether or not the calling thread runs an event loop
    (pytest-asyncio may have one running while session fixtures are set up).
    """
    outcome: dict[str, Any] = {}

    def runner() -> None:
        async def main() -> T:
            return await factory()

        try:
            outcome["value"] = asyncio.run(main())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=runner, name="springhead-testinfra async")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]  # type: ignore[no-any-return]


@contextlib.contextmanager
def _quiet_aiokafka() -> Iterator[None]:
    """Silence aiokafka's connection errors while a starting broker is polled."""
    logger = logging.getLogger("aiokafka")
    previous = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _cluster_id() -> str:
    """Return a random Kafka cluster id (a UUID in URL-safe base64 without padding)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _java() -> str:
    return require_tool(
        "java", "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jdk)"
    )


class KafkaBroker:
    """A real Apache Kafka broker (KRaft, broker + controller in one JVM) on 127.0.0.1.

    ``quick_start`` (default) runs the JVM with the C1 compiler only and the serial collector:
    on two cores the broker starts and restarts faster, at a lower peak throughput. Pass False
    (Kafka's own G1 + C2 settings) to measure throughput.

    Attributes:
        bootstrap: ``"127.0.0.1:<port>"`` of the PLAINTEXT listener.
        run_dir: folder holding ``server.properties``, ``data/`` (log.dirs) and ``kafka.log``.
        log_path: the broker's log file.
        cluster_id: the KRaft cluster id the storage was formatted with (random unless given;
            URL-safe base64, so it may start with ``-``).
    """

    component = "kafka"

    def __init__(
        self,
        run_dir: Path | None = None,
        *,
        heap: str = "1g",
        quick_start: bool = True,
        cluster_id: str | None = None,
    ) -> None:
        self.libs = fetch_kafka()
        self.run_dir = run_dir if run_dir is not None else new_run_dir(self.component)
        self.data_dir = self.run_dir / "data"
        self.config_path = self.run_dir / "server.properties"
        self.log4j_path = self.run_dir / "log4j2.properties"
        self.log_path = self.run_dir / "kafka.log"
        self.cluster_id = cluster_id if cluster_id is not None else _cluster_id()
        self.heap = heap
        names = [*self._listener_names(), "CONTROLLER"]
        self._ports: dict[str, int] = dict(zip(names, free_ports(len(names)), strict=True))
        self.bootstrap = f"127.0.0.1:{self._ports['PLAINTEXT']}"
        self._prepare_security()
        self.log4j_path.write_text(_LOG4J2)
        self.config_path.write_text(self._server_properties())
        self._format()
        self._process = ManagedProcess(
            f"kafka {versions.KAFKA_VERSION}",
            [
                _java(), "-Xms256m", f"-Xmx{self.heap}",
                *(_QUICK_START_JVM if quick_start else _SERVER_JVM),
                "-Djava.awt.headless=true", "-Djava.net.preferIPv4Stack=true",
                *self._jvm_common(),
                "kafka.Kafka", self.config_path,
            ],
            log_path=self.log_path,
            cwd=self.run_dir,
        )  # fmt: skip

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<{type(self).__name__} {self.bootstrap} {state} run_dir={self.run_dir}>"

    # -- subclass hooks ---------------------------------------------------------------------

    def _listener_names(self) -> list[str]:
        return ["PLAINTEXT"]

    def _prepare_security(self) -> None:
        """Make certificates and credentials (none for the plain profile)."""

    def _security_properties(self) -> list[str]:
        return []

    def _format_extra_args(self) -> list[str]:
        return []

    # -- configuration ----------------------------------------------------------------------

    def _jvm_common(self) -> list[str]:
        return [f"-Dlog4j2.configurationFile={self.log4j_path}", "-cp", f"{self.libs}/*"]

    def _server_properties(self) -> str:
        names = self._listener_names()
        listeners = [f"{name}://127.0.0.1:{self._ports[name]}" for name in names]
        protocol_map = [f"{name}:{self._protocol(name)}" for name in names]
        lines = [
            "# Made by springhead-testinfra for one test session.",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self._ports['CONTROLLER']}",
            "listeners="
            + ",".join([*listeners, f"CONTROLLER://127.0.0.1:{self._ports['CONTROLLER']}"]),
            "advertised.listeners=" + ",".join(listeners),
            "listener.security.protocol.map=" + ",".join([*protocol_map, "CONTROLLER:PLAINTEXT"]),
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={self.data_dir}",
            "num.partitions=1",
            "auto.create.topics.enable=true",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=5",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            *self._security_properties(),
        ]
        return "\n".join(lines) + "\n"

    @staticmethod
    def _protocol(listener: str) -> str:
        return {"MTLS": "SSL"}.get(listener, listener)

    def _format(self) -> None:
        run_step(
            [
                _java(), "-Xmx256m", "-XX:TieredStopAtLevel=1", *self._jvm_common(),
                # One argument: a random id may start with "-", which as a separate word
                # the tool's parser reads as an option (1 run in 64).
                "kafka.tools.StorageTool", "format", f"--cluster-id={self.cluster_id}",
                "-c", self.config_path, *self._format_extra_args(),
            ],
            what="kafka: format storage",
            log_path=self.run_dir / "format.log",
        )  # fmt: skip

    # -- lifecycle --------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the broker process is running."""
        return self._process.running

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid

    def start(self, timeout: float = START_TIMEOUT_S) -> None:
        """Start the broker (same ports, same data) and wait until it serves admin requests."""
        if self.running:
            return
        progress(f"kafka: starting {type(self).__name__} on {self.bootstrap}")
        self._process.start()
        with _quiet_aiokafka():  # every refused probe would log an error otherwise
            wait_until(
                self._ready,
                timeout=timeout,
                interval=0.5,
                what=f"kafka at {self.bootstrap} to create a topic",
                process=self._process,
            )

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the broker cleanly (SIGTERM; SIGKILL after ``timeout`` seconds)."""
        self._process.stop(timeout)

    def kill(self) -> None:
        """Kill the broker at once (SIGKILL), as a crash would."""
        self._process.kill()

    def restart(self, timeout: float = START_TIMEOUT_S) -> None:
        """Stop and start the broker; data and ports are kept."""
        self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the broker and remove its run folder (kept if $SPRINGHEAD_TESTINFRA_KEEP_RUNS)."""
        self.stop()
        if not os.environ.get(KEEP_RUNS_ENV):
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        """Return the last ``lines`` lines of the broker's log."""
        return self._process.log_tail(lines)

    # -- clients ----------------------------------------------------------------------------

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (producer, consumer, admin) on PLAINTEXT."""
        return {"bootstrap_servers": self.bootstrap}

    def create_topic(
        self, name: str, partitions: int = 1, configs: dict[str, str] | None = None
    ) -> None:
        """Create a topic (an existing one is left as it is) through the PLAINTEXT listener."""
        run_async(lambda: self._create_topic(name, partitions, configs or {}))

    async def _create_topic(self, name: str, partitions: int, configs: dict[str, str]) -> None:
        from aiokafka.admin import (  # type: ignore[import-untyped, unused-ignore]
            AIOKafkaAdminClient,
            NewTopic,
        )

        admin = AIOKafkaAdminClient(**KafkaBroker.client_kwargs(self), request_timeout_ms=10_000)
        try:
            await admin.start()
            response = await admin.create_topics(
                [NewTopic(name, partitions, 1, topic_configs=configs)], timeout_ms=10_000
            )
        finally:
            await admin.close()
        for item in response.topic_errors:
            topic, code = item[0], item[1]
            if code not in (0, _TOPIC_ALREADY_EXISTS):
                message = item[2] if len(item) > 2 else ""
                raise ComponentError(f"creating topic {topic!r} failed: error {code} {message}")

    def _ready(self) -> bool:
        self.create_topic(_READY_TOPIC)
        return True


@dataclass(frozen=True)
class SaslUser:
    """A SASL identity the secure broker accepts."""

    mechanism: str
    username: str
    password: str


class SecureKafkaBroker(KafkaBroker):
    """A broker with every security mode a Kafka client may be configured for.

    Listeners (``listeners`` maps each name to ``"127.0.0.1:<port>"``):

    * ``PLAINTEXT`` - no security (also ``bootstrap``; used for readiness and admin work);
    * ``SASL_PLAINTEXT`` - SASL PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 without TLS;
    * ``SSL`` - TLS, server authentication only;
    * ``SASL_SSL`` - the SASL mechanisms above inside TLS;
    * ``MTLS`` - TLS with a required client certificate (security protocol ``SSL``).

    Users (``users`` maps a mechanism to a :class:`SaslUser`; passwords are random per run):
    ``PLAIN`` and ``SCRAM-SHA-512`` (and ``SCRAM-SHA-256``, the same SCRAM identity).

    Certificates (PEM): ``ca_file`` signed the broker's certificate (SAN IP:127.0.0.1 and
    DNS:localhost) and the client certificate ``client_cert``/``client_key`` for ``MTLS``.
    """

    component = "kafka-secure"
    MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")

    ca_file: Path
    client_cert: Path
    client_key: Path
    users: dict[str, SaslUser]
    listeners: dict[str, str]

    def __repr__(self) -> str:
        return f"<SecureKafkaBroker {self.listeners} run_dir={self.run_dir}>"

    def _listener_names(self) -> list[str]:
        return ["PLAINTEXT", "SASL_PLAINTEXT", "SSL", "SASL_SSL", "MTLS"]

    def _prepare_security(self) -> None:
        self.listeners = {name: f"127.0.0.1:{self._ports[name]}" for name in self._listener_names()}
        certs = self.run_dir / "certs"
        ca = make_ca(certs, common_name="springhead-testinfra kafka CA")
        server = issue(
            certs, "broker", ca, common_name="127.0.0.1", ips=["127.0.0.1"], dns=["localhost"],
            server=True, client=True,
        )  # fmt: skip
        client = issue(
            certs, "client", ca, common_name="springhead-client", server=False, client=True
        )
        self._store_password = secrets.token_hex(16)
        self._keystore = pkcs12(server, ca, certs / "broker.p12", self._store_password, "broker")
        self.ca_file = ca.cert
        self.client_cert, self.client_key = client.cert, client.key
        self._server_cert: CertKey = server
        scram = SaslUser("SCRAM-SHA-512", "scram-user", secrets.token_hex(16))
        self.users = {
            "PLAIN": SaslUser("PLAIN", "plain-user", secrets.token_hex(16)),
            "SCRAM-SHA-256": SaslUser("SCRAM-SHA-256", scram.username, scram.password),
            "SCRAM-SHA-512": scram,
        }

    def _security_properties(self) -> list[str]:
        plain = self.users["PLAIN"]
        plain_jaas = (
            "org.apache.kafka.common.security.plain.PlainLoginModule required "
            f'user_{plain.username}="{plain.password}";'
        )
        scram_jaas = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        lines = ["sasl.enabled.mechanisms=" + ",".join(self.MECHANISMS)]
        for listener in ("sasl_plaintext", "sasl_ssl"):
            lines.append(f"listener.name.{listener}.plain.sasl.jaas.config={plain_jaas}")
            for mechanism in ("scram-sha-256", "scram-sha-512"):
                lines.append(f"listener.name.{listener}.{mechanism}.sasl.jaas.config={scram_jaas}")
        lines += [
            "ssl.keystore.type=PKCS12",
            f"ssl.keystore.location={self._keystore}",
            f"ssl.keystore.password={self._store_password}",
            f"ssl.key.password={self._store_password}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={self.ca_file}",
            "ssl.client.auth=none",
            "listener.name.mtls.ssl.client.auth=required",
        ]
        return lines

    def _format_extra_args(self) -> list[str]:
        args: list[str] = []
        for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-512"):
            user = self.users[mechanism]
            args += ["--add-scram", f"{mechanism}=[name={user.username},password={user.password}]"]
        return args

    # -- clients ----------------------------------------------------------------------------

    def ssl_context(self, *, client_cert: bool = False) -> ssl.SSLContext:
        """Return a TLS context trusting the run's CA (with the client certificate if asked)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if client_cert:
            context.load_cert_chain(str(self.client_cert), str(self.client_key))
        return context

    def client_kwargs(
        self, listener: str = "PLAINTEXT", mechanism: str | None = None
    ) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients connecting through ``listener``.

        ``mechanism`` (``PLAIN``, ``SCRAM-SHA-256`` or ``SCRAM-SHA-512``) is needed for the SASL
        listeners; the run's user for it is filled in. ``MTLS`` adds the client certificate.
        """
        if listener not in self.listeners:
            raise ValueError(f"unknown listener {listener!r}; have {sorted(self.listeners)}")
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.listeners[listener],
            "security_protocol": self._protocol(listener),
        }
        if listener in ("SSL", "SASL_SSL", "MTLS"):
            kwargs["ssl_context"] = self.ssl_context(client_cert=listener == "MTLS")
        if listener.startswith("SASL_"):
            if mechanism is None:
                raise ValueError(f"listener {listener} needs a SASL mechanism: {self.MECHANISMS}")
            user = self.users[mechanism]
            kwargs.update(
                sasl_mechanism=mechanism,
                sasl_plain_username=user.username,
                sasl_plain_password=user.password,
            )
        return kwargs


def start_kafka(*, secure: bool = False) -> KafkaBroker:
    """Obtain Kafka if needed, then make and start a broker (``SecureKafkaBroker`` if secure)."""
    broker = SecureKafkaBroker() if secure else KafkaBroker()
    try:
        broker.start()
    except BaseException:
        broker.stop()
        raise
    return broker


def start_secure_kafka() -> SecureKafkaBroker:
    """Obtain Kafka if needed, then make and start a :class:`SecureKafkaBroker`."""
    broker = SecureKafkaBroker()
    try:
        broker.start()
    except BaseException:
        broker.stop()
        raise
    return broker
