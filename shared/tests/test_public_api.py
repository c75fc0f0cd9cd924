"""Every public module declares a sorted ``__all__`` naming things it defines."""

from __future__ import annotations

import importlib
import pkgutil

import pytest
import springhead

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(springhead.__path__, "springhead.")
    if not info.name.rsplit(".", 1)[-1].startswith("_")
    and info.name not in ("springhead.testing.fixtures", "springhead.testing.display")
)


@pytest.mark.parametrize("name", MODULES)
def test_all_is_sorted_and_defined(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    for item in exported:
        assert hasattr(module, item), f"{name}.__all__ names {item}, which it lacks"
