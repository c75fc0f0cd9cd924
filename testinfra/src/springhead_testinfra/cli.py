"""Command line: ``python -m springhead_testinfra fetch | up | base-images | versions | cache |
clean``.

``fetch`` obtains and builds every component into the cache (idempotent; seconds when warm).
``up`` starts one component for manual use, prints how to reach it, and stops it on Ctrl-C.
``base-images`` puts the Python base and the uv image the Dockerfile starts from into podman's
own storage on a machine that reaches no registry, so ``make images`` builds there too.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import versions
from .cache import cache_root, remove_tree
from .obtain import COMPONENTS, obtain
from .process import ComponentError, progress


def fetch(components: Sequence[str] = COMPONENTS, *, force: bool = False, jobs: int = 4) -> int:
    """Obtain/build ``components`` into the cache; return a process exit code."""
    try:
        obtain(components, force=force, jobs=jobs)
    except ComponentError as exc:
        print(f"\nFAILED\n{exc}", file=sys.stderr)
        return 1
    return 0


def _wait_for_signal() -> None:
    signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        signal.sigwait(signals)
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)


def up(component: str, *, as_json: bool = False) -> int:
    """Start ``component``, print how to reach it, and stop it on Ctrl-C / SIGTERM."""
    handle: Any
    info: dict[str, Any]
    if component in ("kafka", "kafka-secure"):
        from .kafka import SecureKafkaBroker, start_kafka

        handle = start_kafka(secure=component == "kafka-secure")
        info = {"bootstrap": handle.bootstrap, "run_dir": str(handle.run_dir)}
        if isinstance(handle, SecureKafkaBroker):
            info.update(
                listeners=handle.listeners,
                users={k: vars(v) for k, v in handle.users.items()},
                ca_file=str(handle.ca_file),
                client_cert=str(handle.client_cert),
                client_key=str(handle.client_key),
            )
    elif component == "kube":
        from .kube import start_kube

        handle = start_kube()
        info = {
            "api_url": handle.api_url,
            "kubeconfig": str(handle.kubeconfig),
            "token": handle.token,
            "ca_file": str(handle.ca_file),
            "etcd_url": handle.etcd_url,
            "run_dir": str(handle.run_dir),
        }
    else:
        raise ValueError(component)
    try:
        if as_json:
            print(json.dumps(info), flush=True)
        else:
            for key, value in info.items():
                print(f"{key}: {json.dumps(value) if isinstance(value, dict) else value}")
            if component == "kube":
                print(f"\nexport KUBECONFIG={handle.kubeconfig}")
            print("\nRunning; Ctrl-C stops it.", flush=True)
        _wait_for_signal()
    finally:
        progress(f"stopping {component}")
        handle.close()
    return 0


def clean(*, runs_only: bool) -> int:
    """Remove run folders (``--runs``) or the whole cache."""
    target = cache_root() / "runs" if runs_only else cache_root()
    progress(f"removing {target}")
    remove_tree(target)
    return 0


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m springhead_testinfra`` and ``springhead-testinfra``."""
    parser = argparse.ArgumentParser(prog="python -m springhead_testinfra", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_fetch = sub.add_parser("fetch", help="obtain and build components into the cache")
    p_fetch.add_argument(
        "components", nargs="*", metavar="COMPONENT", help=f"any of {', '.join(COMPONENTS)} (all)"
    )
    p_fetch.add_argument("--force", action="store_true", help="rebuild even when cached")
    p_fetch.add_argument(
        "--jobs", type=int, default=4, help="components obtained in parallel (default 4)"
    )
    p_up = sub.add_parser("up", help="start a component until Ctrl-C")
    p_up.add_argument("component", choices=["kafka", "kafka-secure", "kube"])
    p_up.add_argument("--json", action="store_true", help="print connection details as JSON")
    sub.add_parser(
        "base-images",
        help="make the Dockerfile's base images in podman's storage (no registry needed)",
    )
    sub.add_parser("versions", help="print the pinned versions")
    sub.add_parser("cache", help="print the cache folder and what it holds")
    p_clean = sub.add_parser("clean", help="delete the cache (or only its run folders)")
    p_clean.add_argument("--runs", action="store_true", help="delete only run folders")
    args = parser.parse_args(argv)

    try:
        if args.command == "fetch":
            unknown = sorted(set(args.components) - set(COMPONENTS))
            if unknown:
                parser.error(f"unknown component(s) {unknown}; choose from {COMPONENTS}")
            return fetch(args.components or COMPONENTS, force=args.force, jobs=args.jobs)
        if args.command == "up":
            return up(args.component, as_json=args.json)
        if args.command == "base-images":
            from .images import Podman, ensure_base_images, ensure_tools

            ensure_tools()
            ensure_base_images(Podman())
            return 0
        if args.command == "versions":
            for name, version in versions.summary().items():
                print(f"{name}: {version}")
            return 0
        if args.command == "cache":
            root = cache_root()
            print(root)
            for entry in sorted(root.iterdir()):
                print(f"  {entry.name}: {_size(entry) / 2**20:.0f} MiB")
            return 0
        if args.command == "clean":
            return clean(runs_only=args.runs)
    except ComponentError as exc:
        print(f"springhead-testinfra: {exc}", file=sys.stderr)
        return 1
    parser.error(f"unknown command {args.command}")
    return 2
