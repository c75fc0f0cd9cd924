"""The cache folder: where components are built once and where each run keeps its files.

Layout (``$SPRINGHEAD_TESTINFRA_CACHE``, default ``~/.cache/springhead-testinfra``)::

    kafka-4.4.0/libs/*.jar          the broker's class path (complete once ``.complete`` exists)
    kube-apiserver-v1.37.1/bin/     the apiserver built from the Go module proxy
    etcd-v3.6.16/bin/etcd
    helm-v4.3.1/bin/helm
    maven/repository/               Maven's local repository (kept out of ~/.m2)
    go/mod, go/build                GOMODCACHE and GOCACHE of the Go builds
    images/base-<key>/base.tar      the Python base's root file system (mmdebstrap), by its inputs
    podman/storage/                 podman's own image storage: the base images, built layers
    runs/<component>-<time>-<id>/   one folder per started component: config, certs, data, logs
    locks/                          flock files that serialise concurrent fetches
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CACHE_ENV = "SPRINGHEAD_TESTINFRA_CACHE"
#: Run folders older than this are removed when a new one is made (left over from killed runs).
RUN_DIR_MAX_AGE_S = 24 * 3600
_MARKER = ".complete"


def cache_root() -> Path:
    """Return the cache folder, creating it: ``$SPRINGHEAD_TESTINFRA_CACHE`` or the default."""
    configured = os.environ.get(CACHE_ENV)
    root = Path(configured) if configured else Path.home() / ".cache" / "springhead-testinfra"
    root = root.expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def component_dir(name: str, version: str) -> Path:
    """Return the folder that holds one component at one version (not necessarily complete)."""
    return cache_root() / f"{name}-{version}"


def is_complete(folder: Path, recipe: dict[str, Any]) -> bool:
    """Tell whether ``folder`` holds a finished build made by the same ``recipe``."""
    marker = folder / _MARKER
    if not marker.is_file():
        return False
    try:
        return bool(json.loads(marker.read_text()) == recipe)
    except (OSError, ValueError):
        return False


def mark_complete(folder: Path, recipe: dict[str, Any]) -> None:
    """Record that ``folder`` holds a finished build made by ``recipe``."""
    (folder / _MARKER).write_text(json.dumps(recipe, sort_keys=True))


@contextlib.contextmanager
def locked(name: str) -> Iterator[None]:
    """Hold an exclusive lock named ``name`` (across processes) for the duration of the block."""
    lock_dir = cache_root() / "locks"
    lock_dir.mkdir(exist_ok=True)
    with open(lock_dir / f"{name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def new_run_dir(component: str) -> Path:
    """Make a fresh, private folder for one started component and prune stale ones."""
    runs = cache_root() / "runs"
    runs.mkdir(exist_ok=True)
    prune_runs(runs)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.mkdtemp(prefix=f"{component}-{stamp}-", dir=runs))


def prune_runs(runs: Path, max_age_s: float = RUN_DIR_MAX_AGE_S) -> None:
    """Remove run folders not touched for ``max_age_s`` seconds (left by killed sessions)."""
    now = time.time()
    for entry in runs.iterdir():
        try:
            if entry.is_dir() and now - entry.stat().st_mtime > max_age_s:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            continue


def remove_tree(path: Path) -> None:
    """Remove ``path`` even where Go made its module cache read-only."""
    if not path.exists():
        return
    for dirpath, _dirnames, _filenames in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)
