"""The testinfra pytest plugin itself: light to load, marks tests, fails (never skips)."""

from __future__ import annotations

import ast
import inspect

import pytest
import springhead_testinfra.plugin as plugin
from springhead_testinfra import cli, versions

pytest_plugins = ("pytester",)

LIGHT_MODULES = {"__future__", "contextlib", "collections.abc", "typing", "pytest"}


def test_plugin_imports_nothing_heavy_at_load_time() -> None:
    tree = ast.parse(inspect.getsource(plugin))
    imported: set[str] = set()
    for node in tree.body:  # top level only; `if TYPE_CHECKING:` blocks are not executed
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
    assert imported <= LIGHT_MODULES, imported - LIGHT_MODULES


def test_component_fixtures_mark_their_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_uses_kafka(kafka): pass
        def test_uses_kube(kube): pass
        def test_plain(): pass
        """
    )
    result = pytester.runpytest("-p", "no:asyncio", "--collect-only", "-q", "-m", "not integration")
    result.stdout.fnmatch_lines(["*test_plain*", "*1/3 tests collected (2 deselected)*"])
    result = pytester.runpytest("-p", "no:asyncio", "--collect-only", "-q", "-m", "kube")
    result.stdout.fnmatch_lines(["*test_uses_kube*", "*1/3 tests collected (2 deselected)*"])


def test_a_component_that_cannot_start_fails_the_test(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SPRINGHEAD_TESTINFRA_CACHE", str(pytester.path / "empty-cache"))
    monkeypatch.setenv("PATH", str(pytester.path / "no-tools-here"))
    pytester.makepyfile("def test_needs_kafka(kafka): pass")
    result = pytester.runpytest("-p", "no:asyncio")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*Apache Kafka could not start*", "*`mvn` is not on PATH*"])


def test_versions_command_prints_every_pin(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["versions"]) == 0
    out = capsys.readouterr().out
    for pin in (versions.KAFKA_VERSION, versions.KUBERNETES_VERSION, versions.HELM_VERSION):
        assert pin in out
