"""Regression tests for issue 16 on the command line: one line per error, never a traceback.

The cases the issue lists (checkout destinations that cannot be written, a malformed ``--store``,
an unsupported artifact URI scheme, integers past every bound, bad ports and hosts), ``--debug``
and MODELYARD_DEBUG, and a bounded hypothesis run feeding arbitrary arguments to every command.
Everything runs with MODELYARD_HOME and the working directory in a temporary directory.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from modelyard.cli.main import app

runner = CliRunner()


@pytest.fixture
def home(modelyard_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory and a home holding an empty store (commands that read need one)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MODELYARD_DEBUG", raising=False)
    assert runner.invoke(app, ["db", "init"]).exit_code == 0
    return modelyard_home


def _one_line_error(result: Any) -> str:
    """The run failed with exactly one line on stderr and no traceback; returns that line."""
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def invoke(*args: str, env: dict[str, str] | None = None) -> Any:
    return runner.invoke(app, list(args), env=env)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["models", "show", "m@99999999999999999999999"], "2147483647"),
        (["models", "transition", "m", "99999999999999999999", "staging"], "2147483647"),
        (["models", "approve", "m", "99999999999999999999"], "2147483647"),
        (["models", "history", "m", "--at", "99999999999999999999"], "--at"),
        (["audit", "list", "--since", "99999999999999999999"], "--since"),
        (["audit", "list", "--until", "99999999999999999999"], "--until"),
        (["tokens", "create", "someone", "--expires-in", "99999999999d"], "100 years"),
        (["runs", "list", "-n", "99999999999999999999"], "--max-results"),
        (["data", "show", "x@v99999999999999999999"], "invalid dataset reference"),
        (["server", "--port", "99999"], "--port"),
        (["server", "--port", "0"], "--port"),
        (["server", "--host", "not a host"], "--host"),
        (["runs", "list", "--store", "http://[::1"], "invalid store URI"),
        (["models", "list", "nosuch-extra-argument"], "unexpected extra argument"),
    ],
)
def test_bad_input_is_one_line(home: Path, args: list[str], needle: str) -> None:
    line = _one_line_error(invoke(*args))
    assert needle.lower() in line.lower()
    assert "internal error" not in line


def test_an_unsupported_artifact_uri_is_refused_before_any_network_use(home: Path) -> None:
    (home.parent / "t.csv").write_text("a\n1\n")
    for args in (["data", "add", "t.csv", "--name", "t"], ["runs", "list"]):
        done = subprocess.run(  # a fresh process: the SDK's session caches its artifact store
            [sys.executable, "-m", "modelyard.cli.main", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "MODELYARD_ARTIFACT_URI": "ftp://x/y"},
        )
        assert done.returncode == 2 and "Traceback" not in done.stderr
        assert done.stderr.strip().splitlines() == [
            "error: unsupported artifact store URI 'ftp://x/y': use a local path, file:///path or s3://bucket/prefix"
        ]


def test_checkout_to_places_that_cannot_be_written_is_one_line(home: Path) -> None:
    data = home.parent / "d"
    data.mkdir()
    (data / "a.txt").write_text("1\n")
    assert invoke("data", "add", "d", "--name", "dir").exit_code == 0
    assert "/proc/nope" in _one_line_error(invoke("data", "checkout", "dir", "/proc/nope/dest"))
    existing = home.parent / "existing"
    existing.write_text("keep me")
    assert "existing" in _one_line_error(invoke("data", "checkout", "dir", str(existing)))
    assert existing.read_text() == "keep me"


def test_an_unexpected_error_says_internal_error_and_debug_shows_the_traceback(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelyard.cli import main as cli_main

    def boom(*_: Any, **__: Any) -> Any:
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(cli_main, "_client", boom)
    line = _one_line_error(invoke("projects", "list"))
    assert "internal error: ZeroDivisionError: a bug" in line and "--debug" in line
    for result in (invoke("--debug", "projects", "list"), invoke("projects", "list", env={"MODELYARD_DEBUG": "1"})):
        assert result.exit_code == 1
        assert "Traceback" in result.stderr and "ZeroDivisionError" in result.stderr


def test_the_installed_entry_point_has_the_same_boundary(home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "modelyard.cli.main", "models", "show", "m@99999999999999999999999"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


# --- every command, arbitrary arguments ------------------------------------------------------------

#: Commands left out: they start a server, train models, follow a stream or run a script.
_SKIP = {"server", "quickstart", "ingest stream", "reproduce"}


def _leaf_commands() -> list[str]:
    def walk(command: Any, path: list[str]) -> list[str]:
        subcommands = getattr(command, "commands", None)
        if not subcommands:
            return [" ".join(path)]
        return [leaf for name, sub in sorted(subcommands.items()) for leaf in walk(sub, [*path, name])]

    return [c for c in walk(typer.main.get_command(app), []) if c not in _SKIP]


COMMANDS = _leaf_commands()

# No argument can name anything outside the temporary working directory: no '/', '\', '~' or '..'.
_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00/\\~"), max_size=24
).filter(lambda s: ".." not in s)
_SPECIAL = st.sampled_from(
    [
        "--json",
        "--store",
        "-n",
        "--since",
        "--version",
        "99999999999999999999",
        "-1",
        "0",
        "m@99999999999999999999",
        "x@v0",
        "@",
        "--",
        "-",
        "NaN",
        "1e400",
        "nosuch",
        "\u00e9",
        "'",
        '"',
    ]
)
ARGS = st.lists(st.one_of(_TEXT, _SPECIAL), max_size=4)


def test_every_command_is_fuzzed() -> None:
    assert {"models show", "data add", "audit list", "tokens create", "runs list"} <= set(COMMANDS)


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(args=ARGS)
def test_arbitrary_arguments_get_one_line_errors(home: Path, command: str, args: list[str]) -> None:
    result = runner.invoke(app, [*command.split(), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    if result.exit_code != 0 and "Usage:" not in result.stderr:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert "internal error" not in lines[0], lines[0]
