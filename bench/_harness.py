"""What every benchmark shares: a throwaway stack (database, Redis, gunicorn), RSS sampling and results files.

Not a benchmark itself: `run_all.py` skips modules whose name starts with an underscore.
"""

from __future__ import annotations

import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
import psycopg
import requests
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS_DIR = ROOT / "bench" / "results"
DEFAULT_POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432"
MIB = 1024 * 1024

# Run as `python bench/<name>.py`, only bench/ is on the path; the app's own modules live at the root.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class BenchError(RuntimeError):
    """The benchmark could not measure what it claims to (a failed command, an unexpected answer)."""


@dataclass(frozen=True)
class Stack:
    #: environment for the app's processes (flask CLI, gunicorn)
    env: dict[str, str]
    #: private scratch directory, removed at the end
    workdir: Path


@contextmanager
def throwaway_stack(database: str, postgres_server: str = DEFAULT_POSTGRES_SERVER) -> Iterator[Stack]:
    """A fresh database and Redis with the environment that points the app at them; all removed afterwards."""
    # Under /tmp rather than $TMPDIR: the embedded Redis listens on a Unix socket, whose path must stay short.
    workdir = Path(tempfile.mkdtemp(prefix="advbench-", dir="/tmp"))
    try:
        with throwaway_database(database, workdir, postgres_server) as database_url, redis_server(workdir) as redis_url:
            env = {
                **os.environ,
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "ADVANCIA_INSTANCE_DIR": str(workdir / "instance"),
                "SECRET_KEY": secrets.token_hex(32),
                # Production marks cookies Secure, which a plain-HTTP loopback client never sends back.
                "ADVANCIA_ENV": "development",
                "FLASK_APP": "wsgi:app",
            }
            yield Stack(env=env, workdir=workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def throwaway_database(kind: str, workdir: Path, postgres_server: str) -> Iterator[str]:
    """An empty database of our own: an SQLite file in workdir, or a PostgreSQL database dropped at the end."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.sqlite3'}"
        return
    if kind != "postgres":
        raise BenchError(f"unknown database kind {kind!r}")
    name = f"advancia_bench_{os.getpid()}"
    admin_url = f"{postgres_server}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield f"{postgres_server}/{name}"
    finally:
        # FORCE: a gunicorn worker killed mid-run may leave a connection behind.
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """REDIS_URL when set, else the app's embedded Redis on a socket in workdir, stopped at the end."""
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    from app.embedded_redis import EmbeddedRedis

    redis = EmbeddedRedis(workdir / "redis")
    try:
        yield redis.start()
    finally:
        redis.stop()


def stop_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so the `finally` blocks still stop servers and drop the database."""
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run_flask(stack: Stack, *args: str) -> tuple[float, str]:
    """Run one `flask` command of the app; return its wall time in seconds and its output."""
    started = time.perf_counter()
    done = subprocess.run([str(BIN / "flask"), *args], cwd=ROOT, env=stack.env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise BenchError(f"flask {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return elapsed, done.stdout


@dataclass(frozen=True)
class AccessEntry:
    method: str
    path: str
    status: int
    #: gunicorn's request time: from the parsed request to the response sent, in microseconds
    server_us: int


# method, path, status, request time in µs; the request line is never logged whole (it may carry a ?next=).
ACCESS_LOG_FORMAT = "%(m)s %(U)s %(s)s %(D)s"


class GunicornServer:
    """`gunicorn wsgi:app` on a free loopback port, logging each request's server time to a file."""

    def __init__(self, stack: Stack, workers: int = 1) -> None:
        self.stack = stack
        self.workers = workers
        self.port = free_port()
        self.access_log = stack.workdir / "access.log"
        self.error_log = stack.workdir / "gunicorn.log"
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> None:
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(self.workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--access-logfile",
                str(self.access_log),
                "--access-logformat",
                ACCESS_LOG_FORMAT,
                "--error-logfile",
                str(self.error_log),
                "wsgi:app",
            ],
            cwd=ROOT,
            env=self.stack.env,
            stdin=subprocess.DEVNULL,
        )
        self._wait_until_answering(timeout)

    def _wait_until_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited with {self.process.returncode}:\n{self._error_log_tail()}")
            try:
                if requests.get(f"{self.base_url}/login", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or the worker's first request (app import, warm-up) is still running
            time.sleep(0.1)
        raise BenchError(f"gunicorn did not answer within {timeout:.0f} s:\n{self._error_log_tail()}")

    def _error_log_tail(self) -> str:
        return self.error_log.read_text()[-3000:] if self.error_log.exists() else "(no error log)"

    def worker_pids(self) -> list[int]:
        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def access_log_position(self) -> int:
        return self.access_log.stat().st_size

    def settled_access_log_position(self) -> int:
        """Where the next request's entry will start, once the entries of earlier requests are all written."""
        self.wait_until_idle()
        return self.access_log_position()

    def access_entries(self, since: int, expected: int, timeout: float = 5.0) -> list[AccessEntry]:
        """Entries written after `since`; gunicorn logs a request just after answering it, so wait for them."""
        deadline = time.monotonic() + timeout
        while True:
            with self.access_log.open("rb") as log:
                log.seek(since)
                lines = log.read().decode().splitlines()
            if len(lines) >= expected or time.monotonic() > deadline:
                return [_parse_access_line(line) for line in lines]
            time.sleep(0.05)

    def wait_until_idle(self, quiet: float = 0.3, timeout: float = 30.0) -> None:
        """Until the access log stops growing: a load tool may leave requests in flight when it exits."""
        deadline = time.monotonic() + timeout
        size, since = self.access_log_position(), time.monotonic()
        while time.monotonic() - since < quiet:
            if time.monotonic() > deadline:
                raise BenchError("the server was still answering requests long after the load stopped")
            time.sleep(0.05)
            if self.access_log_position() != size:
                size, since = self.access_log_position(), time.monotonic()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        workers = self.worker_pids()
        self.process.send_signal(signal.SIGTERM)  # graceful: the worker finishes its request and exits
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pid in workers:  # a killed master cannot reap its workers
            if psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)


