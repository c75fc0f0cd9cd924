"""``python -m springhead_testinfra``: see :mod:`springhead_testinfra.cli`."""

from __future__ import annotations

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
