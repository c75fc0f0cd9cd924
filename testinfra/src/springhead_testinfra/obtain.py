"""Obtain several components at once: the Maven download and the Go builds run in parallel."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .cache import cache_root, is_complete
from .process import ComponentError, progress

#: The names ``fetch`` accepts, in the order they are reported.
COMPONENTS = ("kafka", "kube", "helm", "promtool", "dockerfile-lint", "images", "browser")


def _steps(component: str, force: bool) -> list[tuple[str, Callable[[], Path]]]:
    from . import gobuild
    from .kafka import fetch_kafka

    if component == "kafka":
        return [("kafka", lambda: fetch_kafka(force=force))]
    if component == "kube":
        return [
            ("etcd", lambda: gobuild.build(gobuild.ETCD, force=force)),
            ("kube-apiserver", lambda: gobuild.build(gobuild.KUBE_APISERVER, force=force)),
        ]
    if component == "helm":
        return [("helm", lambda: gobuild.build(gobuild.HELM, force=force))]
    if component == "promtool":
        return [("promtool", lambda: gobuild.build(gobuild.PROMTOOL, force=force))]
    if component == "dockerfile-lint":
        from .dockerlint import fetch_dockerfile_lint

        return [("dockerfile-lint", lambda: fetch_dockerfile_lint(force=force))]
    if component == "images":
        from .images import fetch_images

        return [("images", lambda: fetch_images(force=force))]
    if component == "browser":
        from .browser import chromium

        return [("chromium", lambda: chromium(force=force))]
    raise ValueError(f"unknown component {component!r}; choose from {COMPONENTS}")


def missing(components: Iterable[str]) -> list[str]:
    """Return those of ``components`` that the cache does not hold yet."""
    from . import browser, dockerlint, gobuild, images
    from .kafka import kafka_home, kafka_recipe

    present = {
        "kafka": lambda: is_complete(kafka_home(), kafka_recipe()),
        "kube": lambda: gobuild.is_built(gobuild.ETCD) and gobuild.is_built(gobuild.KUBE_APISERVER),
        "helm": lambda: gobuild.is_built(gobuild.HELM),
        "promtool": lambda: gobuild.is_built(gobuild.PROMTOOL),
        "dockerfile-lint": dockerlint.is_built,
        "images": images.is_ready,
        "browser": browser.is_ready,
    }
    return [name for name in COMPONENTS if name in set(components) and not present[name]()]


def obtain_each(
    components: Sequence[str] = COMPONENTS, *, force: bool = False, jobs: int = 4
) -> dict[str, ComponentError]:
    """Obtain/build ``components`` into the cache, in parallel; return the failures by component."""
    started = time.monotonic()
    steps = [
        (component, name, step)
        for component in COMPONENTS
        if component in components
        for name, step in _steps(component, force)
    ]
    progress(f"cache {cache_root()}: obtaining {', '.join(name for _, name, _ in steps)}")
    failures: dict[str, ComponentError] = {}
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="obtain") as pool:
        futures = [(component, name, pool.submit(step)) for component, name, step in steps]
        for component, name, future in futures:
            try:
                path = future.result()
            except ComponentError as exc:
                failures[component] = ComponentError(f"{name}: {exc}")
            else:
                progress(f"{name}: ready at {path}")
    if not failures:
        progress(f"all ready in {time.monotonic() - started:.1f}s")
    return failures


def obtain(components: Sequence[str] = COMPONENTS, *, force: bool = False, jobs: int = 4) -> None:
    """Obtain/build ``components`` into the cache, in parallel; raise if any failed."""
    failures = obtain_each(components, force=force, jobs=jobs)
    if failures:
        raise ComponentError("\n\n".join(str(exc) for exc in failures.values()))
