"""The controller process: install the CRDs, then, for each of its roles
(:mod:`springhead_controller.roles`), win the role's Lease, then watch and reconcile until the
Lease is lost or the process is asked to stop.

It runs under Springhead's shared runtime (health, metrics, JSON logs, signals) as an adapter
that sends no events. With leader election (the default) any number of replicas may run: only
the Lease holder of a role watches and reconciles its kinds; the others wait, and one takes over
when the leader stops or stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Mapping
from typing import TYPE_CHECKING

from prometheus_client import Counter, Gauge
from springhead.kube import KubeClient, LeaderElector
from springhead.metrics import Metrics
from springhead.runtime import ProcessHost

from springhead_controller.apiserversources import ApiServerSourceReconciler
from springhead_controller.cache import (
    API_SERVER_SOURCE,
    CONTAINER_SOURCE,
    KAFKA_SOURCE,
    PING_SOURCE,
    SINK_BINDING,
    Cache,
    Key,
)
from springhead_controller.config import ControllerSettings
from springhead_controller.containersources import ContainerSourceReconciler
from springhead_controller.crds import install_crds
from springhead_controller.kafkasources import KafkaSourceReconciler
from springhead_controller.pingsources import PingSourceReconciler
from springhead_controller.roles import CORE, ROLES, Role, load_reconciler
from springhead_controller.sinkbindings import SinkBindingReconciler
from springhead_controller.workqueue import QueueShutDown, WorkQueue

if TYPE_CHECKING:
    Reconciler = ApiServerSourceReconciler | KafkaSourceReconciler

__all__ = ["Controller"]

log = logging.getLogger("springhead.controller")


def _widen_connection_pool(client: KubeClient, size: int) -> None:
    """Keep enough connections to the API server for the watches (one per informer) plus the
    concurrent patches; the client's default (5 per CPU) would open and discard connections."""
    pool_manager = getattr(getattr(client.api_client, "rest_client", None), "pool_manager", None)
    pool_kw = getattr(pool_manager, "connection_pool_kw", None)
    if isinstance(pool_kw, dict):
        pool_kw["maxsize"] = max(int(pool_kw.get("maxsize") or 0), size)


class _ControllerMetrics:
    def __init__(self, metrics: Metrics) -> None:
        self.reconciles = Counter(
            "springhead_controller_reconciles",
            "Reconciles by kind (SinkBinding, ContainerSource, PingSource, ApiServerSource, "
            "KafkaSource, GitHubSource) and outcome (ok, error).",
            ["kind", "outcome"],
            registry=metrics.registry,
        )
        self.leader = Gauge(
            "springhead_controller_leader",
            "1 while this replica holds the role's Lease and reconciles its kinds, else 0.",
            ["role"],
            registry=metrics.registry,
        )
        self.queue_depth = Gauge(
            "springhead_controller_queue_depth",
            "Keys waiting to be reconciled.",
            registry=metrics.registry,
        )


