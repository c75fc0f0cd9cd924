"""Springhead benchmarks: one command runs them all and rewrites bench/RESULTS.md.

    make bench        (or: uv run python bench/run.py [--quick] [--only LETTERS] [--output FILE])

Each scenario is compared with a baseline measured in the same run on the same machine:
(a) sender throughput vs raw aiohttp POSTs of the same bytes at the same concurrency;
(b) ping tick lateness (sink receipt minus scheduled tick) over at least 60 ticks;
(c) idle RSS of a running ping source vs a bare ``python -c 'import asyncio'`` process and vs its
    third-party dependencies imported alone;
(d) process start to /readyz ready vs the start of a bare Python interpreter;
(e) webhook sources end to end (client -> source -> sink acknowledged) vs the same client posting
    straight to the sink: throughput at increasing concurrency, added p99 latency at half the
    source's peak rate, RSS under load;
(f) receiver frameworks for the webhook sources (plain ASGI on uvicorn as the runtime serves,
    aiohttp.web, FastAPI on uvicorn): rate and server CPU per request;
(g) SinkBinding fan-out: binding creation to every selected Deployment patched (200 of 1,000),
    vs the same patches sent directly;
(h) controller RSS watching 1,000 Deployments vs a bare ``import kubernetes``;
(i) the ApiServer source on a real kube-apiserver: RSS watching 10,000 ConfigMaps vs a bare
    kubernetes-client watcher; write-to-sink latency at 100 changes/s and a 5,000-change burst vs
    a bare watch of the same writes;
(j) the Kafka source on a real Apache Kafka broker: delivered events/s for 1 and 4 partitions,
    ordered and unordered, vs the Sender alone posting the same events from memory to the same
    sink; RSS while draining a 1,000,000-record backlog;
(k) the Broker on a real Apache Kafka broker: ingress events/s vs a bare aiokafka producer with the
    same acks and vs the floor (a minimal HTTP -> Kafka forwarder); dispatcher events/s per
    trigger vs the Kafka source on the same topic and sink, with exact and CESQL filters;
    fan-out to 10 triggers; end-to-end p99 at half the path's peak; RSS of ingress and
    dispatcher under a 1,000,000-record backlog.

Each scenario is a module beside this file, which can also run on its own: bench_sender.py (a),
bench_ping.py (b, c), bench_startup.py (d), bench_webhook.py (e), bench_receivers.py (f),
bench_controller.py (g, h), bench_apiserver.py (i), bench_kafka.py (j), bench_broker.py (k);
harness.py holds what several of them use.

``--only e,j`` runs some scenarios and keeps the other sections of the results file;
``--output FILE`` writes elsewhere than bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bench_apiserver import apiserver_lines, bench_apiserver
from bench_broker import broker_section
from bench_controller import bench_controller, controller_lines
from bench_kafka import kafka_section
from bench_ping import bench_ping, ping_lines
from bench_receivers import bench_receivers, receiver_lines
from bench_sender import bench_sender, sender_lines
from bench_startup import bench_startup, startup_lines
from bench_webhook import (
    FLOOR,
    GITHUB_ENV,
    bare_forwarder,
    bench_webhook,
    github_request,
    http_request,
    webhook_lines,
    webhook_source,
)
from harness import cpu_times, log, machine, stolen_since

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "RESULTS.md"


class Steal:
    """Share of the machine's CPU time stolen by the hypervisor, per scenario measured."""

    def __init__(self) -> None:
        self.shares: dict[str, float] = {}

    @contextmanager
    def during(self, letters: str) -> Iterator[None]:
        start = cpu_times()
        yield
        share = stolen_since(start)
        for letter in letters:
            self.shares[letter] = share

    def annotate(self, measured: dict[str, list[str]]) -> None:
        """Add each measured section's steal as its last line: the figure stays with the
        section when a later ``--only`` run keeps it."""
        for letter, share in self.shares.items():
            lines = measured.get(letter)
            if lines:
                at = len(lines) - 1 if lines[-1] == "" else len(lines)
                lines[at:at] = [
                    "",
                    f"Host CPU steal while this was measured: {share:.1%} of the cores' time "
                    "(/proc/stat; time the hypervisor gave to other machines, falling on every "
                    "process alike).",
                ]


#: Every scenario, in the order of RESULTS.md. b and c are measured by one run, so are g and h.
SCENARIOS = "abcdefghijk"
_TOGETHER = {"b": "bc", "c": "bc", "g": "gh", "h": "gh"}


def scenario_letters(text: str) -> str:
    """``--only``'s value (``e,j`` or ``ej``) as the scenario letters in report order."""
    asked = {letter for letter in text.replace(",", "").replace(" ", "").lower()}
    unknown = sorted(asked - set(SCENARIOS))
    if not asked or unknown:
        raise argparse.ArgumentTypeError(
            f"scenarios are letters among {SCENARIOS!r}, e.g. e,j (got {text!r})"
        )
    asked |= {partner for letter in asked for partner in _TOGETHER.get(letter, letter)}
    return "".join(letter for letter in SCENARIOS if letter in asked)


