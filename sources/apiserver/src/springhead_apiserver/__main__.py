"""``python -m springhead_apiserver``: the ApiServerSource process.

``python -m springhead_apiserver rbac [--format yaml|json] [--name N] [--service-account SA]``
prints the Role/ClusterRole manifests the settings in the environment need.
"""

from __future__ import annotations

import sys

from springhead.runtime import main

from springhead_apiserver.adapter import ApiServerAdapter
from springhead_apiserver.config import ApiServerSettings


def run() -> None:
    """Run the ApiServer source with settings from the environment (or the ``rbac`` command)."""
    if sys.argv[1:2] == ["rbac"]:
        from springhead_apiserver.rbac_command import rbac_command

        raise SystemExit(rbac_command(sys.argv[2:]))
    main(ApiServerSettings, ApiServerAdapter.from_settings)


if __name__ == "__main__":
    run()
