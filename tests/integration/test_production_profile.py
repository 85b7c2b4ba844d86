"""The production profile by configuration alone: PostgreSQL metadata + S3 (SeaweedFS) artifacts."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import modelyard
from modelyard.artifacts import open_artifact_store

SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import modelyard

    modelyard.set_project("prod-profile")
    report = Path(sys.argv[1]) / "report.txt"
    report.write_text("trained on the production profile")
    with modelyard.start_run(name="prod") as run:
        modelyard.log_params({"lr": 0.01})
        for step in range(50):
            modelyard.log_metric("loss", 1.0 / (step + 1), step=step)
        modelyard.log_artifact(report, artifact_path="reports")
    print(run.id)
    """
)


def test_sdk_runs_unchanged_on_postgres_and_s3(postgres_uri: str, seaweedfs_s3: Any, tmp_path: Path) -> None:
    artifact_uri = seaweedfs_s3.new_prefix()
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "MODELYARD_HOME": str(tmp_path / "unused-home"),
        "MODELYARD_STORE_URI": postgres_uri,
        "MODELYARD_ARTIFACT_URI": artifact_uri,
        "MODELYARD_S3_ENDPOINT_URL": seaweedfs_s3.endpoint_url,
        "AWS_ACCESS_KEY_ID": seaweedfs_s3.access_key,
        "AWS_SECRET_ACCESS_KEY": seaweedfs_s3.secret_key,
        "AWS_DEFAULT_REGION": seaweedfs_s3.region,
    }
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip().splitlines()[-1]
    # nothing went to the embedded default
    assert not (tmp_path / "unused-home" / "modelyard.db").exists()
    client = modelyard.TrackingClient(
        postgres_uri, artifacts=open_artifact_store(artifact_uri, seaweedfs_s3.storage_options())
    )
    run = client.get_run(run_id)
    assert run.params == {"lr": "0.01"} and run.metrics["loss"].step == 49
    assert [a.path for a in client.list_artifacts(run_id)] == ["reports/report.txt"]
    assert client.read_artifact(run_id, "reports/report.txt") == b"trained on the production profile"
    assert run.tags["modelyard.environment.digest"].startswith("sha256:")
    client.store.close()
