"""The GitHubSource reconciler (eventing-github's ``sources.knative.dev/v1alpha1``): the receiver
runs as a Deployment + Service per source, and the webhook on GitHub is registered, kept up to
date and removed by the reconciler (finalizer ``githubsources.sources.knative.dev``).

This module is the controller's ``github`` role: it imports PyGithub (through
:mod:`springhead_github.hooks`), so the controller imports it only when that role is enabled,
and only the image with the ``github`` extra (``springhead-controller-github``) has it.

For each GitHubSource, in this order (conditions as Knative's, plus ``Ready``):

- ``spec`` is checked as the receiver and the hook would read it (``ownerAndRepository``,
  ``eventTypes``, ``githubAPIURL``, ``ceOverrides``); a bad one makes ``WebhookConfigured``
  False with reason ``InvalidSpec`` or ``InvalidOverrides`` and nothing is created.
- The access token and the webhook secret are read from ``spec.accessToken`` and
  ``spec.secretToken`` (``secretKeyRef``): ``SecretsProvided``, reasons ``AccessTokenNotFound``
  and ``SecretTokenNotFound``. Referenced Secrets are watched: a changed value is applied at
  once (a new secret reaches the receiver's pods through a rollout and the hook's secret
  through GitHub's API).
- ``spec.sink`` is resolved into ``status.sinkUri`` (``SinkProvided``, reason ``NotFound``),
  looked up again every ``REFRESH`` seconds.
- The receiver: Deployment and Service ``<name>-github`` (server-side apply, owned by the
  source), image ``CONTROLLER_GITHUB_IMAGE``, with the source contract's environment
  (``K_SINK``, ``K_CE_OVERRIDES``, ``K_CA_CERTS`` when set, ``NAMESPACE``, ``NAME``,
  ``K_COMPONENT``) and the GitHub settings; the webhook secret is a ``secretKeyRef`` to the
  user's Secret, never a copy. Both are watched: one deleted by someone else comes back. The
  pod-template annotation ``sources.springhead.dev/secret-digest`` (a digest of the source's
  uid and the secret) changes with the secret, so the pods restart with the new one.
- The webhook (``WebhookConfigured``, reasons ``CreationFailed``/``ReconciliationFailed``):
  registered idempotently (:func:`springhead_github.hooks.register`: the hook delivering to the
  receiver's URL is updated, never duplicated) with ``spec.eventTypes``, the secret,
  ``spec.githubAPIURL``; its ID is ``status.webhookIDKey`` (decimal, as Knative records it).
  Where it lives (API, owner, URL) is kept in the status annotation
  ``sources.springhead.dev/webhook``, so a changed ``ownerAndRepository``, ``githubAPIURL`` or
  URL removes the old hook instead of leaving it behind.

The receiver's public URL: Knative registers its Knative Service's URL (Serving's domain). Here
it is the annotation ``github.sources.springhead.dev/webhook-url`` on the GitHubSource when set
(an Ingress or tunnel reaching the Service), else the Service's cluster URL
``http://<name>-github.<namespace>.svc.<cluster domain>/`` (reachable only from inside the
cluster, e.g. by GitHub Enterprise Server running there). ``spec.secure`` sets its scheme
(true: https, false: http), as Knative's does.

Deletion: the finalizer deletes the hook (a hook already gone is fine; a hook the spec points
at but the status does not record, registered just before a failed status write, is deleted
too when GitHub lets it), then the Deployment and Service (owner references would let a garbage
collector do it; the reconciler does not wait for one), then removes itself. When GitHub cannot
be reached or refuses to delete a recorded hook, ``WebhookConfigured`` becomes False with
reason ``DeletionFailed`` and the deletion is retried with back-off (a token revoked for good
keeps the source until its finalizer is removed by hand, as with Knative). When the access
token's Secret is gone too, the token last read is used; without one the hook cannot be
deleted, which is logged and the source is let go (as Knative does).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from github import GithubException
from springhead.config import ConfigError, load_settings
from springhead.kube import (
    ApiResource,
    Change,
    ChangeType,
    Informer,
    KubeApiError,
    KubeClient,
    Selection,
)
from springhead_github.config import DEFAULT_API_URL, HookSettings
from springhead_github.hooks import HookError, register, unregister

from springhead_controller.cache import Cache
from springhead_controller.conditions import Conditions, condition_of, write_status
from springhead_controller.config import ControllerSettings
from springhead_controller.containersources import child_name
from springhead_controller.github_crds import GITHUB_SOURCE_VERSION
from springhead_controller.spec import (
    InvalidSpec,
    Reference,
    SinkError,
    parse_destination,
    resolve_sink,
    validate_ce_overrides,
)
from springhead_controller.workqueue import QueueShutDown, WorkQueue

__all__ = [
    "FINALIZER",
    "GITHUB_SOURCES",
    "GitHubSourceOptions",
    "GitHubSourceReconciler",
    "SECRETS_PROVIDED",
    "SINK_PROVIDED",
    "WEBHOOK_CONFIGURED",
    "WEBHOOK_URL_ANNOTATION",
    "desired_deployment",
    "desired_service",
    "github_reconciler",
    "hook_settings",
    "receiver_name",
    "webhook_url",
]

log = logging.getLogger("springhead.controller")

GROUP = "sources.knative.dev"
GITHUB_SOURCES = ApiResource(
    f"{GROUP}/{GITHUB_SOURCE_VERSION}", "GitHubSource", "githubsources", True
)
SECRETS = ApiResource("v1", "Secret", "secrets", True)
DEPLOYMENTS = ApiResource("apps/v1", "Deployment", "deployments", True)
SERVICES = ApiResource("v1", "Service", "services", True)
FINALIZER = "githubsources.sources.knative.dev"
SECRETS_PROVIDED = "SecretsProvided"
SINK_PROVIDED = "SinkProvided"
WEBHOOK_CONFIGURED = "WebhookConfigured"
#: Annotation on a GitHubSource: the public URL GitHub delivers to (overrides the cluster URL).
WEBHOOK_URL_ANNOTATION = "github.sources.springhead.dev/webhook-url"
#: Status annotation: where the hook was registered (JSON: apiURL, ownerAndRepository, url).
WEBHOOK_STATUS_ANNOTATION = "sources.springhead.dev/webhook"
#: Pod-template annotation that changes with the webhook secret (restarting the receiver).
SECRET_DIGEST_ANNOTATION = "sources.springhead.dev/secret-digest"  # noqa: S105 - a name
#: Label on the receiver's Deployment, Service and pods: the GitHubSource's name.
SOURCE_LABEL = "sources.knative.dev/githubSource"
#: The receiver's container port (the runtime's default ``SPRINGHEAD_PORT``).
RECEIVER_PORT = 8080
#: How soon a source whose Secrets or sink are missing is looked at again (their appearance
#: is seen sooner: Secrets are watched).
RETRY = 30.0
#: How often a source with a referenced sink is looked at again (a sink's address may change).
REFRESH = 30.0
_FIELD_MANAGER = "springhead-controller"
_APPLY = "application/apply-patch+yaml"
_MERGE_PATCH = "application/merge-patch+json"
_SPEC_FIELDS = {
    "GITHUB_OWNER_AND_REPOSITORY": "spec.ownerAndRepository",
    "GITHUB_EVENT_TYPES": "spec.eventTypes",
    "GITHUB_API_URL": "spec.githubAPIURL",
    "GITHUB_WEBHOOK_URL": f"the webhook URL (annotation {WEBHOOK_URL_ANNOTATION})",
    "GITHUB_TOKEN": "the access token (spec.accessToken)",
    "GITHUB_WEBHOOK_SECRET": "the webhook secret (spec.secretToken)",
}

#: Stand-ins for the credentials while only the spec's own fields are checked.
_UNREAD_CREDENTIALS = {"access_token": "-", "secret": "-"}

NamespacedName = tuple[str, str]


@dataclass(frozen=True, slots=True)
class GitHubSourceOptions:
    """What the reconciler needs from the controller's settings."""

    image: str
    """The receiver's image (``springhead-github``)."""
    cluster_domain: str = "cluster.local"
    api_url: str = DEFAULT_API_URL
    """GitHub's REST API for sources without ``spec.githubAPIURL``."""
    workers: int = 4


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _where(obj: Mapping[str, Any]) -> NamespacedName:
    return str(_meta(obj).get("namespace") or ""), str(_meta(obj).get("name") or "")


