"""Fixtures every cross-service test shares: ``charts``, a private copy of charts/ with each
chart's library dependency built (Helm needs it packaged; it is derived, so never committed)."""

from __future__ import annotations

import pytest
from springhead_testinfra.charts import APPLICATION_CHARTS, CHARTS, Charts
from springhead_testinfra.helm import Helm


@pytest.fixture(scope="session")
def charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Charts:
    """charts/ copied to a temporary folder, each chart's library dependency built."""
    target = tmp_path_factory.mktemp("charts") / "charts"
    return Charts.build(helm, CHARTS, target, APPLICATION_CHARTS)
