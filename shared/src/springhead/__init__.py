"""Springhead: Kubernetes event sources in Python, on the Knative source contract.

The runtime library every source uses. Heavy pieces live in their own modules and are imported
only by the sources that need them.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
