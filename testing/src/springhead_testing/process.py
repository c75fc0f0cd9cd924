"""Run a source as a real child process with a given environment, for tests and benchmarks."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["SourceProcess", "adapter_env"]


def adapter_env(sink_url: str, **settings: str) -> dict[str, str]:
    """The adapter-contract environment for a source sending to ``sink_url``.

    Keyword arguments add or replace variables (``PING_SCHEDULE="* * * * * *"``).
    ``K_CE_OVERRIDES`` is present and empty, as Knative always injects it.
    """
    env = {
        "K_SINK": sink_url,
        "K_CE_OVERRIDES": "",
        "NAMESPACE": "testns",
        "NAME": "test",
        "K_COMPONENT": "test-source",
        "SPRINGHEAD_PORT": "0",
        "SPRINGHEAD_HOST": "127.0.0.1",
    }
    env.update(settings)
    return env


#: Variables a source process takes from the test's environment unless told otherwise.
INHERITED = ("PATH", "HOME", "LANG", "TZ")


class SourceProcess:
    """A source started as ``python -m <module>`` with exactly ``env`` (plus PATH and HOME).

    ``command`` replaces ``python -m <module> <args>`` with another argv (an image's entry
    point, say; ``module`` then only names it in messages), ``cwd`` sets its working directory and
    ``inherit`` which variables come from the test's environment before ``env`` is applied.
    ``stdout`` is where its standard output goes (default: nowhere; ``None``: this process's own,
    for a program whose output is for a person, such as the event display's terminal view).

    :meth:`start` returns once the host logged "source started" or "process started" (ready),
    with the health port in :attr:`port`. Every JSON log line lands in :attr:`logs`; other
    stderr lines in :attr:`stderr_lines`.
    """

    def __init__(
        self,
        module: str,
        env: Mapping[str, str],
        *,
        python: str = sys.executable,
        args: Sequence[str] = (),
        command: Sequence[str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        inherit: Sequence[str] = INHERITED,
        stdout: int | None = asyncio.subprocess.DEVNULL,
    ) -> None:
        self.module = module
        self.env = dict(env)
        self.python = python
        self.args = list(args)
        self.command = list(command) if command is not None else [python, "-m", module, *args]
        self.cwd = cwd
        self.inherit = tuple(inherit)
        self.stdout = stdout
        self.process: asyncio.subprocess.Process | None = None
        self.port: int | None = None
        self.logs: list[dict[str, Any]] = []
        self.stderr_lines: list[str] = []
        self._started = asyncio.Event()
        self._logged = asyncio.Condition()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, *, timeout: float = 30.0) -> SourceProcess:
        """Start the process and wait until it reports that it started."""
        env = {k: v for k, v in os.environ.items() if k in self.inherit}
        env.update(self.env)
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            env=env,
            cwd=self.cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self.stdout,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read_stderr())
        waiter = asyncio.create_task(self._started.wait())
        exited = asyncio.create_task(self.process.wait())
        done, _ = await asyncio.wait(
            {waiter, exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        waiter.cancel()
        if waiter not in done:
            if exited in done:
                await self._reader
                raise RuntimeError(
                    f"{self.module} exited with {self.process.returncode} before starting:\n"
                    + self.stderr_text()
                )
            exited.cancel()
            raise RuntimeError(
                f"{self.module} did not start within {timeout}s:\n" + self.stderr_text()
            )
        exited.cancel()
        return self

    async def _read_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None  # noqa: S101
        async for raw in self.process.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.stderr_lines.append(line)
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                self.logs.append(entry)
                async with self._logged:
                    self._logged.notify_all()
                if entry.get("msg") in ("source started", "process started"):
                    self.port = entry.get("port")
                    self._started.set()

    async def wait_for_log(self, message: str, *, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for a JSON log line whose ``msg`` is ``message``; return it."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.logs if e.get("msg") == message), None)

        async with self._logged:
            try:
                async with asyncio.timeout(timeout):
                    await self._logged.wait_for(lambda: found() is not None)
            except TimeoutError:
                raise AssertionError(
                    f"no log line {message!r} within {timeout}s:\n{self.stderr_text()}"
                ) from None
        entry = found()
        assert entry is not None  # noqa: S101
        return entry

    def stderr_text(self) -> str:
        """Everything the process wrote to stderr so far."""
        return "\n".join(self.stderr_lines)

    def signal(self, signum: int = signal.SIGTERM) -> None:
        """Send ``signum`` to the process."""
        assert self.process is not None  # noqa: S101
        self.process.send_signal(signum)

    async def wait(self, *, timeout: float = 60.0) -> int:
        """Wait for the process to exit; return its status."""
        assert self.process is not None  # noqa: S101
        async with asyncio.timeout(timeout):
            status = await self.process.wait()
        if self._reader is not None:
            await self._reader
        return status

    async def stop(self, *, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for exit (killing it if it does not exit in time)."""
        if self.process is None:
            return 0
        if self.process.returncode is not None:
            return self.process.returncode
        self.signal(signal.SIGTERM)
        try:
            return await self.wait(timeout=timeout)
        except TimeoutError:
            self.process.kill()
            return await self.wait(timeout=timeout)

    async def __aenter__(self) -> SourceProcess:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
