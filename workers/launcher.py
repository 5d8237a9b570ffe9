"""`make run`: migrate, seed on first run, then web + worker + scheduler (+ embedded Redis) until Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from app.config import INSTANCE_DIR, embedded_redis_url
from app.embedded_redis import EmbeddedRedis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def _run(args: list[str], env: dict[str, str]) -> None:
    subprocess.run(args, cwd=ROOT, env=env, check=True)


def main() -> int:
    env = dict(os.environ)
    redis = None
    if not env.get("REDIS_URL"):
        redis = EmbeddedRedis(INSTANCE_DIR / "redis")
        env["REDIS_URL"] = redis.start()
        assert env["REDIS_URL"] == embedded_redis_url()
    port = env.get("PORT", "5000")
    flask = os.path.join(BIN, "flask")
    children: list[subprocess.Popen] = []
    try:
        _run([flask, "db", "upgrade"], env)
        _run(
            [
                flask,
                "seed-demo",
                "--if-empty",
                "--customers",
                env.get("DEMO_CUSTOMERS", "2000"),
                "--months",
                "36",
                "--seed",
                "1",
            ],
            env,
        )
        children = [
            subprocess.Popen([flask, "run", "--host", "127.0.0.1", "--port", port, "--no-reload"], cwd=ROOT, env=env),
            subprocess.Popen(
                [os.path.join(BIN, "rq"), "worker", "--url", env["REDIS_URL"], "default"], cwd=ROOT, env=env
            ),
            subprocess.Popen([sys.executable, "-m", "workers.scheduler"], cwd=ROOT, env=env),
        ]
        from app.demo.seed import DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD

        print(
            f"\n  Advancia Mini is running on http://127.0.0.1:{port}\n"
            f"  Operator login: {DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}\n"
            f"  Database: {env.get('DATABASE_URL') or 'SQLite in instance/'}; Redis: {env['REDIS_URL']}\n"
            f"  Ctrl-C stops everything.\n",
            flush=True,
        )
        _wait(children)
    except KeyboardInterrupt:
        pass
    except subprocess.CalledProcessError as exc:
        print(f"launcher: {' '.join(exc.cmd)} failed with {exc.returncode}", file=sys.stderr)
        return 1
    finally:
        _stop(children)
        if redis:
            redis.stop()
    return 0


def _wait(children: list[subprocess.Popen]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    while True:
        for child in children:
            if child.poll() is not None:
                print(f"launcher: {child.args[0]} exited with {child.returncode}; stopping the rest", file=sys.stderr)
                return
        time.sleep(0.5)


def _stop(children: list[subprocess.Popen]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
    print("launcher: all stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
