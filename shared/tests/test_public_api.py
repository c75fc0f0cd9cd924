"""Every public module of every Springhead package (the shared runtime, each source and the
controller) declares a sorted ``__all__`` naming things it defines."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

#: Packages held to the rule: ``springhead`` and every installed ``springhead_*`` package but the
#: test infrastructure (scripts and fixtures, no public API).
PACKAGES = sorted(
    info.name
    for info in pkgutil.iter_modules()
    if info.ispkg
    and (info.name == "springhead" or info.name.startswith("springhead_"))
    and info.name != "springhead_testinfra"
)
#: Modules that are not library API: the pytest plugin and the event-display script.
EXEMPT = frozenset({"springhead.testing.fixtures", "springhead.testing.display"})


def public_modules(package_name: str) -> list[str]:
    """The package and its submodules whose names do not start with ``_`` (so no
    ``__main__``: importing it would run the service)."""
    package = importlib.import_module(package_name)
    return [package_name] + [
        info.name
        for info in pkgutil.walk_packages(package.__path__, f"{package_name}.")
        if not info.name.rsplit(".", 1)[-1].startswith("_") and info.name not in EXEMPT
    ]


MODULES = sorted(name for package in PACKAGES for name in public_modules(package))


def test_every_package_is_checked() -> None:
    assert {"springhead", "springhead_controller", "springhead_ping"} <= set(PACKAGES)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item}, which it lacks"