class Controller:
    """The reconcilers of the roles in ``CONTROLLER_ROLES``, each under leader election (a
    runtime adapter)."""

    def __init__(self, settings: ControllerSettings, *, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.metrics = _ControllerMetrics(metrics or Metrics())
        self.client: KubeClient | None = None
        #: The core role's Cache (another role's while the core does not run).
        self.cache: Cache | None = None
        #: Each running role's Cache.
        self.caches: dict[str, Cache] = {}
        self._stop = asyncio.Event()
        self._started = False

    @classmethod
    def from_settings(cls, settings: ControllerSettings, host: ProcessHost) -> Controller:
        """The process host's factory: the controller reports into the host's metrics."""
        return cls(settings, metrics=host.metrics)

    def is_ready(self) -> bool:
        """Ready once the CRDs are in place (a standby replica is ready too)."""
        return self._started

    async def stop(self) -> None:
        """Stop reconciling (and campaigning); :meth:`run` returns, releasing the Lease."""
        self._stop.set()

    async def run(self) -> None:
        """Install CRDs, then run every role: each reconciles while it leads on its own Lease (or
        always, without leader election)."""
        settings = self.settings
        client = await asyncio.to_thread(KubeClient.from_kubeconfig, settings.kubeconfig)
        _widen_connection_pool(client, settings.patch_concurrency + 16)
        self.client = client
        try:
            if settings.install_crds:
                await asyncio.to_thread(install_crds, client)
            self._started = True
            # A role that fails stops the others (and the process), as one role alone would.
            async with asyncio.TaskGroup() as group:
                for name in settings.roles:
                    group.create_task(self._run_role(ROLES[name]), name=f"role {name}")
        finally:
            await asyncio.to_thread(client.close)

    async def _run_role(self, role: Role) -> None:
        """Reconcile ``role`` while leading on its Lease, until the process is asked to stop."""
        settings = self.settings
        if not settings.leader_election:
            await self._reconcile_until(role, self._stop.wait())
            return
        elector = LeaderElector(
            self.client_or_fail(),
            name=settings.lease_name_of(role.name),
            namespace=settings.effective_lease_namespace,
            lease_duration=settings.lease_duration.total_seconds(),
            renew_deadline=settings.lease_renew_deadline.total_seconds(),
            retry_period=settings.lease_retry_period.total_seconds(),
        )
        async with elector:
            while not self._stop.is_set():
                leading = asyncio.create_task(elector.wait_until_leader())
                stopping = asyncio.create_task(self._stop.wait())
                await asyncio.wait({leading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                stopping.cancel()
                if not leading.done():
                    leading.cancel()
                    break
                term = leading.result()
                await self._reconcile_until(role, term.wait_lost(), self._stop.wait())

    async def _reconcile_until(self, role: Role, *endings: Awaitable[object]) -> None:
        """Watch and reconcile ``role``'s kinds until the first of ``endings`` completes."""
        if role.name == CORE:
            await self._reconcile_core(endings)
        else:
            await self._reconcile_role(role, endings)

    async def _reconcile_role(self, role: Role, endings: tuple[Awaitable[object], ...]) -> None:
        """Run a role's reconciler (imported now, the first time) until an ending."""
        settings = self.settings
        # Sink lookups only: its informers (the core kinds') are not started.
        cache = Cache(self.client_or_fail(), lambda key: None, mode=settings.selection_mode)
        self.caches[role.name] = cache
        if self.cache is None:
            self.cache = cache
        ending = [asyncio.ensure_future(e) for e in endings]
        tasks = list(ending)
        counter = self.metrics.reconciles

        def counted(kind: str, outcome: str) -> None:
            counter.labels(kind, outcome).inc()

        reconciler = load_reconciler(role)(cache.client, cache, settings, counted)
        self.metrics.leader.labels(role.name).set(1)
        log.info("reconciling", extra={"role": role.name})
        try:
            if reconciler is not None:
                resync = settings.resync.total_seconds()
                running = asyncio.create_task(reconciler.run(resync), name=f"role {role.name}")
                tasks.append(running)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.metrics.leader.labels(role.name).set(0)
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
            await cache.stop()
            log.info("stopped reconciling", extra={"role": role.name})
        # A reconciler that failed (rather than being stopped) fails the process.
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                raise outcome

    async def _reconcile_core(self, endings: tuple[Awaitable[object], ...]) -> None:
        """The core role: SinkBindings, ContainerSources and PingSources from the Cache's work
        queue."""
        settings = self.settings
        queue: WorkQueue[Key] = WorkQueue()
        cache = Cache(self.client_or_fail(), queue.add, mode=settings.selection_mode)
        self.cache = self.caches[CORE] = cache
        bindings = SinkBindingReconciler(
            cache.client,
            cache,
            cluster_domain=settings.cluster_domain,
            patch_concurrency=settings.patch_concurrency,
        )
        sources = ContainerSourceReconciler(cache.client, cache)
        pings = PingSourceReconciler(cache.client, cache, cluster_domain=settings.cluster_domain)
        adapters: dict[str, Reconciler] = {
            API_SERVER_SOURCE: ApiServerSourceReconciler(
                cache.client,
                cache,
                image=settings.apiserver_image,
                cluster_domain=settings.cluster_domain,
            ),
            KAFKA_SOURCE: KafkaSourceReconciler(
                cache.client,
                cache,
                image=settings.kafka_image,
                cluster_domain=settings.cluster_domain,
            ),
        }
        ending = [asyncio.ensure_future(e) for e in endings]
        tasks: list[asyncio.Task[None]] = []
        self.metrics.leader.labels(CORE).set(1)
        log.info(
            "reconciling", extra={"role": CORE, "selection_mode": settings.selection_mode.value}
        )
        try:
            cache.start()
            synced = asyncio.ensure_future(cache.wait_synced())
            await asyncio.wait({synced, *ending}, return_when=asyncio.FIRST_COMPLETED)
            if not synced.done():
                synced.cancel()
                return
            log.info("caches synced", extra={"bindings": len(cache.bindings)})
            tasks = [
                asyncio.create_task(
                    self._work(queue, bindings, sources, pings, adapters), name=f"worker {i}"
                )
                for i in range(settings.workers)
            ]
            tasks.append(asyncio.create_task(self._resync(queue, cache)))
            await asyncio.wait(ending, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.metrics.leader.labels(CORE).set(0)
            queue.shut_down()
            for task in [*tasks, *ending]:
                task.cancel()
            for task in [*tasks, *ending]:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await cache.stop()
            log.info("stopped reconciling", extra={"role": CORE})

    def client_or_fail(self) -> KubeClient:
        """The API client (set by :meth:`run`)."""
        if self.client is None:
            raise RuntimeError("the controller is not running")
        return self.client

    async def _work(
        self,
        queue: WorkQueue[Key],
        bindings: SinkBindingReconciler,
        sources: ContainerSourceReconciler,
        pings: PingSourceReconciler,
        adapters: Mapping[str, Reconciler],
    ) -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            kind, namespace, name = key
            self.metrics.queue_depth.set(len(queue))
            try:
                if kind == SINK_BINDING:
                    again = await bindings.reconcile(namespace, name)
                elif kind == CONTAINER_SOURCE:
                    again = await sources.reconcile(namespace, name)
                elif kind == PING_SOURCE:
                    again = await pings.reconcile(namespace, name)
                elif kind in adapters:
                    again = await adapters[kind].reconcile(namespace, name)
                else:  # pragma: no cover - only these kinds are queued
                    again = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one object's failure must not stop the rest
                self.metrics.reconciles.labels(kind, "error").inc()
                delay = queue.retry(key)
                log.warning(
                    "reconcile failed; retrying",
                    extra={
                        "kind": kind,
                        "object": f"{namespace}/{name}",
                        "error": f"{type(exc).__name__}: {exc}",
                        "retry_in": round(delay, 3),
                    },
                )
            else:
                self.metrics.reconciles.labels(kind, "ok").inc()
                queue.forget(key)
                if again is not None:
                    queue.add_after(key, again)
            finally:
                queue.done(key)

    async def _resync(self, queue: WorkQueue[Key], cache: Cache) -> None:
        period = self.settings.resync.total_seconds()
        while True:
            await asyncio.sleep(period)
            for key in cache.keys():
                queue.add(key)
