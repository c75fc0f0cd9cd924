"""SinkBinding and ContainerSource specs: validation (Knative's rules, reported in status rather
than refused by a webhook) and sink resolution, as pure functions."""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from springhead.config import SPEC_ATTRIBUTES
from springhead.names import extension_name_problem, is_dns_subdomain

from springhead_controller.binding import SUBJECT_KINDS, SubjectKind, ce_overrides_env, subject_kind
from springhead_controller.selectors import LabelMatcher, SelectorError, label_matcher

__all__ = [
    "BindingSpec",
    "Destination",
    "InvalidSpec",
    "Reference",
    "ResolvedSink",
    "SinkError",
    "Subject",
    "parse_binding_spec",
    "parse_destination",
    "resolve_sink",
    "validate_ce_overrides",
]


class InvalidSpec(Exception):
    """A spec the controller cannot act on: ``reason`` (a condition reason) and a message."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class SinkError(Exception):
    """The sink cannot be resolved (yet): ``reason`` for the SinkProvided condition."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Reference:
    """A reference to one object (a sink's ``ref``)."""

    api_version: str
    kind: str
    namespace: str
    name: str

    @property
    def group(self) -> str:
        """The API group ("" for core)."""
        return self.api_version.rpartition("/")[0]

    def describe(self) -> str:
        """``Service.v1 team-a/display``."""
        return f"{self.kind}.{self.api_version} {self.namespace}/{self.name}"


@dataclass(frozen=True, slots=True)
class Destination:
    """A sink: ``ref`` to an Addressable (or Service), ``uri``, or a ref plus a relative uri."""

    ref: Reference | None
    uri: str | None
    ca_certs: str | None = None


@dataclass(frozen=True, slots=True)
class ResolvedSink:
    """Where events go: the URL and the CA certificates to trust for it."""

    url: str
    ca_certs: str | None = None


