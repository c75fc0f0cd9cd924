"""Test helpers for Springhead sources (a package of its own, in no image): a real loopback sink,
a child-process runner for sources, environment helpers, and pytest fixtures (``sink``) registered
as a pytest plugin."""

from __future__ import annotations

from springhead_testing.process import SourceProcess, adapter_env
from springhead_testing.sink import Behaviour, ReceivedRequest, RecordingSink

__all__ = ["Behaviour", "ReceivedRequest", "RecordingSink", "SourceProcess", "adapter_env"]
