"""Every public module of every Springhead package (the shared runtime, each source and the
controller) declares a sorted ``__all__`` naming things it has; the Kubernetes layer,
``springhead.kube``, offers every public name of its modules from the package itself."""

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
#: Modules that are not library API: the pytest plugin.
EXEMPT = frozenset({"springhead_testing.fixtures"})
#: The modules of the Kubernetes layer, whose names ``springhead.kube`` re-exports.
KUBE_MODULES = ["springhead.kube.client", "springhead.kube.informer", "springhead.kube.leader"]


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
    assert {"springhead.kube", *KUBE_MODULES} <= set(MODULES)


def test_the_kube_layer_offers_each_name_of_its_modules_once() -> None:
    """``from springhead.kube import X`` works for every public X of the client, the informer
    and the elector, and gives the same object; the package adds no names of its own."""
    package = importlib.import_module("springhead.kube")
    modules = [name for name in MODULES if name.startswith("springhead.kube.")]
    assert modules == KUBE_MODULES  # a new module of the layer is re-exported too
    public = [
        (item, getattr(module, item))
        for module in map(importlib.import_module, modules)
        for item in module.__all__
    ]
    assert sorted(item for item, _ in public) == list(package.__all__)
    for item, value in public:
        assert getattr(package, item) is value, f"springhead.kube.{item} is not the module's"


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item}, which it lacks"
