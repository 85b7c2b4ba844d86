"""``modelyard build`` (``modelyard.serving.build``): the build context holds the verified model
package, its pinned requirements, an entrypoint and a Dockerfile and nothing else; the Dockerfile
parses into the expected instructions; the manifests validate against the Kubernetes schemas
(kubernetes-validate, offline); the entrypoint's image-build step registers exactly the source
package; bad input writes nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import modelyard
from modelyard import _version
from modelyard.cli.main import app
from modelyard.sdk import models

runner = CliRunner()
KUBERNETES_VERSION = "1.37"


@pytest.fixture
def churn(modelyard_home: Path) -> Iterator[Any]:
    from sklearn.linear_model import LogisticRegression

    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("churn-team")
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"tenure": rng.integers(0, 60, 200), "spend": rng.normal(50, 10, 200)})
    model = LogisticRegression(max_iter=500).fit(X, X["tenure"] < 20)
    with modelyard.start_run(name="train"):
        models.log_model(model, "Team/Churn_Model", input_example=X.head())
        models.log_model(model, "Team/Churn_Model", input_example=X.head())
    modelyard.set_alias("Team/Churn_Model", "champion", 2)
    yield model
    modelyard.set_store_uri(None)


def build(out: Path, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["build", "Team/Churn_Model@2", "--out", str(out), "--json", *extra])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_context_holds_the_package_and_its_requirements_only(churn: Any, tmp_path: Path) -> None:
    out = tmp_path / "image"
    result = build(out)
    version = models.RegistryClient().get_version("Team/Churn_Model", 2)
    assert result["model"] == "Team/Churn_Model@2" and result["digest"] == version.manifest_digest
    assert result["image"] == "modelyard/team-churn-model:2"
    context = out / "context"
    files = sorted(p.relative_to(context).as_posix() for p in context.rglob("*") if p.is_file())
    entries = modelyard.TrackingClient().artifacts.get_manifest(version.manifest_digest).entries
    package = sorted(e.path for e in entries)
    wheel = f"wheels/modelyard-{_version.__version__}-py3-none-any.whl"
    assert files == sorted(["Dockerfile", "entrypoint.py", "requirements.txt", wheel, *(f"model/{p}" for p in package)])
    assert sorted(p.name for p in out.iterdir()) == ["context", "kubernetes"]
    # Each package file is the registered blob; nothing else weighs anything.
    blobs = {e.path: e for e in entries}
    for path in package:
        assert (context / "model" / path).stat().st_size == blobs[path].size
    package_bytes = sum(e.size for e in entries)
    assert result["context_bytes"] == sum(p.stat().st_size for p in context.rglob("*") if p.is_file())
    wheel_bytes = (context / wheel).stat().st_size
    assert package_bytes + wheel_bytes < result["context_bytes"] < package_bytes + wheel_bytes + 16_384
    requirements = (context / "requirements.txt").read_text().splitlines()
    assert requirements[0] == f"modelyard @ file:///srv/modelyard/{wheel}"  # the files that wrote the build
    assert all("==" in line for line in requirements[1:])
    packaged = json.loads((context / "model" / "MLmodel.json").read_text())["environment"]["requirements"]
    assert set(requirements[1:]) == {p for p in packaged if not p.startswith("modelyard==")}
    assert any(line.startswith("scikit-learn==") for line in requirements)


def test_the_dockerfile_copies_the_whole_context_and_runs_the_server_unprivileged(churn: Any, tmp_path: Path) -> None:
    from dockerfile_parse import DockerfileParser

    out = tmp_path / "image"
    build(out, "--port", "9000", "--workers", "3")
    context = out / "context"
    parser = DockerfileParser(path=str(context / "Dockerfile"))
    instructions = [(i["instruction"], i["value"]) for i in parser.structure if i["instruction"] != "COMMENT"]
    kinds = [kind for kind, _ in instructions]
    assert kinds[0] == "FROM" and parser.baseimage == f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim"
    assert kinds.count("FROM") == 1 and kinds[-1] == "ENTRYPOINT"
    assert json.loads(instructions[-1][1]) == ["python", "/srv/modelyard/entrypoint.py"]
    copied = [value.split()[0].rstrip("/") for kind, value in instructions if kind == "COPY"]
    on_disk = {p.name for p in context.iterdir()} - {"Dockerfile"}
    assert set(copied) == on_disk  # every file of the context is used, and only those
    runs = [value for kind, value in instructions if kind == "RUN"]
    assert "pip install --no-cache-dir -r requirements.txt" in runs[1]
    assert runs[2].startswith("python entrypoint.py prepare")
    # requirements are installed before the model is copied: a new model version reuses that layer
    assert copied.index("requirements.txt") < copied.index("model")
    assert instructions[kinds.index("USER")][1] == "10001" and kinds.index("USER") > kinds.index("RUN")
    assert ("EXPOSE", "9000") in instructions
    assert parser.envs["MODELYARD_HOME"] == "/srv/modelyard/home"
    entrypoint = (context / "entrypoint.py").read_text()
    assert "PORT = '9000'" in entrypoint and "WORKERS = '3'" in entrypoint
    assert parser.labels["ai.modelyard.digest"].startswith("sha256:")
    assert parser.labels["org.opencontainers.image.title"] == "Team/Churn_Model@2"


def test_the_manifests_validate_against_the_kubernetes_schemas(churn: Any, tmp_path: Path) -> None:
    import kubernetes_validate

    out = tmp_path / "image"
    build(
        out, "--replicas", "3", "--max-replicas", "12", "--port", "9000", "--image-name",
        "registry.example.com:5000/ml/churn:v2", "--cpu", "1500m", "--memory", "2Gi",
    )  # fmt: skip
    documents = {p.stem: yaml.safe_load(p.read_text()) for p in (out / "kubernetes").glob("*.yaml")}
    assert sorted(documents) == ["deployment", "hpa", "service"]
    for document in documents.values():
        assert kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True) == KUBERNETES_VERSION
    deployment, service, hpa = documents["deployment"], documents["service"], documents["hpa"]
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "team-churn-model"
    spec = deployment["spec"]
    (container,) = spec["template"]["spec"]["containers"]
    assert spec["replicas"] == 3 and container["image"] == "registry.example.com:5000/ml/churn:v2"
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 9000, "protocol": "TCP"}]
    assert container["resources"]["requests"] == container["resources"]["limits"] == {"cpu": "1500m", "memory": "2Gi"}
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert service["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()
    assert hpa["spec"]["scaleTargetRef"]["name"] == "team-churn-model"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 12)
    # The validator does reject what the cluster would: a wrong type is caught.
    broken = {**deployment, "spec": {**spec, "replicas": "three"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_the_image_build_step_registers_exactly_the_source_package(churn: Any, tmp_path: Path) -> None:
    """What ``RUN python entrypoint.py prepare`` does in the image, run here against a new home."""
    out = tmp_path / "image"
    build(out)
    context = out / "context"
    image_home = tmp_path / "image-home"
    env = {**os.environ, "MODELYARD_HOME": str(image_home)}
    # the image's pip install puts the `modelyard` console script on PATH; here it is this venv's
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("MODELYARD_STORE_URI", None)
    env.pop("MODELYARD_ARTIFACT_URI", None)
    done = subprocess.run(
        [sys.executable, str(context / "entrypoint.py"), "prepare"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "registered Team/Churn_Model@2, alias champion (sha256:" in done.stdout
    registry = models.RegistryClient(f"sqlite:///{image_home / 'modelyard.db'}", str(image_home / "artifacts"))
    try:
        # the registry's number and alias, not a renumbered version 1 of the image's store
        assert [v.version for v in registry.list_versions("Team/Churn_Model")] == [2]
        version = registry.get_version("Team/Churn_Model", 2)
        assert version.manifest_digest == models.RegistryClient().get_version("Team/Churn_Model", 2).manifest_digest
        assert version.aliases == ["champion"]
        X = pd.DataFrame({"tenure": [3, 40], "spend": [20.0, 70.0]})
        assert np.array_equal(registry.load("Team/Churn_Model@champion").predict(X), churn.predict(X))
    finally:
        registry.store.close()
    _serves_version_two(context, env)
    # A package changed after the build is refused by the same step.
    (context / "model" / "requirements.txt").write_text("tampered==1\n")
    env["MODELYARD_HOME"] = str(tmp_path / "other-home")
    done = subprocess.run(
        [sys.executable, str(context / "entrypoint.py"), "prepare"], env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "hashes to" in done.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["Team/Churn_Model@9"], "9"),
        (["nosuch@1"], "nosuch"),
        (["Team/Churn_Model@2", "--cpu", "lots"], "invalid CPU quantity"),
        (["Team/Churn_Model@2", "--memory", "0Gi"], "invalid memory quantity"),
        (["Team/Churn_Model@2", "--image-name", "Bad Image"], "invalid image name"),
        (["Team/Churn_Model@2", "--replicas", "5", "--max-replicas", "2"], "max replicas"),
        (["Team/Churn_Model@2", "--port", "0"], "--port"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    churn: Any, tmp_path: Path, arguments: list[str], message: str
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    result = runner.invoke(app, ["build", *arguments, "--out", str(work / "image")])
    assert result.exit_code != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert list(work.iterdir()) == []


def test_an_existing_directory_with_files_is_refused(churn: Any, tmp_path: Path) -> None:
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["build", "Team/Churn_Model@2", "--out", str(tmp_path / "image")])
    assert result.exit_code == 2 and "must be an empty or new directory" in result.stderr
    assert [p.name for p in (tmp_path / "image").iterdir()] == ["keep.txt"]


def _serves_version_two(context: Path, env: dict[str, str]) -> None:
    """The container's command (the entrypoint without ``prepare``) serves NAME@2 of the image's
    store; ``--port 0`` given to the container wins over the baked port."""
    import re
    import signal

    import httpx

    server = subprocess.Popen(
        [sys.executable, str(context / "entrypoint.py"), "--port", "0"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        banner = server.stdout.readline()
        port = re.search(r":(\d+) ", banner)
        assert port is not None, banner
        answer = httpx.get(f"http://127.0.0.1:{port.group(1)}/v1/models", timeout=30).json()
        served = [v["model"] for endpoint in answer["models"] for v in endpoint["variants"]]
        assert [(m["name"], m["version"]) for m in served] == [("Team/Churn_Model", 2)], answer
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        if server.stdout is not None:
            server.stdout.close()


def test_the_modelyard_wheel_is_the_running_modelyard(churn: Any, tmp_path: Path) -> None:
    """The image installs the modelyard that wrote the build from the context, not a release of
    the same number from an index (there may be none)."""
    import zipfile

    import modelyard.serving.build as build_module

    out = tmp_path / "image"
    build(out)
    wheel = out / "context" / "wheels" / f"modelyard-{_version.__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert archive.read("modelyard/serving/build.py") == Path(build_module.__file__).read_bytes()
        info = f"modelyard-{_version.__version__}.dist-info"
        assert f"Version: {_version.__version__}" in archive.read(f"{info}/METADATA").decode()
        assert "modelyard = modelyard.cli.main:main" in archive.read(f"{info}/entry_points.txt").decode()
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    target = tmp_path / "installed"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
         "--target", str(target), str(wheel)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (target / "modelyard" / "serving" / "build.py").is_file()
    again = tmp_path / "again"
    build(again)  # the same files make the same wheel: the image layer is reused
    assert (again / "context" / "wheels" / wheel.name).read_bytes() == wheel.read_bytes()
