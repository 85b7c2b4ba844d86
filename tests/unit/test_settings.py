from __future__ import annotations

from pathlib import Path

from modelyard.settings import load_settings, normalize_store_uri


def test_defaults_live_under_home(tmp_path: Path) -> None:
    settings = load_settings({"MODELYARD_HOME": str(tmp_path / "h")})
    assert settings.home == (tmp_path / "h").resolve()
    assert settings.store_uri == f"sqlite:///{(tmp_path / 'h' / 'modelyard.db').resolve()}"
    assert settings.artifact_uri == str((tmp_path / "h" / "artifacts").resolve())
    assert settings.project == "Default"


def test_explicit_uris_win() -> None:
    settings = load_settings(
        {
            "MODELYARD_STORE_URI": "postgresql://postgres@127.0.0.1/test",
            "MODELYARD_ARTIFACT_URI": "s3://bucket/prefix",
            "MODELYARD_S3_ENDPOINT_URL": "http://127.0.0.1:8333",
            "AWS_ACCESS_KEY_ID": "k",
            "AWS_SECRET_ACCESS_KEY": "s",
        }
    )
    assert settings.store_uri == "postgresql://postgres@127.0.0.1/test"
    assert settings.artifact_uri == "s3://bucket/prefix"
    options = settings.s3_storage_options()
    assert options["key"] == "k" and options["secret"] == "s"
    assert options["client_kwargs"] == {"endpoint_url": "http://127.0.0.1:8333"}


def test_bare_path_means_sqlite(tmp_path: Path) -> None:
    assert normalize_store_uri(str(tmp_path)) == f"sqlite:///{tmp_path.resolve() / 'modelyard.db'}"
    assert normalize_store_uri(str(tmp_path / "x.db")) == f"sqlite:///{(tmp_path / 'x.db').resolve()}"


def test_only_settings_reads_the_environment() -> None:
    import modelyard

    root = Path(modelyard.__file__).parent
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p.name != "settings.py" and ("os.environ" in p.read_text() or "os.getenv" in p.read_text())
    ]
    assert offenders == []


NUMERIC = {
    "MODELYARD_MONITOR_INTERVAL_SECONDS": "a number of seconds",
    "MODELYARD_LOG_RETENTION_INTERVAL_SECONDS": "a number of seconds",
    "MODELYARD_HEARTBEAT_SECONDS": "a number of seconds",
    "MODELYARD_MAX_UPLOAD_BYTES": "a whole number",
    "MODELYARD_MAX_JSON_BYTES": "a whole number",
    "MODELYARD_LOGIN_FREE_FAILURES": "a whole number",
    "MODELYARD_LOGIN_MAX_BACKOFF_SECONDS": "a whole number",
}


def test_intervals_turn_off_with_zero_or_off() -> None:
    for name, attribute in [
        ("MODELYARD_MONITOR_INTERVAL_SECONDS", "monitor_interval_seconds"),
        ("MODELYARD_LOG_RETENTION_INTERVAL_SECONDS", "log_retention_interval_seconds"),
    ]:
        for off in ("0", "0.0", " off ", "OFF"):
            assert getattr(load_settings({name: off}), attribute) is None
        assert getattr(load_settings({name: "2.5"}), attribute) == 2.5


def test_a_bad_numeric_setting_is_one_line_naming_it(tmp_path: Path) -> None:
    """``modelyard server`` (and any command: they all read the settings) refuses a bad number in a
    MODELYARD_* variable with one line naming the variable and the expected form, no traceback."""
    from typer.testing import CliRunner

    from modelyard.cli.main import app

    runner = CliRunner()
    home = {"MODELYARD_HOME": str(tmp_path)}
    for name, form in NUMERIC.items():
        for bad in ("abc", "-5", "1e999"):
            out = runner.invoke(app, ["server", "--port", "1"], env={**home, name: bad})
            assert out.exit_code == 2, (name, bad, out.output)
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and name in lines[0] and form in lines[0] and repr(bad) in lines[0], out.stderr
    out = runner.invoke(app, ["runs", "list"], env={**home, "MODELYARD_HEARTBEAT_SECONDS": "5s"})
    assert out.exit_code == 2 and out.stderr.strip().count("\n") == 0 and "MODELYARD_HEARTBEAT_SECONDS" in out.stderr


def test_a_bad_numeric_setting_stops_the_real_server_in_one_line(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "MODELYARD_HOME": str(tmp_path),
           "MODELYARD_MONITOR_INTERVAL_SECONDS": "every minute"}  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "modelyard.cli.main", "server", "--port", "1"],
                          env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: MODELYARD_MONITOR_INTERVAL_SECONDS must be a number of seconds from 0.001 to 86400 (e.g. 30),"
        " or 0/off, got 'every minute'"
    )
