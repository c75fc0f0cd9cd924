"""What more than one benchmark scenario uses: the payload, the fast sink as a child process,
concurrent drivers, /proc readings (RSS, CPU time, steal), the machine's description, verdicts."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
PAYLOAD = b'{"message": "Hello from Springhead", "n": 12345, "tags": ["a", "b", "c"]}'


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


class FastSink:
    """bench/fast_sink.py as a child process; ``options`` are its flags (``--record-arrivals``)."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> FastSink:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "fast_sink.py"), *self.options],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        port = int(self.process.stdout.readline())
        self.url = f"http://127.0.0.1:{port}/"
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait()


async def run_concurrently(
    total: int, concurrency: int, one: Callable[[], Awaitable[None]]
) -> float:
    """Events per second doing ``one()`` ``total`` times with ``concurrency`` workers."""
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """Process ``pid``'s resident memory in MiB (``field="VmHWM"``: its peak so far)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


#: Says ready, then idles on asyncio's loop (no thread) until its stdin closes; argv[1:] are
#: modules to import first.
_IMPORT_AND_IDLE = """
import asyncio, importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
async def idle():
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: closed.done() or closed.set_result(None))
    sys.stdout.write("ready\\n")
    sys.stdout.flush()
    await closed
asyncio.run(idle())
"""


def idle_rss(*modules: str) -> float:
    """RSS of an idle Python process on asyncio's loop that imported ``modules``."""
    process = subprocess.Popen(
        [sys.executable, "-c", _IMPORT_AND_IDLE, *modules],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    if process.stdout.readline() != "ready\n":
        raise RuntimeError(f"importing {len(modules)} modules failed")
    rss = rss_mib(process.pid)
    process.stdin.close()
    process.wait()
    return rss


def bare_python_rss() -> float:
    return idle_rss()


#: The ping image does not install uvloop, so it runs on asyncio's loop; the workspace has uvloop
#: (for the webhook and Kafka sources) and SPRINGHEAD_EVENT_LOOP=auto would pick it.
PING_AS_SHIPPED = {"SPRINGHEAD_EVENT_LOOP": "asyncio"}


def machine() -> str:
    cpu = "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        mem = f", {kib / 1024 / 1024:.0f} GiB RAM"
    return (
        f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def cpu_times() -> tuple[int, int]:
    """The machine's (stolen, total) CPU time in clock ticks since boot, from /proc/stat: steal is
    time the hypervisor ran something else while this machine's CPUs wanted to run."""
    stat = Path("/proc/stat")
    if not stat.exists():
        return 0, 0
    fields = [int(value) for value in stat.read_text().split("\n", 1)[0].split()[1:]]
    # user nice system idle iowait irq softirq steal (guest time is already in user)
    return (fields[7] if len(fields) > 7 else 0), sum(fields[:8])


def stolen_since(start: tuple[int, int]) -> float:
    """Share of the cores' time the hypervisor took since ``start`` (a :func:`cpu_times`)."""
    stolen, total = cpu_times()
    return (stolen - start[0]) / max(1, total - start[1])


def verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def knative_binary(package: str, version: str, name: str) -> Path:
    """A Knative command (``package``, e.g. ``knative.dev/eventing/cmd/mtping``) at ``version``,
    built once from the Go module proxy into the test-stack cache; its code is never in the repo."""
    from springhead_testinfra.cache import cache_root
    from springhead_testinfra.gobuild import check_go, go_env

    home = cache_root() / f"knative-{name.replace('_', '-')}-{version}"
    binary = home / name
    if binary.is_file():
        return binary
    home.mkdir(parents=True, exist_ok=True)
    env, go = go_env(), check_go()
    log(f"building {package}@{version} from the Go module proxy (minutes, once)")
    steps = [
        *([] if (home / "go.mod").exists() else [["mod", "init", f"bench.invalid/{name}"]]),
        # The module is named explicitly: the proxy's version list is not always reachable.
        ["get", f"knative.dev/eventing@{version}"],
        ["get", "-tool", f"{package}@{version}"],
        ["build", "-trimpath", "-ldflags", "-s -w", "-o", str(binary), package],
    ]
    for step in steps:
        subprocess.run([go, *step], cwd=home, env=env, check=True)
    return binary
