"""The ApiServerSource reconciler: per object, a Deployment of Springhead's apiserver source
(``CONTROLLER_APISERVER_IMAGE``) and, unless ``spec.serviceAccountName`` names an account of the
user's, a ServiceAccount holding exactly the least RBAC the spec needs
(:func:`springhead_apiserver.rbac.derive_rbac`): a Role and RoleBinding in the source's namespace,
a ClusterRole and ClusterRoleBinding when it watches namespaces by selector or cluster-scoped
kinds.

Conditions (Knative's): ``SinkProvided``, ``Deployed`` (the Deployment's ``Available``),
``SufficientPermissions`` (for a given account, asked of the API server with a
SubjectAccessReview per rule; for a created one, whether its RBAC could be written: the
controller can only grant what it holds itself), ``OIDCIdentityCreated`` (True: Springhead has
no OIDC identities) and ``Ready``.

Deletion: the finalizer ``apiserversources.sources.knative.dev`` removes every child. A
ClusterRole cannot be owned by a namespaced object (the garbage collector ignores such owner
references), and without the finalizer a cluster without a garbage collector would keep the
namespaced children too.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from springhead.config import ConfigError, load_settings
from springhead.kube import KubeApiError, KubeClient
from springhead_apiserver.config import ResourceSpec, WatchSettings
from springhead_apiserver.rbac import PolicyRule, RbacRules, derive_rbac

from springhead_controller.adapters import (
    AdapterProblem,
    adapter_container,
    adapter_deployment,
    delete_owned,
    deployment_availability,
    ensure_deployment,
    env_value,
    owner_reference,
)
from springhead_controller.binding import ce_overrides_env
from springhead_controller.cache import API_SERVER_SOURCE, Cache
from springhead_controller.conditions import Conditions, write_status
from springhead_controller.containersources import child_name
from springhead_controller.crds import GROUP
from springhead_controller.selectors import SelectorError, label_matcher
from springhead_controller.spec import (
    InvalidSpec,
    SinkError,
    parse_destination,
    resolve_sink,
    validate_ce_overrides,
)

__all__ = [
    "ApiServerSourceReconciler",
    "DEPLOYED",
    "FINALIZER",
    "OIDC_IDENTITY_CREATED",
    "SINK_PROVIDED",
    "SUFFICIENT_PERMISSIONS",
    "adapter_env",
    "adapter_name",
    "cluster_rbac_name",
    "watch_settings",
]

log = logging.getLogger("springhead.controller")

DEPLOYED = "Deployed"
SINK_PROVIDED = "SinkProvided"
SUFFICIENT_PERMISSIONS = "SufficientPermissions"
OIDC_IDENTITY_CREATED = "OIDCIdentityCreated"
OIDC_DISABLED = "authentication-oidc feature disabled"
FINALIZER = f"apiserversources.{GROUP}"
_SOURCE_PATH = "/apis/sources.knative.dev/v1/namespaces/{namespace}/apiserversources/{name}"
_RBAC = "/apis/rbac.authorization.k8s.io/v1"
_SERVICE_ACCOUNTS = "/api/v1/namespaces/{namespace}/serviceaccounts"
_DEPLOYMENTS = "/apis/apps/v1/namespaces/{namespace}/deployments"
_ACCESS_REVIEWS = "/apis/authorization.k8s.io/v1/subjectaccessreviews"
_MERGE_PATCH = "application/merge-patch+json"
#: The spec field each of the apiserver source's variables comes from (for messages).
_FIELDS = {
    "APISERVER_RESOURCES": "spec.resources",
    "APISERVER_NAMESPACE_SELECTOR": "spec.namespaceSelector",
    "APISERVER_OWNER": "spec.owner",
    "APISERVER_MODE": "spec.mode",
}
_EVENT_TYPES = {
    "Reference": "dev.knative.apiserver.ref.{}",
    "Resource": "dev.knative.apiserver.resource.{}",
}


def adapter_name(source: Mapping[str, Any]) -> str:
    """``apiserversource-<name>-<uid>`` (shortened as Knative's ``kmeta.ChildName``): the name
    of the Deployment, and of the ServiceAccount, Role and RoleBinding made for it."""
    metadata = source.get("metadata") or {}
    return child_name(f"apiserversource-{metadata.get('name')}-", str(metadata.get("uid")))


def cluster_rbac_name(source: Mapping[str, Any]) -> str:
    """``apiserversource-<uid>``: the ClusterRole and ClusterRoleBinding (unique by uid)."""
    return f"apiserversource-{(source.get('metadata') or {}).get('uid')}"


def _source_labels(name: str) -> dict[str, str]:
    return {
        "sources.knative.dev/source": "apiserver-source-controller",
        "sources.knative.dev/name": name,
        "app.kubernetes.io/managed-by": "springhead-controller",
    }


def _watch_env(source: Mapping[str, Any]) -> dict[str, str]:
    """The apiserver source's ``APISERVER_*`` variables for the spec."""
    spec = source.get("spec") or {}
    env = {"APISERVER_RESOURCES": json.dumps(spec.get("resources") or [])}
    if spec.get("namespaceSelector") is not None:
        env["APISERVER_NAMESPACE_SELECTOR"] = json.dumps(spec["namespaceSelector"])
    if spec.get("owner"):
        env["APISERVER_OWNER"] = json.dumps(spec["owner"])
    if spec.get("mode"):
        env["APISERVER_MODE"] = str(spec["mode"])
    return env


def watch_settings(source: Mapping[str, Any]) -> WatchSettings:
    """What the source watches, as the apiserver source will read it. Raises
    :class:`InvalidSpec` (reason ``InvalidSpec``, naming the spec field) when it would refuse
    the spec."""
    metadata = source.get("metadata") or {}
    spec = source.get("spec") or {}
    if spec.get("filters"):
        raise InvalidSpec("InvalidSpec", "spec.filters is not supported (a Knative feature flag)")
    resources = spec.get("resources")
    if not isinstance(resources, list) or not resources:
        raise InvalidSpec("InvalidSpec", "spec.resources: at least one is required")
    for index, resource in enumerate(resources):
        try:
            ResourceSpec.model_validate(resource)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error.get("loc") or ())
            what = "required" if error["type"] == "missing" else error["msg"]
            what = what.removeprefix("Value error, ")
            raise InvalidSpec(
                "InvalidSpec", f"spec.resources[{index}]{'.' + where if where else ''}: {what}"
            ) from None
    env = {
        "NAMESPACE": str(metadata.get("namespace")),
        "NAME": str(metadata.get("name")),
        **_watch_env(source),
    }
    try:
        return load_settings(WatchSettings, env)
    except ConfigError as exc:
        field = _FIELDS.get(exc.variable, exc.variable)
        raise InvalidSpec("InvalidSpec", f"{field}: {exc.reason}") from None


