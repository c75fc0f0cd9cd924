"""The broker process: the ingress, the dispatcher or both (``BROKER_ROLE``), on one backend,
serving what the contract file (:mod:`springhead_broker.contract`) describes.

The file is read at start (settings validation refuses a missing or invalid one) and every
``BROKER_CONTRACT_POLL`` after: when its bytes changed, the ingress serves the new brokers and
the dispatcher starts the new triggers, stops the removed ones and restarts the changed ones. A
file that became invalid is logged and ignored: the process keeps serving what it last read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from pathlib import Path

from springhead.asgi import AsgiApp
from springhead.backoff import stopped_within
from springhead.metrics import Metrics
from springhead.runtime import ProcessHost

from springhead_broker.backend import Backend, KafkaBackend, MemoryBackend
from springhead_broker.config import BackendKind, BrokerSettings, Role
from springhead_broker.contract import (
    BrokerSpec,
    Contract,
    ContractError,
    TriggerSpec,
    parse_contract,
)
from springhead_broker.dispatcher import DispatchMetrics, TriggerDispatch
from springhead_broker.ingress import Ingress

__all__ = ["BrokerService", "broker_service"]

log = logging.getLogger("springhead.broker")

_Key = tuple[str, str]
"""A trigger: its broker's path and its name."""


def _identity(broker: BrokerSpec, trigger: TriggerSpec) -> tuple[object, ...]:
    """What a trigger's dispatch depends on: a change restarts it."""
    return (
        broker.namespace, broker.name, broker.topic_name, broker.bootstrap_servers,
        broker.delivery, trigger,
    )  # fmt: skip


class BrokerService:
    """One broker data-plane process (see the module documentation)."""

    def __init__(self, settings: BrokerSettings, metrics: Metrics) -> None:
        self.settings = settings
        self.backend: Backend = (
            MemoryBackend(settings)
            if settings.backend is BackendKind.MEMORY
            else KafkaBackend(settings, metrics)
        )
        self.ingress: Ingress | None = None
        if settings.role in (Role.INGRESS, Role.ALL):
            self.ingress = Ingress(
                self.backend,
                max_body_bytes=settings.max_body_bytes,
                retry_after=settings.retry_after,
                registry=metrics.registry,
            )
        self._dispatching = settings.role in (Role.DISPATCHER, Role.ALL)
        self._dispatch_metrics = DispatchMetrics(metrics.registry) if self._dispatching else None
        self._dispatches: dict[_Key, tuple[tuple[object, ...], TriggerDispatch, asyncio.Task[None]]]
        self._dispatches = {}
        self._stopping = asyncio.Event()
        self._failure: BaseException | None = None
        self._text: bytes | None = None
        self._loaded = False

    @classmethod
    def from_settings(cls, settings: BrokerSettings, host: ProcessHost) -> BrokerService:
        """The service a :class:`BrokerSettings` describes (the runtime's factory)."""
        return cls(settings, host.metrics)

    @property
    def retry_after(self) -> int:
        """Seconds in the Retry-After of a request refused while draining."""
        return self.settings.retry_after

    def routes(self) -> Mapping[str, AsgiApp]:
        """One route per broker (ingress role), updated as the contract changes."""
        return self.ingress.routes if self.ingress is not None else {}

    def is_ready(self) -> bool:
        """True once the contract was applied and every trigger's subscription receives."""
        if not self._loaded or self._stopping.is_set():
            return False
        return all(dispatch.is_ready() for _, dispatch, _ in self._dispatches.values())

    async def stop(self) -> None:
        """Stop: the dispatches finish what is in progress, commit, and leave their groups."""
        self._stopping.set()

    async def run(self) -> None:
        """Apply the contract, then re-read it every ``BROKER_CONTRACT_POLL`` until stopped."""
        poll = self.settings.contract_poll.total_seconds()
        try:
            while not self._stopping.is_set():
                await self.reload(self.settings.contract_file)
                await stopped_within(self._stopping, poll)
        finally:
            await self._apply(Contract({}))
            await self.backend.close()
        if self._failure is not None:
            raise self._failure

    async def reload(self, path: Path) -> None:
        """Apply ``path``'s contract if its bytes changed since the last read."""
        try:
            text = await asyncio.to_thread(path.read_bytes)
        except OSError as exc:
            log.error(
                "cannot read the contract file; keeping the last one", extra={"error": str(exc)}
            )
            return
        if text == self._text:
            return
        self._text = text
        try:
            contract = parse_contract(text)
        except ContractError as exc:
            log.error("invalid contract file; keeping the last one", extra={"error": str(exc)})
            return
        await self._apply(contract)
        self._loaded = True
        log.info(
            "contract applied",
            extra={
                "brokers": sorted(contract.brokers),
                "triggers": sorted(f"{path}/{name}" for path, name in self._dispatches),
            },
        )

    async def _apply(self, contract: Contract) -> None:
        if self.ingress is not None:
            self.ingress.update(contract)
        if not self._dispatching or self._dispatch_metrics is None:
            return
        wanted = {
            (broker.path, trigger.name): (broker, trigger)
            for broker in contract.brokers.values()
            for trigger in broker.triggers
        }
        gone = [
            key
            for key, (identity, _, _) in self._dispatches.items()
            if key not in wanted or _identity(*wanted[key]) != identity
        ]
        for key in gone:
            _, dispatch, task = self._dispatches.pop(key)
            await dispatch.stop()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for key, (broker, trigger) in wanted.items():
            if key in self._dispatches:
                continue
            dispatch = TriggerDispatch(
                broker, trigger, backend=self.backend, metrics=self._dispatch_metrics
            )
            task = asyncio.create_task(dispatch.run(), name=f"trigger {dispatch.name}")
            task.add_done_callback(self._dispatch_finished)
            self._dispatches[key] = (_identity(broker, trigger), dispatch, task)

    def _dispatch_finished(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            # A bug in delivery: stop loudly rather than leave a trigger stalled unnoticed.
            self._failure = task.exception()
            log.error("trigger dispatch failed", exc_info=self._failure)
            self._stopping.set()


def broker_service(settings: BrokerSettings, host: ProcessHost) -> BrokerService:
    """The runtime's factory: :meth:`BrokerService.from_settings`."""
    return BrokerService.from_settings(settings, host)