def _parse_access_line(line: str) -> AccessEntry:
    method, path, status, server_us = line.split(" ")
    return AccessEntry(method=method, path=path, status=int(status), server_us=int(server_us))


@contextmanager
def running_gunicorn(stack: Stack, workers: int = 1) -> Iterator[GunicornServer]:
    server = GunicornServer(stack, workers)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def free_port() -> int:
    # The port is free when we look; nothing else on a benchmark machine races for it in the next second.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PeakRss:
    """Samples one process's resident set size on a thread while a phase runs; the peak is what to provision."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._take_sample()  # the phase's last moment counts too

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._take_sample()
            self._stop.wait(self.interval)

    def _take_sample(self) -> None:
        try:
            self.peak_bytes = max(self.peak_bytes, self.process.memory_info().rss)
            self.samples += 1
        except psutil.NoSuchProcess:
            pass  # the caller checks the worker survived; a sampler thread cannot raise usefully

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / MIB


def rss_mib(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / MIB


def run_metadata() -> dict[str, Any]:
    """Where and on what the figures were measured, so a results file can be compared later."""
    return {
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain")),
        "cpus": os.cpu_count(),
        # Other work on the machine skews every figure, ratios included; this says whether there was any.
        "load_average_1m_before": round(os.getloadavg()[0], 2),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def busy_machine_warning(run: dict[str, Any]) -> str | None:
    """A warning to print when the machine was already busy as the benchmark started."""
    load, cpus = run["load_average_1m_before"], run["cpus"] or 1
    if load <= cpus / 2:
        return None
    return f"warning: load average was {load} on {cpus} CPUs before the run; other work skews these figures"


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def write_results(benchmark: str, results: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = re.sub(r"[-:]", "", results["run"]["measured_at"]).replace("+0000", "Z")
    path = RESULTS_DIR / f"{benchmark}-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path
