"""The dashboard and the alerting rules the charts ship (scripts/monitoring.py, rendered by
charts/common/templates/_monitoring.tpl): the committed template is what the script makes; the
rendered dashboard has the structure Grafana's dashboard model requires; every metric a
dashboard query or an alert names is found in a real scrape of the real processes' /metrics;
``promtool check rules`` accepts the rendered rules and ``promtool test rules`` shows each alert
firing on a synthetic series (and not before its time).

The dashboard is checked against the structure Grafana's dashboard JSON model requires (the
fields, panel grid, targets and template variables below), not against a published JSON
schema: none is obtainable here.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client.parser import text_string_to_metric_families
from springhead_testinfra.charts import CHARTS
from springhead_testing import RecordingSink, SourceProcess, adapter_env

ROOT = CHARTS.parent
#: Chart -> the ci values file that turns the dashboard and the rules on.
MONITORED = {
    "ping": "ping/ci/binding-values.yaml",
    "http": "http/ci/binding-values.yaml",
    "github": "github/ci/app-values.yaml",
    "kafka": "kafka/ci/binding-values.yaml",
    "apiserver": "apiserver/ci/cluster-values.yaml",
    "controller": "controller/ci/single-values.yaml",
    "display": "display/ci/limits-values.yaml",
}
#: Chart -> the rule families it includes (what its processes export).
FAMILIES = {
    "ping": ["ready", "delivery", "ping"],
    "http": ["ready", "delivery", "webhook"],
    "github": ["ready", "delivery", "webhook"],
    "kafka": ["ready", "delivery", "kafka"],
    "apiserver": ["ready", "delivery", "watch"],
    "controller": ["ready"],
    "display": ["ready"],
}
NAMESPACE = "springhead"  # charts.render's namespace


def _load_monitoring() -> ModuleType:
    name = "_springhead_monitoring"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / "monitoring.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


monitoring = _load_monitoring()


def render(charts: Any, chart: str) -> list[dict[str, Any]]:
    """The chart with its monitoring ci values, as release ``chart`` (its job label)."""
    docs: list[dict[str, Any]] = charts.render(
        chart, "--values", str(CHARTS / MONITORED[chart]), release=chart
    )
    return docs


def dashboard_of(charts: Any, chart: str) -> dict[str, Any]:
    config_map = charts.find(render(charts, chart), "ConfigMap", f"{chart}-dashboard")
    [text] = config_map["data"].values()
    return dict(json.loads(text))


def rules_of(charts: Any, chart: str) -> dict[str, Any]:
    rule = charts.find(render(charts, chart), "PrometheusRule", chart)
    return dict(rule["spec"])


# -- PromQL: which metrics an expression names ---------------------------------------------------

_KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (Grafana variables in it allowed)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # ranges
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    names = re.findall(r"(?<![\w.$])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()", text)
    return {name for name in names if name not in _KEYWORDS}


def test_metric_names_reads_promql() -> None:
    expr = (
        'sum by (type) (rate(a_total{x="y{z}"}[5m])) / on (job) b > bool 2 '
        "and histogram_quantile(0.9, sum by (le) (rate(c_bucket[$__rate_interval])))"
    )
    assert metric_names(expr) == {"a_total", "b", "c_bucket"}


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            found = re.fullmatch(r"label_values\((.*),\s*\w+\)", variable["definition"])
            assert found, variable["definition"]
            exprs.append(found.group(1))
    return exprs


def rule_exprs(spec: dict[str, Any]) -> list[str]:
    return [rule["expr"] for group in spec["groups"] for rule in group["rules"]]


# -- the generated template ----------------------------------------------------------------------


def test_generated_template_is_fresh() -> None:
    assert monitoring.TEMPLATE.read_text() == monitoring.template_text(), (
        "run: uv run --no-sync python scripts/monitoring.py"
    )


def test_off_by_default(charts: Any) -> None:
    docs = charts.render("display")
    assert not {"ConfigMap", "PrometheusRule"} & set(charts.kinds(docs))


@pytest.mark.parametrize("chart", list(MONITORED))
def test_each_chart_has_the_rule_families_of_its_processes(charts: Any, chart: str) -> None:
    spec = rules_of(charts, chart)
    [group] = spec["groups"]
    assert group["name"] == f"springhead.{NAMESPACE}.{chart}"
    expected = [r["alert"] for f in FAMILIES[chart] for r in monitoring.RULES[f]]
    assert [r["alert"] for r in group["rules"]] == expected
    for expr in rule_exprs(spec):
        assert "__" not in expr.replace("$__", ""), expr
        for selector in re.findall(r"\{[^}]*\}", expr):
            assert f'namespace="{NAMESPACE}", job="{chart}"' in selector, expr


# -- the dashboard's structure -------------------------------------------------------------------

PANEL_TYPES = {"row", "timeseries", "stat", "table", "gauge", "bargauge", "text"}


@pytest.mark.parametrize("chart", list(MONITORED))
def test_dashboard_has_grafanas_structure(charts: Any, chart: str) -> None:
    docs = render(charts, chart)
    config_map = charts.find(docs, "ConfigMap", f"{chart}-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = dashboard_of(charts, chart)
    for key, kind in {
        "uid": str, "title": str, "schemaVersion": int, "panels": list, "templating": dict,
        "time": dict, "tags": list, "editable": bool, "version": int,
    }.items():  # fmt: skip
        assert isinstance(dashboard.get(key), kind), key
    assert re.fullmatch(r"[A-Za-z0-9_-]{1,40}", dashboard["uid"]), dashboard["uid"]
    assert dashboard["title"] == f"Springhead springhead-{chart}: {NAMESPACE}/{chart}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["current"]["value"] == NAMESPACE
    assert variables["job"]["current"]["value"] == chart
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids) and all(isinstance(i, int) for i in ids)
    for panel in dashboard["panels"]:
        assert panel["type"] in PANEL_TYPES, panel["type"]
        grid = panel["gridPos"]
        assert all(isinstance(grid[k], int) and grid[k] >= 0 for k in "hwxy"), grid
        assert grid["w"] >= 1 and grid["x"] + grid["w"] <= 24 and grid["h"] >= 1, grid
        assert isinstance(panel["title"], str) and panel["title"]
        if panel["type"] == "row":
            assert panel["panels"] == [] and panel["collapsed"] is False
            continue
        refs = [target["refId"] for target in panel["targets"]]
        assert refs and len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            used = set(re.findall(r"\$(\w+)", target["expr"])) - {"__rate_interval"}
            assert used <= set(variables), (panel["title"], used)
    # Panels do not overlap (Grafana's grid would move them).
    cells = set()
    for panel in dashboard["panels"]:
        grid = panel["gridPos"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, panel["title"]
                cells.add((x, y))


# -- every metric named is really exported --------------------------------------------------------


async def scrape(process: SourceProcess) -> set[str]:
    """The sample names of the process's /metrics."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{process.port}/metrics") as response,
    ):
        assert response.status == 200
        text = await response.text()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


