"""The release script's version spellings and its refusals (no tool runs: the quick tier)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "release.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("springhead_release_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


release = load_script()


@pytest.mark.parametrize(
    ("python", "chart", "image"),
    [
        ("9.8.7", "9.8.7", "9.8.7"),
        ("0.0.1.dev120+g1d9097999", "0.0.1-dev.120+g1d9097999", "0.0.1-dev.120-g1d9097999"),
        (
            "1.2.4.dev3+g0abc123.d20261203",
            "1.2.4-dev.3+g0abc123.d20261203",
            "1.2.4-dev.3-g0abc123.d20261203",
        ),
        ("2.0.0rc1", "2.0.0-rc.1", "2.0.0-rc.1"),
        ("2.0.0rc1.dev4+gabc", "2.0.0-rc.1.dev.4+gabc", "2.0.0-rc.1.dev.4-gabc"),
    ],
)
def test_one_version_in_the_spellings_of_pep440_semver_and_oci_tags(
    python: str, chart: str, image: str
) -> None:
    versions = release.Versions.of(python)
    assert (versions.python, versions.chart, versions.image) == (python, chart, image)


@pytest.mark.parametrize("bad", ["1.2", "1.2.3.4", "1!1.2.3", "1.2.3.post1", "not-a-version"])
def test_a_version_that_is_not_x_y_z_is_refused(bad: str) -> None:
    with pytest.raises(release.ReleaseError, match="is not"):
        release.Versions.of(bad)


def test_a_bad_selection_of_parts_is_refused_with_a_clear_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert release.main(["--only", "images", "--dist", str(tmp_path / "dist")]) == 1
    assert "--only takes python (always) and any of charts, images" in capsys.readouterr().err
    assert release.main(["--only", "python,images", "--dist", str(tmp_path / "dist")]) == 1
    assert "images need at least one --service" in capsys.readouterr().err


def test_a_missing_service_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(release.ReleaseError, match="--service nowhere: no "):
        release.service_package(tmp_path, "nowhere")