def adapter_env(
    source: Mapping[str, Any], sink: str, ca_certs: str | None = None
) -> list[dict[str, Any]]:
    """The Deployment's environment: the adapter contract (``K_SINK``, ``K_CE_OVERRIDES``,
    ``K_CA_CERTS``, ``NAMESPACE``, ``NAME``) and the apiserver source's ``APISERVER_*``
    settings. ``K_SOURCE_CONFIG`` is left out: it is the format of Knative's own adapter, and
    Springhead's image reads the same facts from ``APISERVER_*``."""
    metadata = source.get("metadata") or {}
    spec = source.get("spec") or {}
    env = [
        env_value("K_SINK", sink),
        env_value("K_CE_OVERRIDES", ce_overrides_env(spec.get("ceOverrides"))),
        {"name": "NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        env_value("NAME", str(metadata.get("name"))),
        env_value("K_COMPONENT", "apiserversource"),
    ]
    if ca_certs:
        env.append(env_value("K_CA_CERTS", ca_certs))
    env.extend(env_value(k, v) for k, v in sorted(_watch_env(source).items()))
    return env


def _rules(rules: tuple[PolicyRule, ...]) -> list[dict[str, Any]]:
    return [rule.to_dict() for rule in rules]


class ApiServerSourceReconciler:
    """Reconciles one ApiServerSource at a time (many may run concurrently)."""

    def __init__(
        self,
        client: KubeClient,
        cache: Cache,
        *,
        image: str,
        cluster_domain: str = "cluster.local",
    ) -> None:
        self.client = client
        self.cache = cache
        self.image = image
        self.cluster_domain = cluster_domain

    async def reconcile(self, namespace: str, name: str) -> float | None:
        """Bring one ApiServerSource's children and status in line; returns seconds after which
        to look again (None: only when something changes). Raises on failures worth retrying."""
        where = (namespace, name)
        source = self.cache.adapter_sources[API_SERVER_SOURCE].get(where)
        if source is None:
            self.cache.track_sink(where, None, API_SERVER_SOURCE)
            return None
        metadata = source.get("metadata") or {}
        if metadata.get("deletionTimestamp"):
            self.cache.track_sink(where, None, API_SERVER_SOURCE)
            if FINALIZER in (metadata.get("finalizers") or ()):
                await self._finalize(source)
            return None
        if FINALIZER not in (metadata.get("finalizers") or ()):
            source = await self._set_finalizers(
                source, [*(metadata.get("finalizers") or ()), FINALIZER]
            )
        old = source.get("status") or {}
        conditions = Conditions(
            [DEPLOYED, OIDC_IDENTITY_CREATED, SINK_PROVIDED, SUFFICIENT_PERMISSIONS],
            old.get("conditions"),
        )
        conditions.true(OIDC_IDENTITY_CREATED, OIDC_DISABLED)
        status: dict[str, Any] = {"observedGeneration": source["metadata"].get("generation", 0)}
        retry: float | None = None
        settings: WatchSettings | None = None
        try:
            settings = watch_settings(source)
            validate_ce_overrides((source.get("spec") or {}).get("ceOverrides"))
        except InvalidSpec as exc:
            conditions.false(DEPLOYED, exc.reason, exc.message)
            conditions.unknown(SUFFICIENT_PERMISSIONS, exc.reason, "the spec is invalid")
            settings = None
        if settings is not None:
            status["ceAttributes"] = self._ce_attributes(settings)
            status["namespaces"] = self._namespaces(source, settings)
        sink, retry = await self._sink(source, conditions, status)
        if settings is not None:
            granted = await self._permissions(source, settings, conditions)
            if sink is not None and granted:
                await self._deploy(source, sink, status.get("sinkCACerts"), conditions)
            elif sink is None:
                conditions.unknown(DEPLOYED, "SinkMissing", "waiting for the sink")
            else:
                conditions.false(
                    DEPLOYED, "InsufficientPermissions", "not deployed without its permissions"
                )
        await self._write_status(source, conditions, status)
        return retry

    # -- parts ----------------------------------------------------------------------------------

    def _ce_attributes(self, settings: WatchSettings) -> list[dict[str, str]]:
        pattern = _EVENT_TYPES[settings.mode.value]
        return [
            {"type": pattern.format(action), "source": self.client.host}
            for action in ("add", "delete", "update")
        ]

    def _namespaces(self, source: Mapping[str, Any], settings: WatchSettings) -> list[str]:
        """The namespaces watched now (``status.namespaces``)."""
        selector = (source.get("spec") or {}).get("namespaceSelector")
        if selector is None:
            return list(settings.watched_namespaces)
        try:
            matches = label_matcher(selector)
        except SelectorError:
            return []
        return sorted(n for n, labels in self.cache.namespaces.items() if matches(labels))

    async def _sink(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> tuple[str | None, float | None]:
        namespace, name = source["metadata"]["namespace"], source["metadata"]["name"]
        where = (namespace, name)
        try:
            destination = parse_destination((source.get("spec") or {}).get("sink"), namespace)
        except InvalidSpec as exc:
            self.cache.track_sink(where, None, API_SERVER_SOURCE)
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
            return None, None
        ref = destination.ref
        self.cache.track_sink(where, ref, API_SERVER_SOURCE)
        try:
            target = await self.cache.sink_target(ref) if ref is not None else None
            sink = resolve_sink(destination, lambda _: target, cluster_domain=self.cluster_domain)
        except SinkError as exc:
            conditions.false(SINK_PROVIDED, exc.reason, exc.message)
            return None, 30.0  # also watched: this is only a safety net
        conditions.true(SINK_PROVIDED)
        status["sinkUri"] = sink.url
        if sink.ca_certs:
            status["sinkCACerts"] = sink.ca_certs
        return sink.url, None

    async def _permissions(
        self, source: Mapping[str, Any], settings: WatchSettings, conditions: Conditions
    ) -> bool:
        """Make (or check) the account's permissions; mark ``SufficientPermissions``."""
        rules = derive_rbac(settings)
        account = (source.get("spec") or {}).get("serviceAccountName")
        if account:
            await self._remove_rbac(source, cluster=True, namespaced=True, account=True)
            missing = await self._missing(source["metadata"]["namespace"], str(account), rules)
            if missing:
                conditions.false(
                    SUFFICIENT_PERMISSIONS,
                    "InsufficientPermissions",
                    f'ServiceAccount "{account}" may not {"; ".join(missing)}',
                )
                return False
            conditions.true(SUFFICIENT_PERMISSIONS)
            return True
        try:
            await self._ensure_rbac(source, rules)
        except KubeApiError as exc:
            if exc.status not in (403, 422):
                raise
            conditions.false(
                SUFFICIENT_PERMISSIONS,
                "RBACNotGranted",
                f"cannot grant the source's permissions ({exc.message}); the controller grants "
                "only what it holds itself (the chart's apiServerSources.grantableRules)",
            )
            return False
        conditions.true(SUFFICIENT_PERMISSIONS)
        return True

    async def _missing(self, namespace: str, account: str, rules: RbacRules) -> list[str]:
        """The ``verb group/resource`` the account may not do, asked of the API server."""
        checks = [(rule, "") for rule in rules.cluster]
        for rule_namespace, namespaced in rules.namespaced.items():
            checks.extend((rule, rule_namespace) for rule in namespaced)
        missing = []
        for rule, where in checks:
            for group in rule.api_groups:
                for resource in rule.resources:
                    for verb in rule.verbs:
                        attributes = {"group": group, "resource": resource, "verb": verb}
                        if where:
                            attributes["namespace"] = where
                        review = {
                            "apiVersion": "authorization.k8s.io/v1",
                            "kind": "SubjectAccessReview",
                            "spec": {
                                "user": f"system:serviceaccount:{namespace}:{account}",
                                "groups": [
                                    "system:serviceaccounts",
                                    f"system:serviceaccounts:{namespace}",
                                    "system:authenticated",
                                ],
                                "resourceAttributes": attributes,
                            },
                        }
                        answer = await asyncio.to_thread(
                            self.client.request, "POST", _ACCESS_REVIEWS, body=review
                        )
                        if not (answer.get("status") or {}).get("allowed"):
                            scope = f" in {where}" if where else " cluster-wide"
                            missing.append(f"{verb} {resource}.{group or 'core'}{scope}")
        return missing

    async def _ensure_rbac(self, source: Mapping[str, Any], rules: RbacRules) -> None:
        namespace = source["metadata"]["namespace"]
        name = adapter_name(source)
        labels = _source_labels(source["metadata"]["name"])
        owner = [owner_reference(source)]
        await self._ensure(
            f"{_SERVICE_ACCOUNTS.format(namespace=namespace)}",
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "labels": labels, "ownerReferences": owner},
            },
            compare=(),
        )
        subject = [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]
        own = rules.namespaced.get(namespace, ())
        if own:
            base = f"{_RBAC}/namespaces/{namespace}"
            meta = {"name": name, "labels": labels, "ownerReferences": owner}
            await self._ensure(
                f"{base}/roles",
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
                 "rules": _rules(own)},
                compare=("rules",),
            )  # fmt: skip
            await self._ensure(
                f"{base}/rolebindings",
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                 "metadata": meta, "subjects": subject,
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                             "name": name}},
                compare=("subjects",),
            )  # fmt: skip
        if rules.cluster:
            cluster_name = cluster_rbac_name(source)
            meta = {"name": cluster_name, "labels": labels}
            await self._ensure(
                f"{_RBAC}/clusterroles",
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                 "metadata": meta, "rules": _rules(rules.cluster)},
                compare=("rules",),
            )  # fmt: skip
            await self._ensure(
                f"{_RBAC}/clusterrolebindings",
                {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                 "metadata": meta, "subjects": subject,
                 "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                             "name": cluster_name}},
                compare=("subjects",),
            )  # fmt: skip
        await self._remove_rbac(source, cluster=not rules.cluster, namespaced=not own)

    async def _ensure(
        self, collection: str, desired: dict[str, Any], *, compare: tuple[str, ...]
    ) -> None:
        """Create ``desired`` in ``collection``, or update the fields ``compare`` names."""
        path = f"{collection}/{desired['metadata']['name']}"
        try:
            existing = await asyncio.to_thread(self.client.get, path)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
            await asyncio.to_thread(self.client.request, "POST", collection, body=desired)
            log.info("created a child of an ApiServerSource", extra={"path": path})
            return
        changed = False
        for field in compare:
            if existing.get(field) != desired[field]:
                existing[field] = desired[field]
                changed = True
        if changed:
            await asyncio.to_thread(self.client.request, "PUT", path, body=existing)
            log.info("updated a child of an ApiServerSource", extra={"path": path})

    async def _remove_rbac(
        self,
        source: Mapping[str, Any],
        *,
        cluster: bool,
        namespaced: bool,
        account: bool = False,
    ) -> None:
        """Delete the ClusterRole and binding (``cluster``), the Role and binding
        (``namespaced``) and the ServiceAccount (``account``) made for ``source``."""
        namespace = source["metadata"]["namespace"]
        name = adapter_name(source)
        paths = []
        if namespaced:
            base = f"{_RBAC}/namespaces/{namespace}"
            paths += [f"{base}/rolebindings/{name}", f"{base}/roles/{name}"]
        if cluster:
            cluster_name = cluster_rbac_name(source)
            paths += [
                f"{_RBAC}/clusterrolebindings/{cluster_name}",
                f"{_RBAC}/clusterroles/{cluster_name}",
            ]
        if account:
            paths.append(f"{_SERVICE_ACCOUNTS.format(namespace=namespace)}/{name}")
        for path in paths:
            await delete_owned(self.client, path)

    async def _deploy(
        self,
        source: Mapping[str, Any],
        sink: str,
        ca_certs: str | None,
        conditions: Conditions,
    ) -> None:
        if not self.image:
            conditions.false(
                DEPLOYED, "NoImage", "CONTROLLER_APISERVER_IMAGE is not set in the controller"
            )
            return
        spec = source.get("spec") or {}
        name = adapter_name(source)
        account = str(spec.get("serviceAccountName") or name)
        labels = _source_labels(source["metadata"]["name"])
        desired = adapter_deployment(
            source,
            name,
            labels,
            adapter_container(self.image, adapter_env(source, sink, ca_certs)),
            service_account=account,
        )
        existing = self.cache.adapter_deployments[API_SERVER_SOURCE].get(
            (source["metadata"]["namespace"], name)
        )
        try:
            deployment = await ensure_deployment(self.client, source, desired, existing)
        except AdapterProblem as exc:
            conditions.false(DEPLOYED, exc.reason, exc.message)
            return
        conditions.mark(DEPLOYED, *deployment_availability(deployment))

    async def _finalize(self, source: Mapping[str, Any]) -> None:
        """Delete every child, then let the object go."""
        namespace = source["metadata"]["namespace"]
        name = adapter_name(source)
        deployment = self.cache.adapter_deployments[API_SERVER_SOURCE].get((namespace, name))
        if deployment is not None:
            await delete_owned(
                self.client,
                f"{_DEPLOYMENTS.format(namespace=namespace)}/{name}",
                deployment["metadata"].get("uid"),
            )
        account = (source.get("spec") or {}).get("serviceAccountName")
        await self._remove_rbac(source, cluster=True, namespaced=True, account=not account)
        finalizers = [f for f in source["metadata"].get("finalizers") or () if f != FINALIZER]
        try:
            await self._set_finalizers(source, finalizers)
        except KubeApiError as exc:
            if exc.status != 404:
                raise
        log.info("finalized an ApiServerSource", extra={"object": f"{namespace}/{name}"})

    async def _set_finalizers(
        self, source: Mapping[str, Any], finalizers: list[str]
    ) -> dict[str, Any]:
        metadata = source["metadata"]
        patch = {
            "metadata": {"finalizers": finalizers, "resourceVersion": metadata["resourceVersion"]}
        }
        path = _SOURCE_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        updated: dict[str, Any] = await asyncio.to_thread(
            self.client.request, "PATCH", path, body=patch, content_type=_MERGE_PATCH
        )
        return updated

    async def _write_status(
        self, source: Mapping[str, Any], conditions: Conditions, status: dict[str, Any]
    ) -> None:
        metadata = source["metadata"]
        path = _SOURCE_PATH.format(namespace=metadata["namespace"], name=metadata["name"])
        await write_status(self.client, path, source, conditions, status, keep=("annotations",))
