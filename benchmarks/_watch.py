"""Benchmark sides run watched: a side that runs out of memory or time is a result, not a crash.

``run_watched`` starts a side's command in its own process group, samples the RSS of its process
tree every 0.2 s, makes it the kernel OOM killer's first choice (``oom_score_adj`` 1000: on a shared
machine it dies before anything else), and stops it past an RSS limit, a timeout, or when the
machine itself runs low on memory (other work shares it). The side prints
its result as a JSON object on the last ``{`` line of stdout; a side that does not finish comes back
as ``{"error": "exceeded 16 GiB after 312s (stopped by the watchdog); last RSS ...", ...}``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["LOW_MEMORY_MB", "run_watched"]

LOW_MEMORY_MB = 1024  # a side is stopped when the machine has less than this left for everyone


def _rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and of all its descendants, in MB (0 once it is gone)."""
    total_kb, stack, seen = 0, [pid], set()
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            status = Path(f"/proc/{current}/status").read_text()
            tasks = list(Path(f"/proc/{current}/task").iterdir())
        except OSError:
            continue
        total_kb += next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), 0)
        for task in tasks:
            try:
                stack.extend(int(child) for child in (task / "children").read_text().split())
            except OSError:
                continue
    return total_kb / 1024


def _available_mb() -> float:
    """The machine's available memory (``MemAvailable``), in MB; infinite where unknown."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("inf")


def _oom_victim() -> None:
    """In the child before exec: the kernel's OOM killer picks this process first (score 1000)."""
    try:
        Path("/proc/self/oom_score_adj").write_text("1000")
    except OSError:
        pass  # not Linux: nothing to set


def run_watched(
    cmd: list[str], timeout: float, rss_limit_gib: float | None = None, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run one side's command, watched: its process tree's RSS is sampled every 0.2 s
    (``watched_peak_rss_mb``), it is the OOM killer's first choice, and it is stopped (SIGKILL to
    its process group) when its RSS exceeds ``rss_limit_gib``, it runs past ``timeout`` or the
    machine runs low on memory. A side that does not finish is a result with ``error`` (what
    happened, after how long, its last RSS), never an exception."""
    limit_mb = rss_limit_gib * 1024 if rss_limit_gib else None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=err, text=True, env=env, preexec_fn=_oom_victim, start_new_session=True
        )
        peak = last = 0.0
        stopped = ""
        try:
            while proc.poll() is None:
                rss = _rss_mb(proc.pid)
                last, peak = (rss, max(peak, rss)) if rss else (last, peak)
                elapsed = time.perf_counter() - start
                if limit_mb is not None and rss > limit_mb:
                    stopped = f"exceeded {rss_limit_gib:g} GiB after {elapsed:.0f}s (stopped by the watchdog)"
                elif _available_mb() < LOW_MEMORY_MB:
                    stopped = (
                        f"the machine ran low on memory (under {LOW_MEMORY_MB:,} MB available) after {elapsed:.0f}s "
                        "(stopped by the watchdog before the OOM killer hits other work)"
                    )
                elif elapsed > timeout:
                    stopped = f"timed out after {timeout:.0f}s"
                if stopped:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    break
                time.sleep(0.2)
        finally:
            if proc.poll() is None:  # the benchmark itself is interrupted: take the side down with it
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        elapsed = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    watched = {"elapsed_s": round(elapsed, 1), "watched_peak_rss_mb": round(peak), "last_rss_mb": round(last)}
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if stopped or proc.returncode != 0 or not lines:
        if stopped:
            error = stopped
        elif proc.returncode < 0:
            sig = -proc.returncode
            cause = " (not the watchdog: the OOM killer?)" if sig == signal.SIGKILL else ""
            error = f"killed by signal {sig} ({signal.Signals(sig).name}){cause} after {elapsed:.0f}s"
        else:
            error = (stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        error += f"; last RSS {last:,.0f} MB, peak seen {peak:,.0f} MB"
        return {"error": error, **watched, "signal": -proc.returncode if proc.returncode < 0 else None}
    return {**json.loads(lines[-1]), **watched}