@dataclass(frozen=True, slots=True)
class Subject:
    """What a SinkBinding binds: one object by name, or every object matching a selector."""

    kind: SubjectKind
    namespace: str
    name: str | None
    matcher: LabelMatcher | None

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether an object of the subject's kind and namespace with ``name`` and ``labels``
        is a subject."""
        if self.name is not None:
            return name == self.name
        return self.matcher is not None and self.matcher(labels)


@dataclass(frozen=True, slots=True)
class BindingSpec:
    """A validated SinkBinding spec."""

    subject: Subject
    sink: Destination
    ce_overrides: str
    """``K_CE_OVERRIDES`` as injected ("" without ``ceOverrides``)."""


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_destination(sink: Any, namespace: str) -> Destination:
    """Validate a ``sink`` (Knative's Destination rules); ``namespace`` defaults ``ref``'s.

    Raises :class:`InvalidSpec` with reason ``InvalidSink``.
    """
    if not isinstance(sink, Mapping) or not (sink.get("ref") or sink.get("uri")):
        raise InvalidSpec("InvalidSink", "spec.sink needs a ref, a uri, or both")
    uri = _text(sink.get("uri")) or None
    ca_certs = _text(sink.get("CACerts")) or None
    if ca_certs is not None:
        try:
            ssl.create_default_context(cadata=ca_certs)
        except (ssl.SSLError, ValueError):
            raise InvalidSpec("InvalidSink", "spec.sink.CACerts is not a PEM certificate") from None
    ref = None
    raw_ref = sink.get("ref")
    if raw_ref:
        if not isinstance(raw_ref, Mapping):
            raise InvalidSpec("InvalidSink", "spec.sink.ref must be an object")
        missing = [f for f in ("apiVersion", "kind", "name") if not _text(raw_ref.get(f))]
        if missing:
            raise InvalidSpec("InvalidSink", f"spec.sink.ref is missing {', '.join(missing)}")
        ref = Reference(
            api_version=raw_ref["apiVersion"],
            kind=raw_ref["kind"],
            namespace=_text(raw_ref.get("namespace")) or namespace,
            name=raw_ref["name"],
        )
    if uri is not None:
        parts = urlsplit(uri)
        absolute = bool(parts.scheme) and bool(parts.netloc)
        if ref is not None and parts.scheme:
            raise InvalidSpec(
                "InvalidSink",
                f"spec.sink.uri {uri!r} is absolute; with a ref it must be relative (a path)",
            )
        if ref is None and not absolute:
            raise InvalidSpec(
                "InvalidSink", f"spec.sink.uri {uri!r} must be absolute (scheme and host)"
            )
    return Destination(ref=ref, uri=uri, ca_certs=ca_certs)


def validate_ce_overrides(ce_overrides: Any) -> str:
    """Check ``ceOverrides`` and return ``K_CE_OVERRIDES`` for it.

    Extension names must be CloudEvents attribute names (1-20 lowercase letters or digits) and
    not spec attributes - the sources refuse anything else at start-up, so it is refused here,
    where the user sees it. Raises :class:`InvalidSpec` with reason ``InvalidOverrides``.
    """
    if ce_overrides is None:
        return ""
    if not isinstance(ce_overrides, Mapping):
        raise InvalidSpec("InvalidOverrides", "spec.ceOverrides must be an object")
    extensions = ce_overrides.get("extensions") or {}
    if not isinstance(extensions, Mapping):
        raise InvalidSpec("InvalidOverrides", "spec.ceOverrides.extensions must be a map")
    for name in extensions:
        if name in SPEC_ATTRIBUTES:
            raise InvalidSpec(
                "InvalidOverrides",
                f"spec.ceOverrides.extensions.{name} names a CloudEvents spec attribute; "
                "only extensions may be overridden",
            )
        if extension_name_problem(str(name)) is not None:
            raise InvalidSpec(
                "InvalidOverrides",
                f"spec.ceOverrides.extensions.{name}: extension names are 1-20 lowercase "
                "letters or digits",
            )
    return ce_overrides_env(ce_overrides)


def _parse_subject(subject: Any, namespace: str) -> Subject:
    if not isinstance(subject, Mapping):
        raise InvalidSpec("InvalidSubject", "spec.subject is required")
    api_version, kind = _text(subject.get("apiVersion")), _text(subject.get("kind"))
    if not api_version or not kind:
        raise InvalidSpec("InvalidSubject", "spec.subject needs apiVersion and kind")
    subject_ns = _text(subject.get("namespace")) or namespace
    if subject_ns != namespace:
        raise InvalidSpec(
            "InvalidSubject",
            f"spec.subject.namespace {subject_ns!r} differs from the binding's namespace "
            f"{namespace!r}",
        )
    known = subject_kind(api_version, kind)
    if known is None:
        kinds = ", ".join(f"{k.kind} ({k.api_version})" for k in SUBJECT_KINDS.values())
        raise InvalidSpec(
            "InvalidSubject", f"cannot bind {kind} in {api_version}; bindable kinds: {kinds}"
        )
    name = _text(subject.get("name")) or None
    selector = subject.get("selector")
    if name is not None and selector is not None:
        raise InvalidSpec(
            "InvalidSubject", "spec.subject has both name and selector; set exactly one"
        )
    if name is None and selector is None:
        raise InvalidSpec("InvalidSubject", "spec.subject needs a name or a selector")
    if name is not None:
        if not is_dns_subdomain(name):
            raise InvalidSpec("InvalidSubject", f"spec.subject.name {name!r} is not a valid name")
        return Subject(known, namespace, name, None)
    if not isinstance(selector, Mapping):
        raise InvalidSpec("InvalidSubject", "spec.subject.selector must be an object")
    try:
        matcher = label_matcher(selector)
    except SelectorError as exc:
        raise InvalidSpec("InvalidSubject", f"spec.subject.selector: {exc}") from None
    return Subject(known, namespace, None, matcher)


def parse_binding_spec(binding: Mapping[str, Any]) -> BindingSpec:
    """Validate a SinkBinding; raises :class:`InvalidSpec` naming what is wrong."""
    namespace = str((binding.get("metadata") or {}).get("namespace") or "")
    spec = binding.get("spec") or {}
    if not isinstance(spec, Mapping):
        raise InvalidSpec("InvalidSpec", "spec must be an object")
    subject = _parse_subject(spec.get("subject"), namespace)
    sink = parse_destination(spec.get("sink"), namespace)
    overrides = validate_ce_overrides(spec.get("ceOverrides"))
    return BindingSpec(subject=subject, sink=sink, ce_overrides=overrides)


Lookup = Callable[[Reference], Mapping[str, Any] | None]


def resolve_sink(
    destination: Destination, lookup: Lookup, *, cluster_domain: str = "cluster.local"
) -> ResolvedSink:
    """Where ``destination`` points (Knative's resolution).

    ``uri`` alone is used as is; a core ``v1`` Service becomes
    ``http://<name>.<namespace>.svc.<cluster_domain>`` (https with CACerts); any other ``ref`` is
    an Addressable whose ``status.addresses[0]`` or ``status.address`` gives the URL (and
    CACerts); a relative ``uri`` is then resolved against it. ``lookup`` returns the referenced
    object or None when it does not exist (it may raise :class:`SinkError` itself).
    """
    ref = destination.ref
    if ref is None:
        assert destination.uri is not None  # noqa: S101 - parse_destination guarantees it
        return ResolvedSink(destination.uri, destination.ca_certs)
    target = lookup(ref)
    if target is None:
        raise SinkError("NoAddressable", f"sink {ref.describe()} not found")
    if ref.api_version == "v1" and ref.kind == "Service":
        scheme = "https" if destination.ca_certs else "http"
        url = f"{scheme}://{ref.name}.{ref.namespace}.svc.{cluster_domain}"
        ca_certs = destination.ca_certs
    else:
        status = target.get("status") or {}
        addresses = status.get("addresses") or []
        address = addresses[0] if addresses else status.get("address")
        if not isinstance(address, Mapping):
            raise SinkError("NoAddressable", f"sink {ref.describe()} has no address in its status")
        url = _text(address.get("url"))
        if not url or not urlsplit(url).netloc:
            raise SinkError(
                "NoAddressable", f"sink {ref.describe()} has no URL with a host in its address"
            )
        ca_certs = destination.ca_certs or _text(address.get("CACerts")) or None
    if destination.uri:
        url = urljoin(url, destination.uri)
    return ResolvedSink(url, ca_certs)
