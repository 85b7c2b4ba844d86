"""The PyTorch flavor (modelyard.registry.flavors.pytorch): a module round-trips as TorchScript
through log_model/load_model with its predictions unchanged and its signature enforced, falls
back to tracing and then to torch.save, is detected from its class, and a tampered model file is
refused before torch reads it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

import modelyard  # noqa: E402
from modelyard.artifacts import open_artifact_store  # noqa: E402
from modelyard.artifacts.interfaces import ArtifactStore  # noqa: E402
from modelyard.core.errors import (  # noqa: E402
    IntegrityError,
    InvalidArgument,
    SignatureError,
)
from modelyard.registry import flavors  # noqa: E402
from modelyard.registry.flavors.pytorch import PyTorchFlavor  # noqa: E402
from modelyard.registry.packaging import load_directory, load_stored, package_model, store_model  # noqa: E402
from modelyard.sdk import models  # noqa: E402

COLUMNS = ["tenure", "spend", "visits", "age"]


class MLP(torch.nn.Module):
    def __init__(self, n_in: int = 4, hidden: int = 8, n_out: int = 2) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.5), torch.nn.Linear(hidden, n_out)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Unscriptable(MLP):
    """Varargs are outside TorchScript's language: scripting fails, tracing works."""

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.net(inputs[0])


def seeded_mlp(cls: type[MLP] = MLP) -> MLP:
    torch.manual_seed(0)
    return cls()


def expected(module: Any, X: pd.DataFrame) -> np.ndarray:
    module.eval()
    with torch.no_grad():
        return np.asarray(module(torch.tensor(X[COLUMNS].to_numpy(), dtype=torch.float32)).numpy())


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(rng.normal(size=(50, 4)), columns=COLUMNS)


@pytest.fixture
def artifacts(tmp_path: Path) -> ArtifactStore:
    return open_artifact_store(str(tmp_path / "artifacts"))


@pytest.fixture
def sdk(modelyard_home: Path) -> Iterator[None]:
    modelyard.set_store_uri(None)
    modelyard.set_artifact_uri(None)
    modelyard.set_project("torch-team")
    yield
    while modelyard.active_run() is not None:
        modelyard.end_run()
    modelyard.set_store_uri(None)


def test_round_trip_through_log_model_and_load_model(sdk: None, table: pd.DataFrame) -> None:
    module = seeded_mlp()
    module.train()
    with modelyard.start_run(name="train-mlp"):
        version = models.log_model(module, "mlp", input_example=table.head())
    assert version.version == 1 and version.flavor == "pytorch"
    assert module.training  # packaging put the module in eval mode only for as long as it needed

    loaded = models.load_model("mlp@1")
    assert loaded.flavor == "pytorch"
    section = loaded.mlmodel["flavor"]
    assert section["serialization"] == "torchscript" and section["method"] == "script"
    assert isinstance(loaded.native, torch.jit.ScriptModule) and not isinstance(loaded.native, MLP)
    assert not loaded.native.training  # eval mode: dropout is off, predictions are deterministic

    want = expected(module, table)
    got = loaded.predict(table)
    assert isinstance(got, np.ndarray) and got.shape == (50, 2)
    assert np.allclose(got, want, atol=1e-6)
    assert np.allclose(loaded.predict(table[COLUMNS[::-1]]), want, atol=1e-6)  # reordered to the signature's
    assert np.allclose(loaded.predict(table.to_numpy()), want, atol=1e-6)
    assert np.allclose(loaded.predict(torch.tensor(table.to_numpy(), dtype=torch.float32)), want, atol=1e-6)

    pin = f"torch=={importlib_metadata.version('torch')}"
    assert pin in loaded.environment["requirements"]
    assert pin.split("+")[0] == f"torch=={torch.__version__.split('+')[0]}"


