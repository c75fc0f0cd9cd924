"""Name rules every service checks the same way: CloudEvents extension names as Knative accepts
them in overrides, and Kubernetes object names (RFC 1123). Patterns are kept as text too, for
the charts' JSON schemas."""

from __future__ import annotations

import re

__all__ = [
    "DNS_LABEL_PATTERN",
    "DNS_SUBDOMAIN_PATTERN",
    "EXTENSION_NAME_PATTERN",
    "extension_name_problem",
    "is_dns_label",
    "is_dns_subdomain",
]

#: An extension name: lower-case letters and digits (CloudEvents), at most 20 (its SHOULD, which
#: Knative's overrides enforce).
EXTENSION_NAME_PATTERN = r"^[a-z0-9]{1,20}$"
#: An RFC 1123 label (a namespace's name): at most 63 characters.
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
#: An RFC 1123 subdomain (most objects' names: a Lease, a ConfigMap): at most 253 characters.
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"

_EXTENSION_NAME = re.compile(EXTENSION_NAME_PATTERN)
_DNS_LABEL = re.compile(DNS_LABEL_PATTERN)
_DNS_SUBDOMAIN = re.compile(DNS_SUBDOMAIN_PATTERN)


def extension_name_problem(name: str) -> str | None:
    """What is wrong with ``name`` as an extension name, or None when it is one."""
    if _EXTENSION_NAME.fullmatch(name) is not None:
        return None
    return f"extension name {name!r} must be 1-20 lowercase letters or digits"


def is_dns_label(name: str) -> bool:
    """Whether ``name`` is an RFC 1123 label (a namespace's name)."""
    return len(name) <= 63 and _DNS_LABEL.fullmatch(name) is not None


def is_dns_subdomain(name: str) -> bool:
    """Whether ``name`` is an RFC 1123 subdomain (a Lease's or a ConfigMap's name)."""
    return len(name) <= 253 and _DNS_SUBDOMAIN.fullmatch(name) is not None
