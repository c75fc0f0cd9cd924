"""``python -m springhead_apiserver rbac``: print the RBAC manifests the settings need."""

from __future__ import annotations

import argparse
import json
import sys

from springhead.config import ConfigError, load_settings

from springhead_apiserver.config import WatchSettings
from springhead_apiserver.rbac import rbac_manifests, to_yaml

__all__ = ["RbacSettings", "rbac_command"]


class RbacSettings(WatchSettings):
    """What the source watches, without a sink: printing RBAC needs none."""


def rbac_command(argv: list[str]) -> int:
    """Print the manifests; returns the exit status (2 for bad configuration)."""
    parser = argparse.ArgumentParser(
        prog="python -m springhead_apiserver rbac",
        description="Print the least RBAC the APISERVER_* settings in the environment need.",
    )
    parser.add_argument("--format", choices=("yaml", "json"), default="yaml")
    parser.add_argument("--name", help="name of the roles and bindings (default: $NAME)")
    parser.add_argument(
        "--service-account", help="the source's ServiceAccount (default: the roles' name)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings(RbacSettings)
    except ConfigError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    name = args.name or settings.name
    manifests = rbac_manifests(settings, name=name, service_account=args.service_account or name)
    if args.format == "json":
        sys.stdout.write(
            json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}, indent=2) + "\n"
        )
    else:
        sys.stdout.write(to_yaml(manifests))
    return 0