def test_signature_is_enforced(artifacts: ArtifactStore, table: pd.DataFrame) -> None:
    stored = store_model(artifacts, seeded_mlp(), input_example=table.head())
    loaded = load_stored(artifacts, stored.digest)
    with pytest.raises(SignatureError, match="column 'spend' must be float64, got string") as wrong_type:
        loaded.predict(table.head(2).assign(spend=["a", "b"]))
    assert wrong_type.value.column == "spend"
    with pytest.raises(SignatureError, match="missing column 'visits'") as missing:
        loaded.predict(table.drop(columns="visits"))
    assert missing.value.column == "visits"

    tensor_signature = load_stored(
        artifacts, store_model(artifacts, seeded_mlp(), input_example=table.to_numpy(dtype=np.float32)[:3]).digest
    )
    assert tensor_signature.signature is not None and tensor_signature.signature.kind == "tensor"
    with pytest.raises(SignatureError, match=r"shape \(-1, 4\)"):
        tensor_signature.predict(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(SignatureError, match="must be float32, got string"):
        tensor_signature.predict(np.array([["a"] * 4]))


def test_tampered_model_file_is_refused_before_torch_reads_it(
    artifacts: ArtifactStore, tmp_path: Path, table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = store_model(artifacts, seeded_mlp(), input_example=table.head())
    calls: list[Any] = []
    monkeypatch.setattr(torch.jit, "load", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(a))

    entry = next(e for e in stored.manifest.entries if e.path == "model.pt")
    algorithm, hex_digest = entry.digest.split(":")
    blob = tmp_path / "artifacts" / "blobs" / algorithm / hex_digest[:2] / hex_digest[2:4] / hex_digest
    os.chmod(blob, 0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF  # flip a byte (a zip archive often ends in zero bytes already)
    blob.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="corrupt"):
        load_stored(artifacts, stored.digest)

    package_model(seeded_mlp(), tmp_path / "pkg", input_example=table.head())
    model_file = tmp_path / "pkg" / "model.pt"
    model_file.write_bytes(model_file.read_bytes() + b" ")
    with pytest.raises(IntegrityError, match=r"model\.pt hashes to"):
        load_directory(tmp_path / "pkg")
    assert calls == []  # torch deserialised nothing


def test_flavor_detection(tmp_path: Path) -> None:
    class WithPredict(MLP):
        def predict(self, data: Any) -> Any:  # would match the generic python flavor, which comes last
            return data

    assert flavors.detect_flavor(MLP()).name == "pytorch"
    assert flavors.detect_flavor(WithPredict()).name == "pytorch"
    assert flavors.detect_flavor(torch.nn.Linear(2, 1)).name == "pytorch"
    with pytest.warns(DeprecationWarning, match="torch.jit.script"):
        scripted = torch.jit.script(MLP())
    assert flavors.detect_flavor(scripted).name == "pytorch"
    assert not PyTorchFlavor().accepts(torch.zeros(2)) and not PyTorchFlavor().accepts(object())
    with pytest.raises(InvalidArgument, match="not a pytorch model"):
        package_model(object(), tmp_path / "p", flavor="pytorch")


def test_package_model_traces_an_unscriptable_module_on_its_input_example(tmp_path: Path, table: pd.DataFrame) -> None:
    module = seeded_mlp(Unscriptable)
    mlmodel = package_model(module, tmp_path / "pkg", input_example=table.head())
    assert mlmodel["flavor"]["serialization"] == "torchscript" and mlmodel["flavor"]["method"] == "trace"
    loaded = load_directory(tmp_path / "pkg")
    assert isinstance(loaded.native, torch.jit.ScriptModule)
    assert np.allclose(loaded.predict(table), expected(module, table), atol=1e-6)


def test_unscriptable_module_is_traced_on_the_input_example(tmp_path: Path, table: pd.DataFrame) -> None:
    module = seeded_mlp(Unscriptable)
    (tmp_path / "pkg").mkdir()
    config = PyTorchFlavor().save(module, tmp_path / "pkg", input_example=table.head())
    assert config["serialization"] == "torchscript" and config["method"] == "trace"
    assert "script_error" in config
    native = PyTorchFlavor().load(tmp_path / "pkg", config)
    assert isinstance(native, torch.jit.ScriptModule)
    assert np.allclose(PyTorchFlavor().predict(native, table), expected(module, table), atol=1e-6)


def test_falls_back_to_torch_save_and_says_so(tmp_path: Path, table: pd.DataFrame) -> None:
    module = seeded_mlp(Unscriptable)
    mlmodel = package_model(module, tmp_path / "pkg")  # no example: nothing to trace with
    section = mlmodel["flavor"]
    assert section["serialization"] == "torch.save" and "class" in section["note"]
    assert section["class"].endswith("Unscriptable") and "script_error" in section
    loaded = load_directory(tmp_path / "pkg")
    assert isinstance(loaded.native, Unscriptable) and not loaded.native.training
    assert np.allclose(loaded.predict(table), expected(module, table), atol=1e-6)