def _path(namespace: str, name: str) -> str:
    return GITHUB_SOURCES.object_path(name, namespace)


def receiver_name(source: str) -> str:
    """The receiver's Deployment and Service: ``<source>-github`` (shortened to 63)."""
    return child_name(source, "-github")


def _owner_reference(source: Mapping[str, Any]) -> dict[str, Any]:
    metadata = _meta(source)
    return {
        "apiVersion": GITHUB_SOURCES.api_version,
        "kind": "GitHubSource",
        "name": metadata.get("name"),
        "uid": metadata.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _labels(name: str) -> dict[str, str]:
    return {SOURCE_LABEL: name, "app.kubernetes.io/component": "github-receiver"}


def webhook_url(source: Mapping[str, Any], *, cluster_domain: str = "cluster.local") -> str:
    """The public URL the webhook delivers to: the annotation
    ``github.sources.springhead.dev/webhook-url``, else the receiver Service's cluster URL;
    ``spec.secure`` sets the scheme."""
    namespace, name = _where(source)
    override = str((_meta(source).get("annotations") or {}).get(WEBHOOK_URL_ANNOTATION) or "")
    url = override or f"http://{receiver_name(name)}.{namespace}.svc.{cluster_domain}/"
    secure = (source.get("spec") or {}).get("secure")
    if isinstance(secure, bool):
        parts = urlsplit(url)
        url = urlunsplit(("https" if secure else "http", *parts[1:]))
    return url


def _secret_ref(source: Mapping[str, Any], field_name: str) -> tuple[str, str] | None:
    ref = ((source.get("spec") or {}).get(field_name) or {}).get("secretKeyRef") or {}
    name, key = ref.get("name"), ref.get("key")
    if isinstance(name, str) and name and isinstance(key, str) and key:
        return name, key
    return None


def _event_types(spec: Mapping[str, Any]) -> list[str]:
    types = spec.get("eventTypes")
    return [str(t) for t in types] if isinstance(types, list) else []


def _api_url(spec: Mapping[str, Any], default: str) -> str:
    return str(spec.get("githubAPIURL") or default)


def hook_settings(
    source: Mapping[str, Any],
    *,
    url: str,
    access_token: str,
    secret: str,
    api_url: str = DEFAULT_API_URL,
) -> HookSettings:
    """The hook's settings for ``source`` (the receiver reads the same ``GITHUB_*`` values);
    ``api_url`` unless the spec names one. Raises :class:`InvalidSpec` (reason ``InvalidSpec``)
    naming the spec field at fault."""
    spec = source.get("spec") or {}
    env = {
        "GITHUB_OWNER_AND_REPOSITORY": str(spec.get("ownerAndRepository") or ""),
        "GITHUB_EVENT_TYPES": ",".join(_event_types(spec)),
        "GITHUB_WEBHOOK_URL": url,
        "GITHUB_TOKEN": access_token,
        "GITHUB_WEBHOOK_SECRET": secret,
        "GITHUB_API_URL": _api_url(spec, api_url),
    }
    try:
        return load_settings(HookSettings, env)
    except ConfigError as exc:
        where = _SPEC_FIELDS.get(exc.variable, exc.variable)
        raise InvalidSpec("InvalidSpec", f"{where}: {exc.reason}") from None


def _secret_digest(source: Mapping[str, Any], secret: str) -> str:
    # Salted with the source's uid: the pod template is readable by more people than the Secret.
    uid = str(_meta(source).get("uid") or "")
    return hashlib.sha256(f"{uid}\0{secret}".encode()).hexdigest()[:32]


def desired_deployment(
    source: Mapping[str, Any],
    *,
    image: str,
    sink: str,
    ca_certs: str | None,
    secret: str,
    api_url: str = DEFAULT_API_URL,
) -> dict[str, Any]:
    """The receiver's Deployment: the ``springhead-github`` image with the source contract's
    environment and the hook's ``GITHUB_*`` settings (``GITHUB_API_URL``: ``api_url`` unless
    the spec names one); the webhook secret by ``secretKeyRef``."""
    namespace, name = _where(source)
    spec = source.get("spec") or {}
    secret_ref = _secret_ref(source, "secretToken")
    assert secret_ref is not None  # noqa: S101 - checked before (SecretsProvided)
    env: list[dict[str, Any]] = [
        {"name": "K_SINK", "value": sink},
        {"name": "K_CE_OVERRIDES", "value": validate_ce_overrides(spec.get("ceOverrides"))},
    ]
    if ca_certs:
        env.append({"name": "K_CA_CERTS", "value": ca_certs})
    env += [
        {"name": "NAMESPACE", "value": namespace},
        {"name": "NAME", "value": name},
        {"name": "K_COMPONENT", "value": "github-source"},
        {"name": "GITHUB_OWNER_AND_REPOSITORY", "value": str(spec.get("ownerAndRepository"))},
        {"name": "GITHUB_EVENT_TYPES", "value": ",".join(_event_types(spec))},
        {
            "name": "GITHUB_WEBHOOK_SECRET",
            "valueFrom": {"secretKeyRef": {"name": secret_ref[0], "key": secret_ref[1]}},
        },
    ]
    env.append({"name": "GITHUB_API_URL", "value": _api_url(spec, api_url)})
    labels = _labels(name)
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": "receive-adapter",
                "image": image,
                "env": env,
                "ports": [{"name": "http", "containerPort": RECEIVER_PORT, "protocol": "TCP"}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}},
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                # The github chart's defaults for the same receiver.
                "resources": {
                    "requests": {"cpu": "10m", "memory": "64Mi"},
                    "limits": {"memory": "192Mi"},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - a volume
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    if spec.get("serviceAccountName"):
        pod_spec["serviceAccountName"] = str(spec["serviceAccountName"])
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": receiver_name(name),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [_owner_reference(source)],
        },
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {
                    "labels": labels,
                    "annotations": {SECRET_DIGEST_ANNOTATION: _secret_digest(source, secret)},
                },
                "spec": pod_spec,
            },
        },
    }