async def scrape_until(process: SourceProcess, wanted: set[str]) -> set[str]:
    """Scrape until every name in ``wanted`` is there (some appear after the first delivery)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        names = await scrape(process)
        if wanted <= names or asyncio.get_running_loop().time() > deadline:
            return names
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def scraped(kafka: Any, kube: Any) -> Iterator[set[str]]:
    """Every sample name the real processes export once exercised: ping (a failing sink, a
    retry, a dead letter), http (answered 202 and 404-free refusals), kafka (a record delivered
    from a real broker), apiserver (watching a real apiserver), the display (an event, a bad
    request)."""
    names = asyncio.run(_exercise(kafka, kube))
    yield names


async def _exercise(kafka: Any, kube: Any) -> set[str]:
    names: set[str] = set()
    async with RecordingSink() as sink, RecordingSink() as dead_letters:
        sink.respond_with(status=500)
        ping_env = adapter_env(
            sink.url,
            PING_SCHEDULE="* * * * * *",
            SPRINGHEAD_DELIVERY_RETRY="1",
            SPRINGHEAD_DELIVERY_BACKOFF_DELAY="PT0.01S",
            SPRINGHEAD_DELIVERY_DEAD_LETTER_SINK=dead_letters.url,
        )
        async with SourceProcess("springhead_ping", ping_env) as ping:
            await dead_letters.wait_for(1)
            names |= await scrape_until(
                ping, {"springhead_events_dead_lettered_total", "springhead_delivery_retries_total"}
            )
        sink.respond_with(status=202)
        async with SourceProcess("springhead_http", adapter_env(sink.url)) as http:
            url = f"http://127.0.0.1:{http.port}/"
            async with aiohttp.ClientSession() as session:
                async with session.post(url, data=b"hi") as response:
                    assert response.status == 202
                async with session.get(url) as response:
                    assert response.status == 405
            names |= await scrape(http)
        display_env = {"NAMESPACE": "ns", "SPRINGHEAD_PORT": "0", "SPRINGHEAD_HOST": "127.0.0.1"}
        async with SourceProcess("springhead_display", display_env) as display:
            url = f"http://127.0.0.1:{display.port}/"
            headers = {"ce-specversion": "1.0", "ce-id": "1", "ce-source": "/t", "ce-type": "t"}
            async with aiohttp.ClientSession() as session:
                async with session.post(url, data=b"{}", headers=headers) as response:
                    assert response.status == 202
                async with session.post(url, data=b"{}") as response:
                    assert response.status == 400
            names |= await scrape(display)
        topic = f"monitoring-{uuid.uuid4().hex[:8]}"
        kafka.create_topic(topic)
        from aiokafka import AIOKafkaProducer

        producer = AIOKafkaProducer(**kafka.client_kwargs())
        await producer.start()
        try:
            await producer.send_and_wait(topic, b"record")
        finally:
            await producer.stop()
        kafka_env = adapter_env(
            sink.url,
            KAFKA_BOOTSTRAP_SERVERS=kafka.bootstrap,
            KAFKA_TOPICS=topic,
            KAFKA_INITIAL_OFFSET="earliest",
            KAFKA_CONSUMER_GROUP=f"group-{topic}",
            KAFKA_COMMIT_INTERVAL="PT0.2S",
        )
        received = len(sink.accepted)
        async with SourceProcess("springhead_kafka", kafka_env) as source:
            await sink.wait_for(received + 1)
            names |= await scrape_until(source, {"springhead_kafka_consumer_lag"})
        apiserver_env = adapter_env(
            sink.url,
            APISERVER_KUBECONFIG=str(kube.kubeconfig),
            APISERVER_RESOURCES='[{"apiVersion": "v1", "kind": "ConfigMap"}]',
            NAMESPACE="default",
        )
        async with SourceProcess("springhead_apiserver", apiserver_env) as source:
            await source.wait_for_log("all watches in sync", timeout=60)
            names |= await scrape(source)
    return names


def test_the_scrape_exercised_every_family(scraped: set[str]) -> None:
    """The fixture really produced the labelled families (a guard for the test below)."""
    for name in (
        "springhead_events_sent_total", "springhead_webhook_requests_total",
        "springhead_kafka_consumer_lag", "springhead_watch_relists_total",
        "springhead_ping_last_tick_timestamp_seconds", "springhead_ready",
        "springhead_display_requests_rejected_total",
    ):  # fmt: skip
        assert name in scraped, name


@pytest.mark.parametrize("chart", list(MONITORED))
def test_every_metric_named_is_in_a_real_scrape(charts: Any, scraped: set[str], chart: str) -> None:
    named: set[str] = set()
    for expr in dashboard_exprs(dashboard_of(charts, chart)) + rule_exprs(rules_of(charts, chart)):
        named |= metric_names(expr)
    assert named, chart
    assert sorted(named - scraped) == []


# -- promtool ------------------------------------------------------------------------------------


def promtool_run(promtool: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, check=False, cwd=cwd, timeout=120
    )


@pytest.fixture
def rule_files(charts: Any, tmp_path: Path) -> list[str]:
    """Each chart's rendered rules as a Prometheus rule file."""
    files = []
    for chart in MONITORED:
        path = tmp_path / f"{chart}.rules.yaml"
        path.write_text(yaml.safe_dump(rules_of(charts, chart)))
        files.append(path.name)
    return files


