"""springhead.names: the one extension-name rule and the Kubernetes name rules."""

from __future__ import annotations

import pytest
from springhead.names import extension_name_problem, is_dns_label, is_dns_subdomain


@pytest.mark.parametrize("name", ["a", "abc123", "a" * 20, "0"])
def test_extension_names_that_pass(name: str) -> None:
    assert extension_name_problem(name) is None


@pytest.mark.parametrize("name", ["", "a" * 21, "Ab", "a-b", "a_b", "é", "ab\n"])
def test_extension_names_that_fail_say_the_rule(name: str) -> None:
    assert extension_name_problem(name) == (
        f"extension name {name!r} must be 1-20 lowercase letters or digits"
    )


@pytest.mark.parametrize(
    ("name", "label", "subdomain"),
    [
        ("a", True, True),
        ("a-b", True, True),
        ("a.b", False, True),
        ("a" * 63, True, True),
        ("a" * 64, False, True),
        (".".join(["a" * 63] * 4)[:253], False, True),
        ("a" * 254, False, False),
        ("-a", False, False),
        ("a-", False, False),
        ("a..b", False, False),
        ("A", False, False),
        ("a\n", False, False),
        ("", False, False),
    ],
)
def test_kubernetes_names(name: str, label: bool, subdomain: bool) -> None:
    assert (is_dns_label(name), is_dns_subdomain(name)) == (label, subdomain)