def desired_service(source: Mapping[str, Any]) -> dict[str, Any]:
    """The receiver's Service: port 80 to the receiver's ``http`` port."""
    namespace, name = _where(source)
    labels = _labels(name)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": receiver_name(name),
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [_owner_reference(source)],
        },
        "spec": {
            "selector": labels,
            "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
        },
    }


@dataclass(frozen=True, slots=True)
class _HookPlace:
    """Where a hook is registered: enough to delete it."""

    api_url: str
    owner_and_repository: str
    url: str

    def encode(self) -> str:
        return json.dumps(
            {"apiURL": self.api_url, "ownerAndRepository": self.owner_and_repository,
             "url": self.url},
            sort_keys=True,
        )  # fmt: skip

    @classmethod
    def decode(cls, text: Any) -> _HookPlace | None:
        try:
            data = json.loads(text) if isinstance(text, str) else {}
            return cls(str(data["apiURL"]), str(data["ownerAndRepository"]), str(data["url"]))
        except (ValueError, TypeError, KeyError):
            return None

    @classmethod
    def of(cls, settings: HookSettings) -> _HookPlace:
        return cls(settings.api_url, settings.owner_and_repository, settings.hook_url)


class _SecretMissing(Exception):  # noqa: N818 - a condition to report, not a failure
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _github_failure(exc: BaseException) -> str:
    if isinstance(exc, GithubException):
        message = exc.data.get("message") if isinstance(exc.data, dict) else None
        return f"GitHub answered {exc.status}" + (f": {message}" if message else "")
    if isinstance(exc, OSError):
        return f"cannot reach the GitHub API: {exc}"
    return str(exc)


