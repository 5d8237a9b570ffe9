"""`make bench`: every benchmark in bench/, one after another, each in its own process with its defaults.

A benchmark is any `bench/*.py` but this file and modules starting with an underscore (shared code).
Exits non-zero when any of them failed, after running the rest.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def benchmark_scripts() -> list[Path]:
    return sorted(
        path for path in BENCH_DIR.glob("*.py") if path.name != Path(__file__).name and not path.name.startswith("_")
    )


def run(script: Path) -> bool:
    print(f"=== {script.name}", flush=True)
    started = time.monotonic()
    # One process per benchmark: each starts and removes its own stack, so none inherits another's state.
    returncode = subprocess.run([sys.executable, str(script)], cwd=BENCH_DIR.parent).returncode
    print(f"=== {script.name}: {'ok' if returncode == 0 else f'FAILED ({returncode})'}", end="")
    print(f" in {time.monotonic() - started:.0f} s\n", flush=True)
    return returncode == 0


def main() -> int:
    scripts = benchmark_scripts()
    failed = [script.name for script in scripts if not run(script)]
    print(f"{len(scripts) - len(failed)} of {len(scripts)} benchmarks ran" + (f"; failed: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
