"""Every "Try next" line the quickstart prints works on the core install (no extras).

The core install is simulated in each subprocess by making every optional package unimportable
(tests/fixtures/core_install.py): the shared test
environment has all extras, a fresh ``pip install modelyard`` has none. The lines are parsed from
the quickstart's own output, so a line added later is run too. ``modelyard server`` is started in
the background (on a free port instead of 5000, which a neighbour may hold), probed until it
answers, then the printed UI pages are fetched from it, and it is stopped at the end.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.fixtures.core_install import core_cli

pytestmark = pytest.mark.slow


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    return {**env, "MODELYARD_HOME": str(home), "COLUMNS": "400"}


def _run(args: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(core_cli(args), cwd=cwd, env=_env(home), capture_output=True, text=True, timeout=600)


def try_next_lines(stdout: str) -> list[str]:
    """The commands and URLs of the "Try next" section, without their ``# why`` comments."""
    section = stdout.split("Try next", 1)[1]
    lines = []
    for raw in section.splitlines():
        command = re.split(r"\s{2,}#", raw, maxsplit=1)[0].strip()
        if command:  # a line holding only a comment continues the line above
            lines.append(command)
    return lines


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def background_server(args: list[str], home: Path, cwd: Path, port: int) -> Iterator[str]:
    """``args`` (a ``modelyard server`` line) started in the background on ``port``; yields its URL
    once /healthz answers; stopped (SIGINT, as Ctrl-C would) when the block ends."""
    log = cwd / f"{args[0]}.log"  # server.log, serve.log: both may run at once
    with log.open("w") as out:
        proc = subprocess.Popen(
            core_cli([*args, "--port", str(port)]), cwd=cwd, env=_env(home), stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, f"the server exited: {log.read_text()}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"the server never answered: {log.read_text()}"
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def test_every_try_next_line_works_on_the_core_install(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "work"
    cwd.mkdir()
    first = _run(["quickstart"], home, cwd)
    assert first.returncode == 0, first.stderr
    lines = try_next_lines(first.stdout)
    commands = [shlex.split(line) for line in lines if line.startswith("modelyard")]
    urls = [line for line in lines if line.startswith("http")]
    assert ["modelyard", "server"] in commands and urls  # the section was parsed
    assert len(commands) + len(urls) == len(lines), lines  # nothing but commands and URLs

    port = _free_port()
    with background_server(["server"], home, cwd, port):
        for url in urls:
            local = re.sub(r"^http://127\.0\.0\.1:5000", f"http://127.0.0.1:{port}", url)
            response = httpx.get(local, timeout=60, follow_redirects=True)
            assert response.status_code == 200, (url, response.status_code)
            assert "text/html" in response.headers["content-type"]
        for argv in commands:
            if argv[1:] == ["server"]:
                continue
            if argv[1] == "serve":  # the model server: started like the tracking server, then asked
                with background_server(argv[1:], home, cwd, _free_port()) as served:
                    name = argv[2].partition("@")[0]
                    described = httpx.get(f"{served}/v1/models/{name}", timeout=60)
                    assert described.status_code == 200, described.text
                    assert httpx.get(f"{served}/v2/models/{name}/ready", timeout=60).status_code == 200
                continue
            proc = _run(argv[1:], home, cwd)
            assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr)
            assert "Traceback" not in proc.stderr and "error:" not in proc.stderr, (argv, proc.stderr)