@dataclass
class _Known:
    """What the reconciler remembers of one source between passes (lost on restart, which
    only costs one more call to GitHub)."""

    access_token: str | None = None
    applied: str = ""
    registered: str = ""
    secrets: set[NamespacedName] = field(default_factory=set)


class GitHubSourceReconciler:
    """Watches GitHubSources and the Secrets they reference, and reconciles each source (see
    the module documentation). ``run`` is started by the controller while it leads;
    ``counted`` is told the outcome (``ok``, ``error``) of every reconcile."""

    def __init__(
        self,
        client: KubeClient,
        options: GitHubSourceOptions,
        *,
        counted: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        self.client = client
        self.options = options
        self.counted = counted
        self.sources: dict[NamespacedName, dict[str, Any]] = {}
        self.queue: WorkQueue[NamespacedName] = WorkQueue(base_delay=0.5, max_delay=300.0)
        self._known: dict[NamespacedName, _Known] = {}
        self._secret_users: dict[NamespacedName, set[NamespacedName]] = {}
        self._forced: set[NamespacedName] = set()
        self._informers = [
            Informer(client, Selection(GITHUB_SOURCES), self._on_source, emit_existing=True),
            Informer(client, Selection(SECRETS), self._on_secret),
            *(
                Informer(client, Selection(kind, label_selector=SOURCE_LABEL), self._on_child)
                for kind in (DEPLOYMENTS, SERVICES)
            ),
        ]

    # -- watching ------------------------------------------------------------------------------

    async def _on_source(self, change: Change) -> None:
        where = _where(change.object)
        known = self._known.setdefault(where, _Known())
        for secret in known.secrets:
            self._secret_users.get(secret, set()).discard(where)
        known.secrets = set()
        if change.type is ChangeType.DELETE:
            self.sources.pop(where, None)
            self._known.pop(where, None)
            return
        self.sources[where] = dict(change.object)
        for field_name in ("accessToken", "secretToken"):
            ref = _secret_ref(change.object, field_name)
            if ref is not None:
                known.secrets.add((where[0], ref[0]))
                self._secret_users.setdefault((where[0], ref[0]), set()).add(where)
        self.queue.add(where)

    async def _on_secret(self, change: Change) -> None:
        for user in self._secret_users.get(_where(change.object), ()):
            self.queue.add(user)

    async def _on_child(self, change: Change) -> None:
        """A receiver's Deployment or Service deleted by someone else comes back at once."""
        if change.type is not ChangeType.DELETE:
            return
        namespace, _ = _where(change.object)
        source = str((_meta(change.object).get("labels") or {}).get(SOURCE_LABEL) or "")
        known = self._known.get((namespace, source))
        if known is not None:
            known.applied = ""
            self.queue.add((namespace, source))

    # -- running -------------------------------------------------------------------------------

    async def run(self, resync: float) -> None:
        """Watch and reconcile until cancelled; every source is reconciled again (the hook
        and the receiver applied even when nothing seems changed) every ``resync`` seconds."""
        tasks = [asyncio.create_task(i.run(), name="informer github") for i in self._informers]
        try:
            await asyncio.gather(*(i.wait_synced() for i in self._informers))
            tasks += [
                asyncio.create_task(self._work(), name=f"github worker {i}")
                for i in range(self.options.workers)
            ]
            while True:
                await asyncio.sleep(resync)
                for where in list(self.sources):
                    self._forced.add(where)
                    self.queue.add(where)
        finally:
            self.queue.shut_down()
            for informer in self._informers:
                await informer.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            try:
                where = await self.queue.get()
            except QueueShutDown:
                return
            try:
                again = await self.reconcile(*where)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - one source's failure must not stop the rest
                self.counted("error")
                delay = self.queue.retry(where)
                log.warning(
                    "reconcile failed; retrying",
                    extra={
                        "kind": "GitHubSource",
                        "object": "/".join(where),
                        "error": f"{type(exc).__name__}: {exc}",
                        "retry_in": round(delay, 3),
                    },
                )
            else:
                self.counted("ok")
                self.queue.forget(where)
                if again is not None:
                    self.queue.add_after(where, again)
            finally:
                self.queue.done(where)

    # -- reconciling ---------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one GitHubSource in line; returns seconds after which to look again (None:
        when something changes). Raises on failures worth retrying with back-off."""
        where = (namespace, name)
        source = self.sources.get(where)
        if source is None:
            return None
        forced = where in self._forced
        self._forced.discard(where)
        known = self._known.setdefault(where, _Known())
        metadata = _meta(source)
        if metadata.get("deletionTimestamp"):
            await self._finalize(source, known)
            return None
        if FINALIZER not in (metadata.get("finalizers") or ()):
            await self._patch_metadata(
                source, {"finalizers": [*(metadata.get("finalizers") or ()), FINALIZER]}
            )
            return None  # the update comes back through the watch
        old = source.get("status") or {}
        conditions = Conditions(
            [SECRETS_PROVIDED, SINK_PROVIDED, WEBHOOK_CONFIGURED], old.get("conditions")
        )
        status: dict[str, Any] = {
            "observedGeneration": metadata.get("generation", 0),
            "webhookIDKey": old.get("webhookIDKey") or "",
            "annotations": dict(old.get("annotations") or {}),
        }
        if old.get("sinkUri"):
            status["sinkUri"] = old["sinkUri"]
        try:
            again = await self._reconcile(source, known, conditions, status, forced=forced)
        finally:
            await self._write_status(source, conditions, status)
        return again

    async def _reconcile(
        self,
        source: Mapping[str, Any],
        known: _Known,
        conditions: Conditions,
        status: dict[str, Any],
        *,
        forced: bool,
    ) -> float | None:
        namespace, name = _where(source)
        spec = source.get("spec") or {}
        url = webhook_url(source, cluster_domain=self.options.cluster_domain)
        try:
            validate_ce_overrides(spec.get("ceOverrides"))
            settings = hook_settings(
                source, url=url, api_url=self.options.api_url, **_UNREAD_CREDENTIALS
            )
        except InvalidSpec as exc:
            conditions.false(WEBHOOK_CONFIGURED, exc.reason, exc.message)
            return None
        status["ceAttributes"] = [
            {"type": f"dev.knative.source.github.{event}", "source": settings.event_source}
            for event in _event_types(spec)
        ]
        try:
            access_token = await self._secret(source, "accessToken", "AccessTokenNotFound")
            secret = await self._secret(source, "secretToken", "SecretTokenNotFound")
        except _SecretMissing as exc:
            conditions.false(SECRETS_PROVIDED, exc.reason, exc.message)
            return RETRY
        conditions.true(SECRETS_PROVIDED)
        known.access_token = access_token
        try:
            destination = parse_destination(spec.get("sink"), namespace)
            lookup = await self._sink_lookup(destination.ref)
            sink = resolve_sink(destination, lookup, cluster_domain=self.options.cluster_domain)
        except (InvalidSpec, SinkError) as exc:
            status.pop("sinkUri", None)
            conditions.false(SINK_PROVIDED, "NotFound", exc.message)
            return RETRY
        conditions.true(SINK_PROVIDED)
        status["sinkUri"] = sink.url
        try:
            await self._apply_receiver(source, known, sink.url, sink.ca_certs, secret, forced)
        except KubeApiError as exc:
            conditions.false(WEBHOOK_CONFIGURED, "MissingReceiveAdapter", exc.message)
            raise
        wanted = hook_settings(
            source, url=url, access_token=access_token, secret=secret, api_url=self.options.api_url
        )
        await self._register(source, known, wanted, conditions, status, forced)
        return REFRESH if destination.ref is not None else None

    async def _secret(self, source: Mapping[str, Any], field_name: str, reason: str) -> str:
        namespace, _ = _where(source)
        ref = _secret_ref(source, field_name)
        if ref is None:
            raise _SecretMissing(reason, f"spec.{field_name}.secretKeyRef needs a name and a key")
        secret_name, key = ref
        try:
            secret = await asyncio.to_thread(
                self.client.get, SECRETS.object_path(secret_name, namespace)
            )
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            raise _SecretMissing(
                reason, f'secrets "{secret_name}" not found in namespace "{namespace}"'
            ) from None
        encoded = (secret.get("data") or {}).get(key)
        if not isinstance(encoded, str):
            raise _SecretMissing(reason, f'key "{key}" not found in secret "{secret_name}"')
        try:
            value = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise _SecretMissing(
                reason, f'key "{key}" of secret "{secret_name}" is not UTF-8 text'
            ) from None
        if not value.strip():
            raise _SecretMissing(reason, f'key "{key}" of secret "{secret_name}" is empty')
        return value.strip()

    async def _sink_lookup(self, ref: Reference | None) -> Any:
        target: dict[str, Any] | None = None
        if ref is not None:
            try:
                resource = await asyncio.to_thread(self.client.discover, ref.api_version, ref.kind)
                target = await asyncio.to_thread(
                    self.client.get, resource.object_path(ref.name, ref.namespace)
                )
            except KubeApiError as exc:
                if exc.status != 404:
                    raise SinkError(
                        "NotFound", f"cannot look up sink {ref.describe()}: {exc.message}"
                    ) from None
        return lambda _: target

    async def _apply_receiver(
        self,
        source: Mapping[str, Any],
        known: _Known,
        sink: str,
        ca_certs: str | None,
        secret: str,
        forced: bool,
    ) -> None:
        deployment = desired_deployment(
            source,
            image=self.options.image,
            sink=sink,
            ca_certs=ca_certs,
            secret=secret,
            api_url=self.options.api_url,
        )
        service = desired_service(source)
        digest = hashlib.sha256(
            json.dumps([deployment, service], sort_keys=True).encode()
        ).hexdigest()
        if digest == known.applied and not forced:
            return
        for obj, resource in ((deployment, DEPLOYMENTS), (service, SERVICES)):
            path = resource.object_path(obj["metadata"]["name"], obj["metadata"]["namespace"])
            await asyncio.to_thread(
                self.client.request,
                "PATCH",
                path,
                params=[("fieldManager", _FIELD_MANAGER), ("force", "true")],
                body=obj,
                content_type=_APPLY,
            )
        known.applied = digest

    async def _register(
        self,
        source: Mapping[str, Any],
        known: _Known,
        wanted: HookSettings,
        conditions: Conditions,
        status: dict[str, Any],
        forced: bool,
    ) -> None:
        annotations: dict[str, str] = status["annotations"]
        place = _HookPlace.of(wanted)
        before = _HookPlace.decode(annotations.get(WEBHOOK_STATUS_ANNOTATION))
        digest = hashlib.sha256(
            json.dumps(
                [place.encode(), wanted.event_types, wanted.secret, wanted.access_token]
            ).encode()
        ).hexdigest()
        previous = condition_of(source.get("status"), WEBHOOK_CONFIGURED) or {}
        configured = previous.get("status") == "True"
        if digest == known.registered and configured and status["webhookIDKey"] and not forced:
            conditions.true(WEBHOOK_CONFIGURED)
            return
        reason = "ReconciliationFailed" if status["webhookIDKey"] else "CreationFailed"
        try:
            if before is not None and before != place:
                await self._unregister(before, wanted.access_token or "")
                status["webhookIDKey"] = ""
                annotations.pop(WEBHOOK_STATUS_ANNOTATION, None)
            result = await register(wanted)
        except (GithubException, HookError, OSError) as exc:
            conditions.false(WEBHOOK_CONFIGURED, reason, _github_failure(exc))
            raise
        status["webhookIDKey"] = str(result.hook_id)
        annotations[WEBHOOK_STATUS_ANNOTATION] = place.encode()
        known.registered = digest
        conditions.true(WEBHOOK_CONFIGURED)
        log.info(
            "webhook configured",
            extra={
                "object": "/".join(_where(source)),
                "hook": result.hook_id,
                "outcome": result.outcome.value,
                "owner": wanted.owner_and_repository,
            },
        )

    async def _unregister(self, place: _HookPlace, access_token: str) -> None:
        settings = load_settings(
            HookSettings,
            {
                "GITHUB_API_URL": place.api_url,
                "GITHUB_OWNER_AND_REPOSITORY": place.owner_and_repository,
                "GITHUB_EVENT_TYPES": "push",
                "GITHUB_WEBHOOK_URL": place.url,
                "GITHUB_TOKEN": access_token,
                "GITHUB_INSECURE_NO_SECRET": "true",
            },
        )
        try:
            await unregister(settings)
        except GithubException as exc:
            if exc.status != 404:  # the repository or organization is gone: so is the hook
                raise

    async def _finalize(self, source: Mapping[str, Any], known: _Known) -> None:
        metadata = _meta(source)
        finalizers = list(metadata.get("finalizers") or ())
        if FINALIZER not in finalizers:
            return
        namespace, name = _where(source)
        old = source.get("status") or {}
        recorded = _HookPlace.decode((old.get("annotations") or {}).get(WEBHOOK_STATUS_ANNOTATION))
        try:
            # Where the spec puts the hook: one registered just before a status write that
            # failed is there, recorded nowhere.
            url = webhook_url(source, cluster_domain=self.options.cluster_domain)
            current: _HookPlace | None = _HookPlace.of(
                hook_settings(source, url=url, api_url=self.options.api_url, **_UNREAD_CREDENTIALS)
            )
        except InvalidSpec:
            current = None
        if recorded is not None or current is not None:
            try:
                token = await self._secret(source, "accessToken", "AccessTokenNotFound")
            except _SecretMissing as exc:
                token = known.access_token or ""
                if not token and recorded is not None:
                    log.warning(
                        "cannot delete the webhook: no access token",
                        extra={"object": f"{namespace}/{name}", "error": exc.message},
                    )
            if token and recorded is not None:
                try:
                    await self._unregister(recorded, token)
                except (GithubException, HookError, OSError) as exc:
                    await self._deletion_failed(source, _github_failure(exc))
                    raise
            if token and current is not None and current != recorded:
                try:
                    await self._unregister(current, token)
                except (GithubException, HookError, OSError) as exc:
                    # Nothing says a hook is there (a source whose token never worked must
                    # still be deletable): not worth blocking the deletion.
                    log.info(
                        "no unrecorded webhook deleted",
                        extra={"object": f"{namespace}/{name}", "error": _github_failure(exc)},
                    )
        for resource in (DEPLOYMENTS, SERVICES):
            try:
                await asyncio.to_thread(
                    self.client.request,
                    "DELETE",
                    resource.object_path(receiver_name(name), namespace),
                )
            except KubeApiError as exc:
                if exc.status != 404:
                    raise
        finalizers.remove(FINALIZER)
        await self._patch_metadata(source, {"finalizers": finalizers})
        log.info("webhook and receiver removed", extra={"object": f"{namespace}/{name}"})

    async def _deletion_failed(self, source: Mapping[str, Any], why: str) -> None:
        """Report a hook that could not be deleted (WebhookConfigured False, DeletionFailed),
        the other conditions as they were."""
        old = source.get("status") or {}
        conditions = Conditions(
            [SECRETS_PROVIDED, SINK_PROVIDED, WEBHOOK_CONFIGURED], old.get("conditions")
        )
        for kind in (SECRETS_PROVIDED, SINK_PROVIDED):
            previous = condition_of(old, kind) or {}
            conditions.mark(
                kind,
                str(previous.get("status") or "Unknown"),
                str(previous.get("reason") or ""),
                str(previous.get("message") or ""),
            )
        conditions.false(WEBHOOK_CONFIGURED, "DeletionFailed", why)
        with contextlib.suppress(KubeApiError):
            await self._write_status(source, conditions, dict(old))

    async def _patch_metadata(self, source: Mapping[str, Any], changes: dict[str, Any]) -> None:
        metadata = _meta(source)
        body = {"metadata": {"resourceVersion": metadata.get("resourceVersion"), **changes}}
        namespace, name = _where(source)
        await asyncio.to_thread(
            self.client.request,
            "PATCH",
            _path(namespace, name),
            body=body,
            content_type=_MERGE_PATCH,
        )

    async def _write_status(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        given = {k: v for k, v in status.items() if v not in ("", {}, None)}
        await write_status(self.client, _path(*_where(source)), source, conditions, given)


def github_reconciler(
    client: KubeClient,
    cache: Cache,
    settings: ControllerSettings,
    counted: Callable[[str, str], None] = lambda kind, outcome: None,
) -> GitHubSourceReconciler | None:
    """The github role's factory (:data:`springhead_controller.roles.ROLES`): the GitHubSource
    reconciler the settings ask for (None without ``CONTROLLER_GITHUB_IMAGE``). It resolves
    sinks itself, so ``cache`` is not used."""
    if not settings.github_image:
        return None
    options = GitHubSourceOptions(
        image=settings.github_image,
        cluster_domain=settings.cluster_domain,
        api_url=settings.github_api_url,
        workers=settings.workers,
    )
    return GitHubSourceReconciler(
        client, options, counted=lambda outcome: counted("GitHubSource", outcome)
    )