def sections_of(text: str) -> dict[str, list[str]]:
    """A results file's ``## (x) ...`` sections (heading to the next level-2 heading) by letter."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("## "):
            current = None
            if line.startswith("## (") and ")" in line:
                current = sections.setdefault(line[4 : line.index(")")], [])
        if current is not None:
            current.append(line)
    return sections


def write_results(measured: dict[str, list[str]], args: str, output: Path) -> str:
    """Write ``output``: the sections measured now, and for the scenarios not run this time
    (``--only``) the sections the file already held. Returns the text."""
    previous = sections_of(output.read_text()) if output.exists() else {}
    sections = {**previous, **measured}
    kept = [letter for letter in sorted(sections) if letter not in measured]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` (`python bench/run.py{args}`) on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        f"Machine: {machine()}. Sink: bench/fast_sink.py in its own process over loopback "
        "(scenarios a, e, j, k), the springhead_testing RecordingSink (b, c, d).",
    ]
    if kept:
        lines.append(
            "Measured in this run: "
            + ", ".join(f"({letter})" for letter in sorted(measured))
            + "; kept from the file's previous run: "
            + ", ".join(f"({letter})" for letter in kept)
            + "."
        )
    lines.append("")
    for letter in sorted(sections):
        body = sections[letter]
        lines += body if body and body[-1] == "" else [*body, ""]
    text = "\n".join(lines)
    output.write_text(text)
    return text


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer events and ticks (a smoke run)")
    parser.add_argument(
        "--only",
        type=scenario_letters,
        default=SCENARIOS,
        metavar="LETTERS",
        help="run only these scenarios, e.g. --only e,j (b with c, g with h); the output's "
        "other sections are kept as they were",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=RESULTS,
        help=f"the results file to (re)write (default {RESULTS.relative_to(ROOT)})",
    )
    args = parser.parse_args()
    only: str = args.only
    total, rounds, ticks, runs = (2000, 1, 10, 3) if args.quick else (20000, 3, 61, 7)
    measured: dict[str, list[str]] = {}
    steal = Steal()
    if "a" in only:
        with steal.during("a"):
            log("(a) sender throughput")
            measured["a"] = sender_lines(await bench_sender(total, rounds))
    if "d" in only:
        with steal.during("d"):
            log("(d) start to ready")
            measured["d"] = startup_lines(await bench_startup(runs))
    if "b" in only:
        with steal.during("bc"):
            log("(b, c) ping lateness and RSS")
            measured.update(sections_of("\n".join(ping_lines(await bench_ping(ticks)))))
    if "e" in only:
        with steal.during("e"):
            log("(e) webhook sources")
            webhooks = [
                await bench_webhook(
                    "http", webhook_source("springhead_http", {}), http_request, total
                ),
                await bench_webhook(
                    "github", webhook_source("springhead_github", GITHUB_ENV), github_request, total
                ),
                await bench_webhook(FLOOR, bare_forwarder, http_request, total),
            ]
            measured["e"] = webhook_lines(webhooks)
    if "f" in only:
        with steal.during("f"):
            log("(f) receiver frameworks")
            measured["f"] = receiver_lines(await bench_receivers(total))
    if "g" in only:
        with steal.during("gh"):
            log("(g, h) controller")
            controller = await bench_controller(*((50, 200) if args.quick else (200, 1000)))
            measured.update(sections_of("\n".join(controller_lines(controller))))
    if "i" in only:
        with steal.during("i"):
            log("(i) apiserver source (real kube-apiserver)")
            try:
                apiserver = await bench_apiserver(
                    objects=1000 if args.quick else 10_000, quick=args.quick
                )
                measured["i"] = apiserver_lines(apiserver)
            except Exception as exc:  # noqa: BLE001 - report the failure in the table, keep the rest
                measured["i"] = ["## (i) ApiServer source", "", f"Did not complete: {exc!r}", ""]
    if "j" in only:
        with steal.during("j"):
            log("(j) Kafka source (real Apache Kafka broker)")
            measured["j"] = await kafka_section(quick=args.quick)
    if "k" in only:
        with steal.during("k"):
            log("(k) Broker (real Apache Kafka broker)")
            measured["k"] = await broker_section(quick=args.quick)
    steal.annotate(measured)
    flags = " --quick" if args.quick else ""
    if only != SCENARIOS:
        flags += f" --only {','.join(only)}"
    sys.stdout.write(write_results(measured, flags, args.output))


if __name__ == "__main__":
    asyncio.run(main())
