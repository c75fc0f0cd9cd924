"""``python -m springhead_controller``: the controller process.

``python -m springhead_controller crds`` prints the CustomResourceDefinitions (YAML) instead, for
installing them by hand (``| kubectl apply -f -``) or packaging them in a chart.
"""

from __future__ import annotations

import sys

from springhead.runtime import process_main

from springhead_controller.config import ControllerSettings
from springhead_controller.controller import Controller


def print_crds() -> None:
    """Write the CRDs to stdout as one YAML stream."""
    import yaml  # type: ignore[import-untyped]

    from springhead_controller.crds import crd_manifests

    sys.stdout.write(yaml.safe_dump_all(crd_manifests(), sort_keys=False))


def run() -> None:
    """Run the controller with settings from the environment (or print the CRDs)."""
    if sys.argv[1:] == ["crds"]:
        print_crds()
        return
    if sys.argv[1:] not in ([], ["--version"]):
        sys.stderr.write("usage: python -m springhead_controller [--version | crds]\n")
        raise SystemExit(2)
    process_main(ControllerSettings, Controller.from_settings)


if __name__ == "__main__":
    run()
