"""A small JSON client for the Kubernetes API, on top of the official (synchronous) client.

:class:`KubeClient` speaks raw JSON: objects stay plain ``dict`` s exactly as the API server sent
them (unknown fields kept, no model classes built), which is what the informer caches and what the
ApiServer source forwards. Every call blocks: run it in a thread (``asyncio.to_thread``), never in
the event loop.

This module imports ``kubernetes``; only the sources and the controller that talk to the API
server import it.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import config as kube_config
from kubernetes.client import ApiClient, Configuration
from kubernetes.client.exceptions import ApiException

__all__ = [
    "ApiResource",
    "KubeApiError",
    "KubeClient",
    "WatchStream",
    "guess_plural",
    "new_api_client",
    "split_api_version",
]

log = logging.getLogger("springhead.kube")

#: Seconds allowed to open a connection to the API server.
CONNECT_TIMEOUT = 10.0
#: Seconds a plain (non-watch) request may take to answer.
REQUEST_TIMEOUT = 60.0


class KubeApiError(Exception):
    """The API server answered with an error status (or could not be reached: ``status`` 0).

    ``status`` is the HTTP status, ``reason`` the Status object's reason (``Forbidden``,
    ``Expired`` ...), ``message`` its message.
    """

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if status else message)
        self.status = status
        self.reason = reason
        self.message = message

    @classmethod
    def from_body(cls, status: int, body: bytes | str | None, fallback: str = "") -> KubeApiError:
        """The error a response with ``status`` and (possibly a Status object) ``body`` means."""
        reason, message = fallback, ""
        if body:
            try:
                parsed = json.loads(body)
            except ValueError:
                message = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            else:
                if isinstance(parsed, dict):
                    reason = str(parsed.get("reason") or fallback)
                    message = str(parsed.get("message") or "")
        return cls(status, reason, message[:1000])

    @property
    def gone(self) -> bool:
        """410 Gone: the resourceVersion (or continue token) asked for is no longer available."""
        return self.status == 410


def split_api_version(api_version: str) -> tuple[str, str]:
    """``apps/v1`` -> (``apps``, ``v1``); ``v1`` -> (``""``, ``v1``)."""
    group, _, version = api_version.rpartition("/")
    return group, version


def guess_plural(kind: str) -> str:
    """The resource name Kubernetes' ``UnsafeGuessKindToResource`` derives from ``kind``.

    Lowercased; ``...s`` -> ``...ses``, ``...y`` -> ``...ies``, ``Endpoints`` unchanged, else
    ``+s``. Only a guess: discovery (:meth:`KubeClient.discover`) knows the real name.
    """
    singular = kind.lower()
    if not singular:
        return ""
    if singular.endswith("endpoints"):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


@dataclass(frozen=True, slots=True)
class ApiResource:
    """A resource type as the API server serves it (one entry of its discovery document)."""

    api_version: str
    """``v1``, ``apps/v1``, ``example.com/v1alpha1``."""
    kind: str
    """``ConfigMap``, ``Deployment`` ..."""
    plural: str
    """The resource's path segment: ``configmaps``."""
    namespaced: bool
    """Whether objects live in namespaces."""

    @property
    def group(self) -> str:
        """The API group (``""`` for the core group)."""
        return split_api_version(self.api_version)[0]

    def collection_path(self, namespace: str | None = None) -> str:
        """``/api/v1/namespaces/<ns>/configmaps`` (``namespace`` None: across all namespaces)."""
        prefix = f"/apis/{self.api_version}" if self.group else f"/api/{self.api_version}"
        if self.namespaced and namespace:
            return f"{prefix}/namespaces/{namespace}/{self.plural}"
        return f"{prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        """The path of one object."""
        return f"{self.collection_path(namespace)}/{name}"


def new_api_client(kubeconfig: str | None = None, *, context: str | None = None) -> ApiClient:
    """An ``ApiClient`` from a kubeconfig file, or the pod's in-cluster service account.

    Raises ``kubernetes.config.ConfigException`` when neither is usable.
    """
    configuration = Configuration()
    if kubeconfig:
        kube_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    else:
        kube_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    return ApiClient(configuration)


class WatchStream:
    """One open watch request: iterate to get its events (``{"type": ..., "object": {...}}``).

    :meth:`close` may be called from any thread; the iteration then ends.
    """

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response
        self._closed = threading.Event()
        self._finished = threading.Event()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        buffer = b""
        complete = False
        try:
            for chunk in self._response.stream(amt=None, decode_content=True):
                if self._closed.is_set():
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, _, buffer = buffer.partition(b"\n")
                    if line.strip():
                        yield json.loads(line)
            if buffer.strip() and not self._closed.is_set():
                yield json.loads(buffer)
            complete = True
        except (urllib3.exceptions.HTTPError, OSError, ValueError):
            if self._closed.is_set():
                return
            raise
        finally:
            self._release(complete)

    def close(self) -> None:
        """End the watch (thread-safe): the connection is shut down, iteration stops."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._finished.is_set():
            return
        shutdown = getattr(self._response, "shutdown", None)
        try:
            if shutdown is not None:
                shutdown()
            else:  # pragma: no cover - urllib3 < 2.3
                self._response.close()
        except (OSError, RuntimeError, ValueError):
            # Already released or closed: nothing left to interrupt.
            pass

    def _release(self, complete: bool) -> None:
        self._finished.set()
        try:
            if not complete:  # never hand a half-read connection back to the pool
                self._response.close()
            self._response.release_conn()
        except (OSError, RuntimeError, ValueError):  # pragma: no cover - already closed
            pass

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class KubeClient:
    """Raw-JSON access to the API server through one ``ApiClient`` (blocking, thread-safe)."""

    def __init__(self, api_client: ApiClient) -> None:
        self.api_client = api_client

    @classmethod
    def from_kubeconfig(cls, kubeconfig: str | None = None) -> KubeClient:
        """A client from a kubeconfig file, or in-cluster configuration when None."""
        return cls(new_api_client(kubeconfig))

    @property
    def host(self) -> str:
        """The API server's URL as configured (``https://10.96.0.1:443``)."""
        return str(self.api_client.configuration.host)

    def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()  # type: ignore[no-untyped-call]

    def _open(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
        read_timeout: float = REQUEST_TIMEOUT,
    ) -> urllib3.BaseHTTPResponse:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        serialized = self.api_client.param_serialize(
            method,
            path,
            query_params=list(params),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        method_, url, header_params, body_, _ = serialized
        try:
            response = self.api_client.call_api(
                method_,
                url,
                header_params,
                body_,
                _request_timeout=(CONNECT_TIMEOUT, read_timeout),
            )
        except ApiException as exc:  # raised by the REST layer for TLS errors
            raise KubeApiError(int(exc.status or 0), str(exc.reason or ""), str(exc)) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}") from exc
        raw: urllib3.BaseHTTPResponse = response.response
        if not 200 <= raw.status <= 299:
            try:
                data = raw.data
            except (urllib3.exceptions.HTTPError, OSError):
                data = b""
            raise KubeApiError.from_body(raw.status, data, str(raw.reason or ""))
        return raw

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        """Send one request and return the JSON answer; raises :class:`KubeApiError`."""
        raw = self._open(method, path, params=params, body=body, content_type=content_type)
        try:
            data = raw.data
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise KubeApiError(0, "Unreachable", f"{type(exc).__name__}: {exc}") from exc
        finally:
            raw.release_conn()
        parsed = json.loads(data) if data else {}
        if not isinstance(parsed, dict):
            raise KubeApiError(0, "BadResponse", f"expected a JSON object from {path}")
        return parsed

    def get(self, path: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        """GET ``path`` (with query ``params``) as JSON."""
        return self.request("GET", path, params=list((params or {}).items()))

    def watch(self, path: str, params: Mapping[str, str], *, read_timeout: float) -> WatchStream:
        """Open a watch on collection ``path`` (``watch=1`` is added to ``params``)."""
        query = [("watch", "1"), *params.items()]
        return WatchStream(self._open("GET", path, params=query, read_timeout=read_timeout))

    def discover(self, api_version: str, kind: str) -> ApiResource:
        """The served resource of ``kind`` in ``api_version`` (subresources are skipped).

        Raises :class:`KubeApiError` with status 404 when the API server does not serve it.
        """
        group, _ = split_api_version(api_version)
        path = f"/apis/{api_version}" if group else f"/api/{api_version}"
        try:
            document = self.get(path)
        except KubeApiError as exc:
            if exc.status == 404:
                raise KubeApiError(
                    404, "NotFound", f"the API server does not serve {api_version}"
                ) from None
            raise
        for entry in document.get("resources") or ():
            name = str(entry.get("name", ""))
            if entry.get("kind") == kind and "/" not in name:
                return ApiResource(api_version, kind, name, bool(entry.get("namespaced")))
        raise KubeApiError(
            404, "NotFound", f"the API server does not serve {kind} in {api_version}"
        )
