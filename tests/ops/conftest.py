"""Operations fixtures: the app served on loopback, a long-running rq worker, a Slack receiver, loopback servers."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from rq import Worker
from werkzeug.serving import make_server

from tests.fakes.slack import SlackReceiver

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.05):  # noqa: ANN001, ANN201
    """Polls until predicate() is truthy; a deadline for a broken test, not an assertion on time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting after {timeout} s for {predicate}")


@pytest.fixture(scope="session")
def app_server(app) -> str:
    """The test app answering HTTP on loopback, as PUBLIC_URL would in production."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def public_url(app, app_server, monkeypatch) -> str:
    monkeypatch.setitem(app.config, "PUBLIC_URL", app_server)
    monkeypatch.setenv("PUBLIC_URL", app_server)
    return app_server


@pytest.fixture
def rq_worker(app, redis):
    """A real `rq worker` process on the default queue (heartbeats, runs what is enqueued), stopped afterwards."""
    env = dict(os.environ)
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "rq"), "worker", "--url", app.config["REDIS_URL"], "default"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: Worker.all(connection=redis) or process.poll() is not None)
        assert process.poll() is None, process.stderr.read()
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def scheduler_ticked(redis):
    """What a running `python -m workers.scheduler` leaves in Redis: its last pass's time."""
    from workers.scheduler import SCHEDULER_TICK_KEY

    redis.set(SCHEDULER_TICK_KEY, time.time())


@pytest.fixture
def slack(app, monkeypatch):
    with SlackReceiver() as receiver:
        monkeypatch.setitem(app.config, "SLACK_WEBHOOK_URL", receiver.url)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", receiver.url)
        yield receiver


class TcpServer:
    """A loopback TCP server that greets each connection with `banner` (b"" for none) and closes."""

    def __init__(self, banner: bytes = b"") -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.banner = banner
        self.port = self.sock.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                if self.banner:
                    conn.sendall(self.banner)
                    conn.settimeout(1)
                    with contextlib.suppress(OSError):
                        conn.recv(64)  # the client's QUIT

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tcp_server():
    servers: list[TcpServer] = []

    def start(banner: bytes = b"") -> TcpServer:
        servers.append(TcpServer(banner))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


@pytest.fixture(autouse=True)
def _isolated_ops_config(request, monkeypatch, tmp_path):
    """Without the `public_url` fixture, PUBLIC_URL points at a closed port (never at whatever runs on :5000);
    backups go to this test's own folder, not instance/backups."""
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    closed = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setitem(app.config, "PUBLIC_URL", closed)
    monkeypatch.setenv("PUBLIC_URL", closed)
    backups = str(tmp_path / "default-backups")
    monkeypatch.setitem(app.config, "BACKUP_DIR", backups)
    monkeypatch.setenv("BACKUP_DIR", backups)
