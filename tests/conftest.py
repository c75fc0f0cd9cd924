"""Fixtures every cross-service test shares: ``charts``, a private copy of charts/ with each
chart's library dependency built (Helm needs it packaged; it is derived, so never committed), and
``image_builds``, each service's image built once per session."""

from __future__ import annotations

import pytest
from springhead_testinfra.charts import APPLICATION_CHARTS, CHARTS, Charts
from springhead_testinfra.helm import Helm
from springhead_testinfra.images import Podman
from springhead_testinfra.services import ImageBuilds


@pytest.fixture(scope="session")
def charts(helm: Helm, tmp_path_factory: pytest.TempPathFactory) -> Charts:
    """charts/ copied to a temporary folder, each chart's library dependency built."""
    target = tmp_path_factory.mktemp("charts") / "charts"
    return Charts.build(helm, CHARTS, target, APPLICATION_CHARTS)


@pytest.fixture(scope="session")
def image_builds(podman: Podman) -> ImageBuilds:
    """Each service's image, built with podman on first use in the session (the images and the
    e2e tiers share the builds)."""
    return ImageBuilds(podman)
