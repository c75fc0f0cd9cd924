"""The one source of the Grafana dashboard and the Prometheus alerting rules the charts ship
(``charts/common/templates/_monitoring_data.tpl``, included by ``_monitoring.tpl``).

Both are written here as data: :data:`DASHBOARD` (Grafana's dashboard JSON model) and
:data:`RULES` (rule groups by metric family: each chart includes the families its processes
export). Every PromQL expression selects the release's own series through placeholders the
chart replaces: ``__NAMESPACE__`` (the release's namespace) and ``__JOB__`` (its Service, which a
ServiceMonitor's scrapes are labelled ``job`` with); the dashboard's variables start there.

``uv run --no-sync python scripts/monitoring.py`` rewrites the template;
``tests/charts/test_monitoring.py`` fails when the committed one differs, checks the dashboard
and the rules (``promtool``), and scrapes the real processes for every metric they name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

__all__ = ["DASHBOARD", "FAMILIES", "RULES", "TEMPLATE", "template_text"]

TEMPLATE = Path(__file__).resolve().parents[1] / "charts/common/templates/_monitoring_data.tpl"

#: The release's series in the rules.
RELEASE = 'namespace="__NAMESPACE__", job="__JOB__"'
#: The selected series in the dashboard (its variables).
SELECTED = 'namespace="$namespace", job=~"$job"'

# -- alerting rules ------------------------------------------------------------------------------


def _alert(name: str, expr: str, duration: str, severity: str, summary: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity},
        "annotations": {
            "summary": summary,
            "description": summary + " ({{ $labels.namespace }}/{{ $labels.job }})",
        },
    }


def _sum(metric: str, window: str = "10m", by: str = "namespace, job", extra: str = "") -> str:
    selector = f"{{{RELEASE}{extra}}}"
    return f"sum by ({by}) (rate({metric}{selector}[{window}]))"


#: Family -> its alerting rules. A chart includes the families its processes export.
RULES: dict[str, list[dict[str, Any]]] = {
    "ready": [
        _alert(
            "SpringheadNotReady",
            f"max by (namespace, job, pod) (springhead_ready{{{RELEASE}}}) == 0",
            "5m",
            "warning",
            "A Springhead process has not been ready (/readyz) for 5 minutes",
        ),
    ],
    "delivery": [
        _alert(
            "SpringheadSinkFailing",
            _sum("springhead_events_sent_total", "5m", extra=', outcome="failed"') + " > 0",
            "5m",
            "critical",
            "Events are failing delivery to the sink after every retry: the sink is down or "
            "refusing them",
        ),
        _alert(
            "SpringheadDeadLetters",
            f"sum by (namespace, job) (increase(springhead_events_dead_lettered_total"
            f"{{{RELEASE}}}[10m])) > 0",
            "0m",
            "warning",
            "Events are going to the dead-letter sink",
        ),
        _alert(
            "SpringheadRetryRatioHigh",
            _sum("springhead_delivery_retries_total")
            + " / "
            + _sum("springhead_events_sent_total")
            + " > 0.2",
            "10m",
            "warning",
            "More than one retry per five events for 10 minutes: the sink is struggling",
        ),
    ],
    "webhook": [
        _alert(
            "SpringheadWebhookServerErrors",
            _sum("springhead_webhook_requests_total", "5m", extra=', status=~"5.."') + " > 0",
            "10m",
            "warning",
            "The webhook answers 5xx (the sink refused forwarded events, or the source is "
            "overloaded)",
        ),
    ],
    "kafka": [
        _alert(
            "SpringheadKafkaLagGrowing",
            f"sum by (namespace, job, topic) (springhead_kafka_consumer_lag{{{RELEASE}}}) > 0 "
            f"and sum by (namespace, job, topic) "
            f"(deriv(springhead_kafka_consumer_lag{{{RELEASE}}}[15m])) > 0",
            "15m",
            "warning",
            "The Kafka consumer lag has been growing for 15 minutes",
        ),
    ],
    "watch": [
        _alert(
            "SpringheadWatchRelisting",
            f"sum by (namespace, job, resource) (increase(springhead_watch_relists_total"
            f"{{{RELEASE}}}[30m])) > 3",
            "0m",
            "warning",
            "A watch keeps losing its position (410 Gone) and relisting",
        ),
    ],
    "ping": [
        _alert(
            "SpringheadPingNoTick",
            f"time() - springhead_ping_last_tick_timestamp_seconds{{{RELEASE}}} > 2 * "
            f"(springhead_ping_next_tick_timestamp_seconds{{{RELEASE}}} - "
            f"springhead_ping_last_tick_timestamp_seconds{{{RELEASE}}})",
            "0m",
            "critical",
            "The ping source fired no tick for two schedule intervals",
        ),
    ],
}
FAMILIES = tuple(RULES)

# -- the dashboard -------------------------------------------------------------------------------


def _target(expr: str, legend: str, ref: str = "A") -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(title: str, unit: str, *targets: dict[str, Any], kind: str = "timeseries") -> Any:
    return {
        "type": kind,
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
        "targets": list(targets),
    }


def _rate(metric: str, by: str, extra: str = "") -> str:
    return f"sum by ({by}) (rate({metric}{{{SELECTED}{extra}}}[$__rate_interval]))"


def _quantiles(bucket: str) -> list[dict[str, Any]]:
    return [
        _target(
            f"histogram_quantile({q}, sum by (le) (rate({bucket}{{{SELECTED}}}"
            f"[$__rate_interval])))",
            f"p{round(q * 100)}",
            ref,
        )
        for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]


_ROWS: list[tuple[str, list[dict[str, Any]]]] = [
    (
        "Process",
        [
            _panel(
                "Ready (/readyz)", "none", _target(f"springhead_ready{{{SELECTED}}}", "{{pod}}")
            ),
            _panel(
                "Build",
                "none",
                _target(
                    f"sum by (version, revision) (springhead_build_info{{{SELECTED}}})",
                    "{{version}} {{revision}}",
                ),
            ),
        ],
    ),
    (
        "Delivery",
        [
            _panel(
                "Events sent by outcome",
                "ops",
                _target(_rate("springhead_events_sent_total", "outcome"), "{{outcome}}"),
            ),
            _panel(
                "Retries",
                "ops",
                _target(_rate("springhead_delivery_retries_total", "type"), "{{type}}"),
            ),
            _panel(
                "Dead-lettered",
                "ops",
                _target(_rate("springhead_events_dead_lettered_total", "type"), "{{type}}"),
            ),
            _panel(
                "Delivery latency (retries included)",
                "s",
                *_quantiles("springhead_delivery_latency_seconds_bucket"),
            ),
        ],
    ),
    (
        "Webhook (HTTP and GitHub sources)",
        [
            _panel(
                "Webhook responses by status",
                "reqps",
                _target(_rate("springhead_webhook_requests_total", "status"), "{{status}}"),
            ),
        ],
    ),
    (
        "Kafka source",
        [
            _panel(
                "Consumer lag",
                "short",
                _target(
                    f"sum by (topic) (springhead_kafka_consumer_lag{{{SELECTED}}})", "{{topic}}"
                ),
            ),
            _panel(
                "Commit latency",
                "s",
                *_quantiles("springhead_kafka_commit_latency_seconds_bucket"),
            ),
            _panel(
                "Records received and done",
                "ops",
                _target(
                    _rate("springhead_kafka_records_received_total", "topic"),
                    "received {{topic}}",
                ),
                _target(
                    _rate("springhead_kafka_records_done_total", "topic, outcome"),
                    "{{outcome}} {{topic}}",
                    "B",
                ),
            ),
        ],
    ),
    (
        "ApiServer source",
        [
            _panel(
                "Watch restarts",
                "short",
                _target(
                    f"sum by (resource) (increase(springhead_watch_restarts_total{{{SELECTED}}}"
                    "[$__rate_interval]))",
                    "{{resource}}",
                ),
            ),
            _panel(
                "Relists (410 Gone)",
                "short",
                _target(
                    f"sum by (resource) (increase(springhead_watch_relists_total{{{SELECTED}}}"
                    "[$__rate_interval]))",
                    "{{resource}}",
                ),
            ),
        ],
    ),
    (
        "Ping source",
        [
            _panel(
                "Seconds since the last tick",
                "s",
                _target(
                    f"time() - springhead_ping_last_tick_timestamp_seconds{{{SELECTED}}}",
                    "{{pod}}",
                ),
            ),
        ],
    ),
    (
        "Event display",
        [
            _panel(
                "Events received",
                "ops",
                _target(
                    f"sum (rate(springhead_display_events_received_total{{{SELECTED}}}"
                    "[$__rate_interval]))",
                    "received",
                ),
                _target(
                    _rate("springhead_display_requests_rejected_total", "status"),
                    "rejected {{status}}",
                    "B",
                ),
            ),
        ],
    ),
]


def _layout(rows: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """Rows of panels, two panels a line, each with its id and grid position."""
    panels: list[dict[str, Any]] = []
    y = 0
    for title, members in rows:
        panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        y += 1
        for index, panel in enumerate(members):
            panels.append({**panel, "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": y}})
            if index % 2 == 1 or index == len(members) - 1:
                y += 8
    for number, panel in enumerate(panels, start=1):
        panel["id"] = number
    return panels


def _variable(name: str, label: str, query: str, current: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": f"{name}-variable"},
        "definition": query,
        "current": {"selected": True, "text": current, "value": current},
        "refresh": 2,
        "includeAll": False,
        "multi": name == "job",
        "sort": 1,
        "options": [],
        "hide": 0,
    }


#: Grafana's dashboard JSON model; ``__UID__``, ``__TITLE__``, ``__NAMESPACE__`` and ``__JOB__``
#: are the release's.
DASHBOARD: dict[str, Any] = {
    "uid": "__UID__",
    "title": "__TITLE__",
    "description": "Springhead: delivery, webhooks, Kafka, watches, ping ticks and the display.",
    "tags": ["springhead", "knative", "cloudevents"],
    "timezone": "browser",
    "editable": True,
    "graphTooltip": 1,
    "schemaVersion": 39,
    "version": 1,
    "refresh": "30s",
    "time": {"from": "now-3h", "to": "now"},
    "timepicker": {},
    "fiscalYearStartMonth": 0,
    "liveNow": False,
    "links": [],
    "annotations": {"list": []},
    "templating": {
        "list": [
            {
                "name": "datasource",
                "label": "Prometheus",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "includeAll": False,
                "multi": False,
                "options": [],
                "refresh": 1,
                "regex": "",
            },
            _variable(
                "namespace",
                "Namespace",
                "label_values(springhead_build_info, namespace)",
                "__NAMESPACE__",
            ),  # fmt: skip
            _variable(
                "job",
                "Service",
                'label_values(springhead_build_info{namespace="$namespace"}, job)',
                "__JOB__",
            ),
        ]
    },
    "panels": _layout(_ROWS),
}


def _raw(text: str) -> str:
    """``text`` as a Go template raw string (printed as it is, braces included)."""
    if "`" in text:
        raise ValueError("a backquote cannot be in a Go template raw string")
    return "{{ `" + text + "` }}"


def template_text() -> str:
    """The content of ``charts/common/templates/_monitoring_data.tpl``."""
    lines = [
        "{{/* Generated by scripts/monitoring.py: the Grafana dashboard and the alerting rules",
        "by metric family, with __NAMESPACE__, __JOB__, __UID__ and __TITLE__ for the chart to",
        "replace (_monitoring.tpl). Do not edit: change the script and run it. */}}",
        "",
        '{{- define "springhead-common.dashboardJson" -}}',
        _raw(json.dumps(DASHBOARD, indent=2)),
        "{{- end -}}",
    ]
    for family, rules in RULES.items():
        text = yaml.safe_dump(rules, sort_keys=False, width=1_000_000).rstrip("\n")
        lines += ["", f'{{{{- define "springhead-common.rules.{family}" -}}}}', _raw(text)]
        lines.append("{{- end -}}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    text = template_text()
    if not TEMPLATE.exists() or TEMPLATE.read_text() != text:
        TEMPLATE.write_text(text)
        sys.stdout.write(f"wrote {TEMPLATE.relative_to(TEMPLATE.parents[3])}\n")
    else:
        sys.stdout.write("unchanged\n")
