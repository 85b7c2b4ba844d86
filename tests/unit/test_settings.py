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
