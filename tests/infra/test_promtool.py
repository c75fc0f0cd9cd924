"""promtool from testinfra: the pinned build reports its version, accepts a good rule file,
refuses a bad one with Prometheus' own message, and runs a rule unit test."""

from __future__ import annotations

import subprocess
from pathlib import Path

from springhead_testinfra import versions

GOOD = """\
groups:
  - name: smoke
    rules:
      - alert: AlwaysOne
        expr: vector(1) > 0
"""


def promtool_run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=60
    )


def test_promtool_reports_the_pinned_version(promtool: Path, tmp_path: Path) -> None:
    done = promtool_run(promtool, "--version", cwd=tmp_path)
    assert f"promtool, version {versions.PROMETHEUS_VERSION}" in done.stdout + done.stderr


def test_check_rules_accepts_good_and_refuses_bad_rules(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(GOOD.replace("vector(1) > 0", "rate(x[5m]"))
    good = promtool_run(promtool, "check", "rules", "good.yaml", cwd=tmp_path)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = promtool_run(promtool, "check", "rules", "bad.yaml", cwd=tmp_path)
    assert bad.returncode != 0
    assert "parse error" in bad.stdout + bad.stderr


def test_rule_unit_tests_run(promtool: Path, tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "tests.yaml").write_text(
        "rule_files: [good.yaml]\n"
        "evaluation_interval: 1m\n"
        "tests:\n"
        "  - interval: 1m\n"
        "    alert_rule_test:\n"
        "      - {eval_time: 1m, alertname: AlwaysOne, exp_alerts: [{exp_labels: {}}]}\n"
    )
    done = promtool_run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