def test_promtool_checks_the_rules(promtool: Path, rule_files: list[str], tmp_path: Path) -> None:
    done = promtool_run(promtool, "check", "rules", *rule_files, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def _fired(alert: str, job: str, when: str, severity: str, **labels: str) -> dict[str, Any]:
    [rule] = [r for rules in monitoring.RULES.values() for r in rules if r["alert"] == alert]
    summary = rule["annotations"]["summary"]
    return {
        "eval_time": when,
        "alertname": alert,
        "exp_alerts": [
            {
                "exp_labels": {"namespace": NAMESPACE, "job": job, "severity": severity, **labels},
                "exp_annotations": {
                    "summary": summary,
                    "description": f"{summary} ({NAMESPACE}/{job})",
                },
            }
        ],
    }


def _quiet(alert: str, when: str) -> dict[str, Any]:
    return {"eval_time": when, "alertname": alert, "exp_alerts": []}


def _series(metric: str, job: str, values: str, **labels: str) -> dict[str, str]:
    selector = ", ".join(
        f'{k}="{v}"' for k, v in {"namespace": NAMESPACE, "job": job, **labels}.items()
    )
    return {"series": f"{metric}{{{selector}}}", "values": values}


def test_promtool_shows_each_alert_firing(
    promtool: Path, rule_files: list[str], tmp_path: Path
) -> None:
    """One synthetic series per alert: quiet before its ``for`` has passed, firing after."""
    series = [
        _series("springhead_ready", "display", "1 0x20", pod="display-0"),
        _series("springhead_events_sent_total", "ping", "0+6x30", type="t", outcome="failed"),
        _series("springhead_events_sent_total", "http", "0+6x30", type="t", outcome="delivered"),
        _series("springhead_delivery_retries_total", "http", "0+3x30", type="t"),
        _series("springhead_events_dead_lettered_total", "kafka", "0x3 1+1x10", type="t"),
        _series("springhead_webhook_requests_total", "github", "0+6x30", status="503"),
        _series("springhead_kafka_consumer_lag", "kafka", "0+10x40", topic="orders", partition="0"),
        _series(
            "springhead_watch_relists_total",
            "apiserver",
            "0+1x40",
            resource="configmaps",
            watch_namespace="*",
        ),  # fmt: skip
        # A tick at 60 s, the next due at 120 s, then nothing: two intervals pass at 180 s.
        _series(
            "springhead_ping_last_tick_timestamp_seconds", "ping", "60x10", schedule="* * * * *"
        ),
        _series(
            "springhead_ping_next_tick_timestamp_seconds", "ping", "120x10", schedule="* * * * *"
        ),
    ]
    alerts = [
        _quiet("SpringheadNotReady", "4m"),
        _fired("SpringheadNotReady", "display", "7m", "warning", pod="display-0"),
        _quiet("SpringheadSinkFailing", "4m"),
        _fired("SpringheadSinkFailing", "ping", "12m", "critical"),
        _quiet("SpringheadRetryRatioHigh", "8m"),
        _fired("SpringheadRetryRatioHigh", "http", "20m", "warning"),
        _quiet("SpringheadDeadLetters", "2m"),
        _fired("SpringheadDeadLetters", "kafka", "6m", "warning"),
        _quiet("SpringheadWebhookServerErrors", "8m"),
        _fired("SpringheadWebhookServerErrors", "github", "20m", "warning"),
        _quiet("SpringheadKafkaLagGrowing", "10m"),
        _fired("SpringheadKafkaLagGrowing", "kafka", "35m", "warning", topic="orders"),
        _quiet("SpringheadWatchRelisting", "2m"),
        _fired("SpringheadWatchRelisting", "apiserver", "20m", "warning", resource="configmaps"),
        _quiet("SpringheadPingNoTick", "2m"),
        _fired("SpringheadPingNoTick", "ping", "4m", "critical", schedule="* * * * *"),
    ]
    tested = {case["alertname"] for case in alerts}
    assert tested == {r["alert"] for rules in monitoring.RULES.values() for r in rules}
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump(
            {
                "rule_files": rule_files,
                "evaluation_interval": "1m",
                "tests": [{"interval": "1m", "input_series": series, "alert_rule_test": alerts}],
            }
        )
    )
    done = promtool_run(promtool, "test", "rules", "tests.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr
