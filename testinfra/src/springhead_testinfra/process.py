"""Processes, progress, ports and polling shared by every component.

Nothing here sleeps to synchronise: :func:`wait_until` polls a real condition against a deadline
and gives up early, with the log tail, when the process it waits for has died.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

#: Seconds between two progress lines of a long step (a build, a download).
HEARTBEAT_S = 30.0


class ComponentError(RuntimeError):
    """A component could not be obtained, built or started.

    The message says what failed and ends with the tail of the relevant log, so a test fixture can
    hand it to ``pytest.fail`` as it is.
    """


# --- progress ---------------------------------------------------------------------------------

_progress_sink: Callable[[str], None] | None = None
_progress_lock = threading.Lock()


def progress(message: str) -> None:
    """Print one progress line (to stderr, or to the sink installed by :func:`progress_to`)."""
    line = f"[springhead-testinfra] {message}"
    with _progress_lock:
        if _progress_sink is not None:
            _progress_sink(line)
        else:
            print(line, file=sys.stderr, flush=True)


@contextlib.contextmanager
def progress_to(sink: Callable[[str], None]) -> Iterator[None]:
    """Send progress lines to ``sink`` inside the block (the pytest plugin uses the terminal)."""
    global _progress_sink
    previous = _progress_sink
    _progress_sink = sink
    try:
        yield
    finally:
        _progress_sink = previous


@contextlib.contextmanager
def heartbeat(what: str, status: Callable[[], str] | None = None) -> Iterator[None]:
    """Print ``what``, the time elapsed and ``status()`` every few seconds during the block."""
    started = time.monotonic()
    done = threading.Event()

    def beat() -> None:
        while not done.wait(HEARTBEAT_S):
            extra = ""
            if status is not None:
                try:
                    extra = f", {status()}"
                except Exception as exc:  # noqa: BLE001 - a status line must never break a build
                    extra = f", status unavailable: {exc}"
            progress(f"{what}: {time.monotonic() - started:.0f}s elapsed{extra}")

    thread = threading.Thread(target=beat, name=f"heartbeat {what}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


# --- small helpers ----------------------------------------------------------------------------


def require_tool(name: str, hint: str) -> str:
    """Return the path of executable ``name`` or raise :class:`ComponentError` with ``hint``."""
    found = shutil.which(name)
    if found is None:
        raise ComponentError(f"`{name}` is not on PATH; {hint}")
    return found


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on 127.0.0.1 right now."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def tail(path: Path, lines: int = 60) -> str:
    """Return the last ``lines`` lines of a text file (empty when it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 256 * 1024))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def with_tail(message: str, log: Path, lines: int = 60) -> str:
    """Append the tail of ``log`` to ``message`` (for errors that must explain themselves)."""
    return f"{message}\n--- last {lines} lines of {log} ---\n{tail(log, lines)}"


def wait_until(
    condition: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.2,
    process: ManagedProcess | None = None,
) -> T:
    """Poll ``condition`` until it returns a truthy value, and return that value.

    Raises :class:`ComponentError` when ``timeout`` seconds pass or when ``process`` exits first;
    the error carries the process's log tail. Exceptions from ``condition`` count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    pause = threading.Event()
    while True:
        if process is not None and not process.running:
            raise ComponentError(
                with_tail(
                    f"{process.name} exited (code {process.returncode}) while waiting for {what}",
                    process.log_path,
                )
            )
        try:
            result = condition()
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = exc
        else:
            if result:
                return result
        if time.monotonic() >= deadline:
            message = f"timed out after {timeout:.0f}s waiting for {what}"
            if last_error is not None:
                message += f" (last error: {last_error!r})"
            if process is not None:
                message = with_tail(message, process.log_path)
            raise ComponentError(message)
        pause.wait(interval)


def run_step(
    argv: Sequence[str | os.PathLike[str]],
    *,
    what: str,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    status: Callable[[], str] | None = None,
    timeout: float = 3600.0,
) -> None:
    """Run a command to completion, appending its output to ``log_path``.

    A heartbeat prints progress while it runs; a non-zero exit raises :class:`ComponentError`
    with the log tail.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log, heartbeat(what, status):
        log.write(f"\n$ {' '.join(map(str, argv))}\n".encode())
        log.flush()
        try:
            completed = subprocess.run(
                [str(arg) for arg in argv],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ComponentError(
                with_tail(f"{what}: timed out after {timeout:.0f}s", log_path)
            ) from exc
    if completed.returncode != 0:
        raise ComponentError(
            with_tail(f"{what}: command failed with exit code {completed.returncode}", log_path)
        )


# --- long-running processes -------------------------------------------------------------------

_LIVE: set[ManagedProcess] = set()
_LIVE_LOCK = threading.Lock()


class ManagedProcess:
    """One long-running child process whose output goes to a log file.

    The child runs in its own session (so stopping it stops its children too) and, when started
    from the main thread, is killed by the kernel if this Python process dies without cleaning up.
    Every process still running at interpreter exit is stopped.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str | os.PathLike[str]],
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = [str(arg) for arg in argv]
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._popen: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.running else "stopped"
        return f"<ManagedProcess {self.name} {state}>"

    @property
    def pid(self) -> int | None:
        """The process id while it runs."""
        return self._popen.pid if self._popen is not None else None

    @property
    def running(self) -> bool:
        """Whether the process has been started and has not exited."""
        return self._popen is not None and self._popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited."""
        return self._popen.poll() if self._popen is not None else None

    def start(self) -> None:
        """Start the process (a no-op while it runs)."""
        if self.running:
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._close_log()
        self._log = open(self.log_path, "ab")  # closed by stop() / kill()
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"\n=== {stamp} starting {self.name}: {' '.join(self.argv)}\n".encode())
        self._log.flush()
        argv = self.argv
        setpriv = shutil.which("setpriv")
        if setpriv is not None and threading.current_thread() is threading.main_thread():
            # The kernel kills the child when this (main) thread's process dies.
            argv = [setpriv, "--pdeathsig", "KILL", "--", *argv]
        self._popen = subprocess.Popen(
            argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
        )
        with _LIVE_LOCK:
            _LIVE.add(self)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the process: SIGTERM to its group, then SIGKILL after ``timeout`` seconds."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                popen.wait(10)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._close_log()

    def kill(self) -> None:
        """Kill the process at once (SIGKILL), as a crash would."""
        popen = self._popen
        if popen is not None and popen.poll() is None:
            self._signal(signal.SIGKILL)
            popen.wait(10)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        self._close_log()

    def log_tail(self, lines: int = 60) -> str:
        """Return the last ``lines`` lines of the process's log."""
        return tail(self.log_path, lines)

    def _signal(self, signum: signal.Signals) -> None:
        if self._popen is None:
            return
        try:
            os.killpg(self._popen.pid, signum)
        except ProcessLookupError:
            pass
        except PermissionError:
            self._popen.send_signal(signum)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
    for process in leftovers:
        with contextlib.suppress(Exception):
            process.stop(timeout=10)
