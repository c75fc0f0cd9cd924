"""examples/feed/values.yaml: the settings it deploys the source with are ones the source accepts.

(PyYAML comes with the workspace's dev environment, through the kubernetes client.)
"""

from __future__ import annotations

from pathlib import Path

import yaml  # type: ignore[import-untyped]  # no stubs in the workspace
from feed_source.config import FeedSettings
from springhead.config import load_settings

VALUES = Path(__file__).parents[1] / "values.yaml"


def test_the_example_values_hold_the_keys_the_chart_takes_and_valid_settings() -> None:
    values = yaml.safe_load(VALUES.read_text())
    assert values["mode"] == "sinkbinding"
    assert values["image"]["repository"]
    assert isinstance(values["image"]["tag"], str)
    env = {entry["name"]: entry["value"] for entry in values["env"]}
    assert all(isinstance(value, str) for value in env.values())
    settings = load_settings(FeedSettings, {"K_SINK": values["sink"]["uri"], **env})
    assert settings.url == env["FEED_URL"]
    assert set(env) <= {field.validation_alias for field in FeedSettings.model_fields.values()}
