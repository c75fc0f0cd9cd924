"""Test helpers shipped with Springhead: a real loopback sink, a child-process runner for
sources, environment helpers, and pytest fixtures (``sink``) registered as a pytest plugin."""

from __future__ import annotations

from springhead.testing.process import SourceProcess, adapter_env
from springhead.testing.sink import Behaviour, ReceivedRequest, RecordingSink

__all__ = ["Behaviour", "ReceivedRequest", "RecordingSink", "SourceProcess", "adapter_env"]
