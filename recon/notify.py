"""Tell someone: run the configured command with the JSON summary on its stdin."""

from __future__ import annotations

import json
import shlex
import subprocess

import polars as pl

from recon.config import SEVERITIES, Settings
from recon.result import RunResult

NOTIFY_TIMEOUT_S = 60


def notify(result: RunResult, settings: Settings) -> str | None:
    """Run settings.notify_command when an item at or above notify_min_severity needs telling
    (in a scheduled run: only new or escalated ones). Returns a warning, or None."""
    items = result.discrepancies
    if "alert" in items.columns:
        items = items.filter(pl.col("alert"))
    wanted = SEVERITIES[SEVERITIES.index(settings.notify_min_severity) :]
    if items.filter(pl.col("severity").is_in(wanted)).height == 0:
        return None
    payload = json.dumps(result.summary, ensure_ascii=False).encode()
    try:
        proc = subprocess.run(
            shlex.split(settings.notify_command or ""),
            input=payload,
            capture_output=True,
            timeout=NOTIFY_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"notify command failed: {exc}"
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"notify command exited {proc.returncode}: {tail[0]}"
    return None
