"""Job functions for tests, importable by a real rq worker process (it runs from the repository root)."""

from __future__ import annotations

from pathlib import Path


def fails_the_first_time(marker: str) -> str:
    """Fails while `marker` does not exist (creating it), then succeeds: a retry from the screen must work."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once")
        raise RuntimeError("gateway timed out on the first attempt")
    return "second attempt worked"
