"""Every controller module declares a sorted ``__all__`` naming things it defines."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import springhead_controller

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(springhead_controller.__path__, "springhead_controller.")
    if not info.name.rsplit(".", 1)[-1].startswith("_")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item}, which it lacks"
