"""/api/health latency, and the status page's server time, through gunicorn on loopback.

    .venv/bin/python bench/health.py [--database sqlite|postgres] [--requests 500] [--workers 2]

Builds a throwaway database (SQLite file, or a scratch PostgreSQL database on DATABASE_URL's server that is
dropped afterwards), applies the migrations, seeds 90 days of demo ops history, starts Redis (REDIS_URL's server
on a free DB number is not used: an embedded redis-server of its own) and gunicorn, then measures, each request
on a new connection as a monitor would make it:

  * GET /api/health, sequentially, then with 8 client threads (throughput);
  * GET /status and /status.json with the default in-process cache (OPS_STATUS_CACHE_SECONDS=5);
  * the same with the cache off (every request builds the status from the database: the server's real work).

Latencies are measured by the client over loopback (server time plus well under a millisecond).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def get(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, (time.perf_counter() - started) * 1000


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {
        "n": len(ordered),
        "p50": pick(0.50),
        "p95": pick(0.95),
        "p99": pick(0.99),
        "max": round(ordered[-1], 2),
        "mean": round(statistics.fmean(ordered), 2),
    }


def measure(port: int, path: str, count: int, expect: int = 200) -> dict[str, float]:
    for _ in range(20):  # warm-up: imports, pools, caches
        get(port, path)
    samples = []
    for _ in range(count):
        status, ms = get(port, path)
        if status != expect:
            raise SystemExit(f"{path} answered {status}, expected {expect}")
        samples.append(ms)
    return percentiles(samples)


def throughput(port: int, path: str, count: int, threads: int) -> dict[str, float]:
    samples: list[float] = []
    lock = threading.Lock()
    per_thread = count // threads

    def run() -> None:
        for _ in range(per_thread):
            status, ms = get(port, path)
            if status != 200:
                raise SystemExit(f"{path} answered {status}")
            with lock:
                samples.append(ms)

    started = time.perf_counter()
    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    return {**percentiles(samples), "threads": threads, "requests_per_s": round(len(samples) / elapsed, 1)}


class Gunicorn:
    def __init__(self, env: dict, workers: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(BIN / "gunicorn"),
                "--workers",
                str(workers),
                "--bind",
                f"127.0.0.1:{self.port}",
                "--log-level",
                "warning",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if get(self.port, "/api/health")[0] in (200, 503):
                    return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("gunicorn did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def prepare_database(kind: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    import sqlalchemy as sa

    from app.config import normalise_database_url

    server = normalise_database_url(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"))
    name = f"advancia_bench_{secrets.token_hex(4)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return sa.engine.make_url(server).set(database=name).render_as_string(hide_password=False), drop


SEED = """
import random
from app import create_app
from app.db_types import utcnow
from app.demo.ops_history import seed_ops_history
from app.extensions import db
from app.ops.incidents import open_incident
app = create_app()
with app.app_context():
    print(seed_ops_history(random.Random(1), utcnow()))
    open_incident("Bitcoin payments confirm late", "minor", ["payments_btc"], "Catching up.", actor="bench")
    db.session.commit()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    args = parser.parse_args()

    from app.embedded_redis import EmbeddedRedis

    workdir = Path(tempfile.mkdtemp(prefix="adv-bench-"))
    redis = EmbeddedRedis(Path("/tmp") / f"adv-bench-redis-{secrets.token_hex(3)}")
    database_url, drop_database = prepare_database(args.database, workdir)
    results: dict = {"database": args.database, "gunicorn_workers": args.workers, "cpus": os.cpu_count()}
    try:
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis.start(),
            ADVANCIA_INSTANCE_DIR=str(workdir / "instance"),
            SECRET_KEY="bench-secret",
            ADVANCIA_ENV="bench",
        )
        subprocess.run([str(BIN / "flask"), "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
        subprocess.run([sys.executable, "-c", SEED], cwd=ROOT, env=env, check=True, capture_output=True)

        server = Gunicorn(env, args.workers)
        try:
            results["health_sequential"] = measure(server.port, "/api/health", args.requests)
            results["health_8_threads"] = throughput(server.port, "/api/health", args.requests, 8)
            results["status_html_cached"] = measure(server.port, "/status", args.requests)
            results["status_json_cached"] = measure(server.port, "/status.json", args.requests)
        finally:
            server.stop()
        server = Gunicorn({**env, "OPS_STATUS_CACHE_SECONDS": "0"}, args.workers)
        try:
            results["status_html_uncached"] = measure(server.port, "/status", max(100, args.requests // 5))
            results["status_json_uncached"] = measure(server.port, "/status.json", max(100, args.requests // 5))
            results["status_html_bytes"] = len(_body(server.port, "/status"))
        finally:
            server.stop()
    finally:
        redis.stop()
        shutil.rmtree(redis.data_dir, ignore_errors=True)
        drop_database()
        shutil.rmtree(workdir, ignore_errors=True)

    print(json.dumps(results, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"health-{args.database}-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(json.dumps(results, indent=2))


def _body(port: int, path: str) -> bytes:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    data = conn.getresponse().read()
    conn.close()
    return data


if __name__ == "__main__":
    main()
