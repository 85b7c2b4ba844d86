"""Peer virtual environments for the benchmarks.

Each peer tool (MLflow, ...) runs in its own virtual environment under ``.bench/venvs/<name>`` so
that its dependencies never mix with modelyard's. An environment is created once, with a pinned
requirement, and reused by every later run while the pin is unchanged.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / ".bench"
VENVS_DIR = BENCH_DIR / "venvs"
MARKER = "modelyard-bench.json"


@dataclass(frozen=True)
class PeerEnv:
    """A ready peer environment: its name, pinned requirements and interpreter."""

    name: str
    requirements: tuple[str, ...]
    path: Path

    @property
    def python(self) -> Path:
        return self.path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _read_marker(path: Path) -> dict[str, object] | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _base_python() -> str:
    """The interpreter to build peer environments from: the one the venv itself came from."""
    return getattr(sys, "_base_executable", None) or sys.executable


def _run_streaming(cmd: list[str], progress: Progress, task: int, label: str, log: Path) -> None:
    """Run ``cmd``, showing its latest output line next to a spinner; keep the full log."""
    tail: deque[str] = deque(maxlen=40)
    with log.open("a") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        assert proc.stdout is not None
        for raw in proc.stdout:
            out.write(raw)
            line = raw.strip()
            if not line:
                continue
            tail.append(line)
            progress.update(task, description=f"{label}: [dim]{line[:90]}[/dim]")
        code = proc.wait()
    if code != 0:
        detail = "\n".join(tail)
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed with exit code {code}; full log: {log}\n{detail}")


def ensure_peer_env(name: str, requirements: list[str] | tuple[str, ...], console: Console | None = None) -> PeerEnv:
    """Create (or reuse) the virtual environment ``.bench/venvs/<name>`` with ``requirements``.

    The environment is reused when its marker records exactly the same requirements; otherwise it
    is rebuilt from scratch, so a changed pin never leaves a half-upgraded environment behind.
    """
    console = console or Console(stderr=True)
    reqs = tuple(requirements)
    path = VENVS_DIR / name
    env = PeerEnv(name=name, requirements=reqs, path=path)
    marker = _read_marker(path)
    if marker is not None and tuple(marker.get("requirements", ())) == reqs and env.python.exists():
        return env

    if path.exists():
        shutil.rmtree(path)
    VENVS_DIR.mkdir(parents=True, exist_ok=True)
    log = VENVS_DIR / f"{name}.install.log"
    log.write_text("")
    columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"[bold]{name}[/bold]: creating venv", total=None)
        _run_streaming([_base_python(), "-m", "venv", str(path)], progress, task, f"[bold]{name}[/bold]", log)
        pip = [str(env.python), "-m", "pip", "--disable-pip-version-check"]
        _run_streaming([*pip, "install", "--upgrade", "pip"], progress, task, f"[bold]{name}[/bold]", log)
        _run_streaming([*pip, "install", "--progress-bar", "off", *reqs], progress, task, f"[bold]{name}[/bold]", log)
    (path / MARKER).write_text(json.dumps({"requirements": list(reqs)}, indent=2))
    console.print(f"[green]✓[/green] peer environment [bold]{name}[/bold] ready at {path}")
    return env


def main() -> None:
    """``python -m benchmarks._venv NAME REQ...``: build a peer environment by hand."""
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m benchmarks._venv NAME REQUIREMENT [REQUIREMENT ...]")
    env = ensure_peer_env(sys.argv[1], sys.argv[2:])
    print(env.python)


if __name__ == "__main__":
    main()
