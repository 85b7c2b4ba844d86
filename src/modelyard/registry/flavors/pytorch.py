"""PyTorch modules (``torch.nn.Module``), saved as TorchScript and run on the CPU.

TorchScript is the format that loads without the user's class code: the module is compiled with
``torch.jit.script`` and, when that fails (Python the compiler does not support), traced with
``torch.jit.trace`` on the input example. Only if neither works is the whole module saved with
``torch.save``, a pickle that needs the module's class importable where it is loaded; the manifest
says which of the three it is (``serialization`` and ``method``) and why scripting failed.

torch 2.13 deprecates the ``torch.jit`` functions in favour of ``torch.export``. Their
DeprecationWarning is silenced around the calls made here, since the format is this flavor's choice,
not the user's; ``torch.export`` is the candidate successor format.

Loading happens only on hash-verified files (``packaging.py``), always onto the CPU, and returns
the module in eval mode. ``predict`` takes an array, a DataFrame (the signature already ordered
and typed its columns; it becomes one float32 tensor) or a tensor, runs under ``torch.no_grad()``
and returns a numpy array (a tuple, list or dict of arrays for a module with several outputs).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from modelyard.core.errors import InvalidArgument
from modelyard.core.extras import require_extra
from modelyard.registry.flavors.base import Flavor

MODEL_FILE = "model.pt"
_JIT_DEPRECATED = r"`torch\.jit\.\w+` is deprecated"


@contextmanager
def _quiet_jit() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATED, category=DeprecationWarning)
        yield


def _reason(exc: BaseException) -> str:
    """The message of a TorchScript error without its source excerpt (which holds local paths)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    head: list[str] = []
    for line in lines:
        if line.startswith("File ") or line == ":":
            break
        head.append(line.rstrip(":"))
    return f"{type(exc).__name__}: {' '.join(head) or (lines[0] if lines else '')}"[:400]


def _to_tensor(data: Any) -> Any:
    import torch

    if isinstance(data, torch.Tensor):
        return data.to("cpu")
    if hasattr(data, "to_numpy") and hasattr(data, "columns"):  # a DataFrame, without importing pandas
        try:
            return torch.from_numpy(np.ascontiguousarray(data.to_numpy(dtype=np.float32)))
        except (TypeError, ValueError) as exc:
            raise InvalidArgument(f"a PyTorch model needs numeric columns: {exc}")
    array = np.asarray(data)
    if array.dtype.kind == "f":  # the parameters are float32
        array = array.astype(np.float32, copy=False)
    elif array.dtype.kind not in "biuf":
        raise InvalidArgument(f"a PyTorch model needs a numeric array, got dtype {array.dtype}")
    return torch.from_numpy(np.ascontiguousarray(array))


def _to_numpy(output: Any) -> Any:
    import torch

    if isinstance(output, torch.Tensor):
        return output.detach().cpu().numpy()
    if isinstance(output, tuple | list):
        return type(output)(_to_numpy(item) for item in output)
    if isinstance(output, dict):
        return {key: _to_numpy(value) for key, value in output.items()}
    return output


class PyTorchFlavor(Flavor):
    name = "pytorch"
    packages = ("torch", "numpy")

    def accepts(self, model: Any) -> bool:
        # Any subclass of torch.nn.Module (user classes live outside torch), checked without importing torch.
        return any(
            cls.__name__ == "Module" and cls.__module__ == "torch.nn.modules.module" for cls in type(model).__mro__
        )

    def save(self, model: Any, directory: Path, input_example: Any = None) -> dict[str, Any]:
        import torch

        path = directory / MODEL_FILE
        config: dict[str, Any] = {
            "model_file": MODEL_FILE,
            "class": f"{type(model).__module__}.{type(model).__qualname__}",
            "torch_version": torch.__version__,
        }
        was_training = bool(model.training)
        model.eval()  # a trace of a module in training mode would record dropout and batch statistics
        try:
            with _quiet_jit():
                try:
                    torch.jit.save(torch.jit.script(model), str(path))
                    return {**config, "serialization": "torchscript", "method": "script"}
                except Exception as exc:
                    config["script_error"] = _reason(exc)
                if input_example is not None:
                    try:
                        with torch.no_grad():
                            traced = torch.jit.trace(model, _to_tensor(input_example))
                        torch.jit.save(traced, str(path))
                        return {**config, "serialization": "torchscript", "method": "trace"}
                    except Exception as exc:
                        config["trace_error"] = _reason(exc)
            try:
                torch.save(model, path)
            except Exception as exc:
                raise InvalidArgument(
                    f"cannot package the {type(model).__name__}: TorchScript failed ({config['script_error']}) "
                    f"and torch.save failed ({_reason(exc)})"
                )
            config.update(
                serialization="torch.save",
                method="pickle",
                note="not TorchScript: loading needs the module's class importable (see 'class')",
            )
            return config
        finally:
            model.train(was_training)

    def load(self, directory: Path, config: dict[str, Any]) -> Any:
        torch = require_extra("torch", purpose="loading a PyTorch model needs torch")

        path = directory / str(config.get("model_file", MODEL_FILE))
        serialization = config.get("serialization", "torchscript")
        if serialization == "torchscript":
            with _quiet_jit():
                model = torch.jit.load(str(path), map_location="cpu")
        elif serialization == "torch.save":
            # A whole pickled module cannot load with weights_only=True; the file's hash was verified.
            model = torch.load(path, map_location="cpu", weights_only=False)
        else:
            raise InvalidArgument(f"unknown PyTorch serialization {serialization!r} in the manifest")
        model.eval()
        return model

    def predict(self, model: Any, data: Any) -> Any:
        import torch

        with torch.no_grad():
            return _to_numpy(model(_to_tensor(data)))
