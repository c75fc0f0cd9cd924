"""Probing the broker ingress for a Broker's ``ProbeSucceeded`` condition, as Knative's Kafka
broker does: the contract ConfigMap being written does not mean the ingress serves it yet (a
mounted ConfigMap reaches the pods a kubelet sync later, up to a minute or more), so every
endpoint of the ingress Service is asked, with Knative's data-plane probe (``GET`` of the
Broker's path with ``K-Network-Probe: probe``), whether it serves the Broker: 200 from every
endpoint is ``Ready``; an endpoint answering anything else, or no endpoint at all, is
``NotReady``; an endpoint not answering, or endpoints that cannot be listed, ``Unknown``.

The endpoints are the ingress Service's EndpointSlices (``kubernetes.io/service-name``), those
not marked not-ready, at the port named ``http`` (the charts' name; the only port otherwise).
An endpoint that answered 200 for a path is not asked again for it (Knative caches the same way)
until it leaves the Service or :meth:`IngressProber.forget` is called.
"""

from __future__ import annotations

import asyncio
import enum
import ipaddress
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import aiohttp
from springhead.kube import KubeApiError, KubeClient

__all__ = ["IngressProber", "PROBE_HEADERS", "ProbeStatus", "slice_endpoints"]

log = logging.getLogger("springhead.controller")

#: Knative's data-plane probe (knative.dev/pkg/network: ProbeHeaderName, HashHeaderName).
PROBE_HEADERS = {"K-Network-Probe": "probe", "K-Network-Hash": "probe"}
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


class ProbeStatus(enum.Enum):
    """Knative's prober statuses; the condition's message is ``status: <value>``."""

    READY = "Ready"
    NOT_READY = "NotReady"
    UNKNOWN = "Unknown"


def slice_endpoints(slices: Iterable[Mapping[str, Any]]) -> list[str]:
    """``host:port`` of every endpoint of ``slices`` (EndpointSlice objects) that is not marked
    not-ready, at the port named ``http`` (or the slice's only port); sorted, each once."""
    found: set[str] = set()
    for item in slices:
        ports = [p for p in item.get("ports") or () if p.get("port")]
        named = [p for p in ports if p.get("name") == "http"]
        chosen = named or (ports if len(ports) == 1 else [])
        if not chosen:
            continue
        port = int(chosen[0]["port"])
        for endpoint in item.get("endpoints") or ():
            if (endpoint.get("conditions") or {}).get("ready") is False:
                continue
            for address in (endpoint.get("addresses") or ())[:1]:
                host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
                found.add(f"{host}:{port}")
    return sorted(found)


class IngressProber:
    """Probes the endpoints of the ingress Service ``namespace/service`` (see the module)."""

    def __init__(
        self, client: KubeClient, namespace: str, service: str, *, timeout: float = 2.0
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.service = service
        self.timeout = timeout
        self._ready: set[tuple[str, str]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def endpoints(self) -> list[str]:
        """The ingress Service's endpoints now (:func:`slice_endpoints`)."""
        listed = await asyncio.to_thread(
            self.client.get,
            f"/apis/discovery.k8s.io/v1/namespaces/{self.namespace}/endpointslices",
            {"labelSelector": f"{SERVICE_NAME_LABEL}={self.service}"},
        )
        return slice_endpoints(listed.get("items") or ())

    async def probe(self, paths: Iterable[str]) -> dict[str, ProbeStatus]:
        """Each path's status (``/<namespace>/<broker>``), every endpoint asked at once."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        try:
            endpoints = await self.endpoints()
        except KubeApiError as exc:
            log.warning(
                "cannot list the broker ingress's endpoints",
                extra={"service": f"{self.namespace}/{self.service}", "error": exc.message},
            )
            return dict.fromkeys(wanted, ProbeStatus.UNKNOWN)
        current = set(endpoints)
        self._ready = {(e, p) for e, p in self._ready if e in current}
        if not endpoints:
            return dict.fromkeys(wanted, ProbeStatus.NOT_READY)
        asked = [(e, p) for p in wanted for e in endpoints if (e, p) not in self._ready]
        answers = await asyncio.gather(*(self._ask(e, p) for e, p in asked))
        statuses = {path: ProbeStatus.READY for path in wanted}
        for (endpoint, path), status in zip(asked, answers, strict=True):
            if status is ProbeStatus.READY:
                self._ready.add((endpoint, path))
            elif statuses[path] is not ProbeStatus.UNKNOWN:
                statuses[path] = status
        return statuses

    def forget(self) -> None:
        """Ask every endpoint again on the next probe."""
        self._ready.clear()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _ask(self, endpoint: str, path: str) -> ProbeStatus:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.get(
                f"http://{endpoint}{path}", headers=PROBE_HEADERS, allow_redirects=False
            ) as answer:
                status = answer.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            log.info(
                "broker ingress probe failed",
                extra={"endpoint": endpoint, "path": path, "error": str(exc) or type(exc).__name__},
            )
            return ProbeStatus.UNKNOWN
        if status != 200:
            log.info(
                "broker ingress does not serve the broker yet",
                extra={"endpoint": endpoint, "path": path, "status": status},
            )
            return ProbeStatus.NOT_READY
        return ProbeStatus.READY
