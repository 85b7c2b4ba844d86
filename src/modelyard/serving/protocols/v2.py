"""The Open Inference Protocol (KServe V2; Triton and MLServer speak it too).

- ``GET /v2`` (server metadata), ``GET /v2/health/live``, ``GET /v2/health/ready``;
- ``GET /v2/models/{name}[/versions/{v}]`` (model metadata: inputs named after the signature's
  columns, or one tensor), ``GET .../ready``;
- ``POST /v2/models/{name}[/versions/{v}]/infer``: ``{"id"?, "inputs": [{"name", "shape",
  "datatype", "data"}], "outputs"?: [{"name": "predict" | "predict_proba"}]}``. Inputs are either
  one tensor per column (shape ``[n]`` or ``[n, 1]``, named after the column) or one ``[n, k]``
  tensor in the signature's column order.

Triton's binary tensor data extension, both ways. A request body may be a JSON header of
``Inference-Header-Content-Length`` bytes followed by raw tensor bytes, an input carrying
``"parameters": {"binary_data_size": n}`` instead of ``data`` (the inputs' bytes in their order).
An output is answered in binary when the request's ``parameters`` say ``"binary_data_output":
true`` (every output) or the output's own ``parameters`` say ``"binary_data": true`` (a per-output
false overrides the request's true): the answer is then the JSON header — that output with
``"parameters": {"binary_data_size": n}`` and no ``data`` — followed by the outputs' raw bytes in
order (little-endian; BYTES elements as a 4-byte little-endian length and the UTF-8 bytes; BOOL
one byte each), with ``Inference-Header-Content-Length`` giving the header's length and content
type ``application/octet-stream``. Otherwise the answer is plain JSON.

The answer: ``{"model_name", "model_version", "id", "outputs": [{"name", "datatype", "shape",
"data"}]}``; errors: ``{"error": "message"}`` with 400/404/413/503.
"""

from __future__ import annotations

import math
import struct
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from modelyard._version import __version__
from modelyard.core.errors import InvalidArgument, NotFound, SignatureError
from modelyard.serving import decode
from modelyard.serving.app import Request, Response, error_parts, json_response, retry_headers

if TYPE_CHECKING:
    from modelyard.serving.app import Decoder, ServingApp
    from modelyard.serving.endpoint import Endpoint
    from modelyard.serving.host import InputSpec, ModelHost

DATATYPES: dict[str, Any] = {
    "BOOL": np.bool_,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": np.object_,
}
_BY_NUMPY = {np.dtype(v).name: k for k, v in DATATYPES.items() if k != "BYTES"}
OUTPUTS = ("predict", "predict_proba")


def datatype_of(dtype: Any) -> str:
    try:
        return _BY_NUMPY.get(np.dtype(dtype).name, "BYTES")
    except TypeError:
        return "BYTES"


def error_response(exc: BaseException) -> Response:
    status, _, message, _ = error_parts(exc)
    return json_response(status, {"error": message}, retry_headers(exc))


# -- tensors ------------------------------------------------------------------------------------


def _tensor(spec: dict[str, Any], binary: bytes | None, offset: int) -> tuple[str, np.ndarray, int]:
    if not isinstance(spec, dict):
        raise InvalidArgument("each input must be an object with name, shape, datatype and data")
    name, shape, datatype = spec.get("name"), spec.get("shape"), spec.get("datatype")
    if not isinstance(name, str) or not name:
        raise InvalidArgument("an input has no name")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SignatureError(f"input {name!r}: shape must be a list of non-negative integers", column=name)
    dtype = DATATYPES.get(datatype) if isinstance(datatype, str) else None
    if dtype is None:
        raise SignatureError(f"input {name!r}: unknown datatype {datatype!r}", column=name)
    size = math.prod(shape)
    parameters = spec.get("parameters") or {}
    binary_size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if binary_size is not None:
        if binary is None or not isinstance(binary_size, int) or offset + binary_size > len(binary):
            raise InvalidArgument(f"input {name!r}: binary data is missing or shorter than announced")
        raw = binary[offset : offset + binary_size]
        offset += binary_size
        array = _from_binary(name, raw, str(datatype), size)
    else:
        if "data" not in spec:
            raise InvalidArgument(f"input {name!r} has no data")
        try:
            array = np.asarray(spec["data"], dtype=dtype)
        except (ValueError, TypeError) as exc:
            raise SignatureError(f"input {name!r}: data is not {datatype}: {exc}", column=name) from None
    if array.size != size:
        raise SignatureError(f"input {name!r}: {array.size} values do not fill shape {shape}", column=name)
    return name, array.reshape(shape), offset


def _from_binary(name: str, raw: bytes, datatype: str, size: int) -> np.ndarray:
    if datatype != "BYTES":
        try:
            return np.frombuffer(raw, dtype=DATATYPES[datatype])
        except ValueError as exc:
            raise SignatureError(f"input {name!r}: binary data is not {datatype}: {exc}", column=name) from None
    items, position = [], 0
    while position < len(raw):
        (length,) = struct.unpack_from("<I", raw, position)
        items.append(raw[position + 4 : position + 4 + length].decode("utf-8", "replace"))
        position += 4 + length
    return np.asarray(items, dtype=object)


def parse_infer(request: Request) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    body, binary = request.body, None
    announced = request.headers.get(b"inference-header-content-length")
    if announced is not None:
        if not announced.isdigit() or int(announced) > len(body):
            raise InvalidArgument("Inference-Header-Content-Length does not fit the body")
        body, binary = request.body[: int(announced)], request.body[int(announced) :]
    payload = decode.parse_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list) or not payload["inputs"]:
        raise InvalidArgument("the body must be an object with a non-empty 'inputs' list")
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for spec in payload["inputs"]:
        name, array, offset = _tensor(spec, binary, offset)
        if name in arrays:
            raise SignatureError(f"input {name!r} is given twice", column=name)
        arrays[name] = array
    return payload, arrays


def decoder_for(arrays: dict[str, np.ndarray]) -> Decoder:
    def run(spec: InputSpec) -> Any:
        if spec.kind == "tensor" or not spec.columns:
            if len(arrays) != 1:
                raise SignatureError(f"this model takes one tensor, got {len(arrays)} inputs")
            (array,) = arrays.values()
            return _enforce_tensor(spec, array)
        if len(arrays) == 1 and next(iter(arrays)) not in spec.columns:
            ((name, array),) = arrays.items()
            if array.ndim != 2 or array.shape[1] != len(spec.columns):
                raise SignatureError(
                    f"input {name!r} must be one tensor per column {list(spec.columns)}, or one "
                    f"[n, {len(spec.columns)}] tensor in that order; got shape {list(array.shape)}",
                    column=name,
                )
            return decode.from_named_arrays(spec, {c: array[:, i] for i, c in enumerate(spec.columns)})
        columns = {}
        for name, array in arrays.items():
            if array.ndim == 2 and array.shape[1] == 1:
                array = array[:, 0]
            if array.ndim != 1:
                raise SignatureError(
                    f"input {name!r} must have shape [n] or [n, 1], got {list(array.shape)}", column=name
                )
            columns[name] = array
        if len({len(a) for a in columns.values()}) != 1:
            raise SignatureError("every input tensor must hold the same number of rows")
        return decode.from_named_arrays(spec, columns)

    return run


def _enforce_tensor(spec: InputSpec, array: np.ndarray) -> Any:
    return array if spec.signature is None else spec.signature.enforce(array)


# -- routes -------------------------------------------------------------------------------------


def _metadata(endpoint: Endpoint) -> dict[str, Any]:
    host: ModelHost = endpoint.live[0].host
    spec = host.input
    if spec.kind == "tensor" and spec.signature is not None:
        shape = list(spec.signature.inputs[0].shape or [-1])
        inputs = [{"name": "input-0", "datatype": datatype_of(spec.dtypes[0]), "shape": shape}]
    else:
        inputs = [
            {"name": c, "datatype": datatype_of(d), "shape": [-1]}
            for c, d in zip(spec.columns, spec.dtypes, strict=True)
        ]
    label = datatype_of(np.asarray(host.classes).dtype) if host.classes else "FP64"
    outputs = [{"name": "predict", "datatype": label, "shape": [-1]}]
    if host.has_proba:
        outputs.append({"name": "predict_proba", "datatype": "FP64", "shape": [-1, len(host.classes or [])]})
    return {
        "name": endpoint.name,
        "versions": sorted({str(v.model_version) for v in endpoint.variants}),
        "platform": f"modelyard-{host.flavor}",
        "inputs": inputs,
        "outputs": outputs,
    }


def _output(name: str, outputs: Any, *, binary: bool) -> tuple[dict[str, Any], bytes | None]:
    """The output's JSON entry, and its raw bytes when it is answered in binary."""
    array = np.asarray(outputs.to_numpy() if hasattr(outputs, "to_numpy") else outputs)
    datatype = datatype_of(array.dtype)
    entry: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(array.shape)}
    flat = array.ravel()
    if binary:
        raw = _to_binary(flat, datatype)
        entry["parameters"] = {"binary_data_size": len(raw)}
        return entry, raw
    data: Any = flat
    if datatype == "BYTES" or not flat.flags.c_contiguous:
        data = [str(v) for v in flat.tolist()] if datatype == "BYTES" else flat.copy()
    entry["data"] = data
    return entry, None


def _to_binary(flat: np.ndarray, datatype: str) -> bytes:
    """Triton's binary layout: little-endian values; BYTES as (uint32 length, UTF-8 bytes) each."""
    if datatype == "BYTES":
        parts = []
        for value in flat.tolist():
            item = value if isinstance(value, bytes) else str(value).encode("utf-8")
            parts.append(struct.pack("<I", len(item)) + item)
        return b"".join(parts)
    return np.ascontiguousarray(flat, dtype=np.dtype(DATATYPES[datatype]).newbyteorder("<")).tobytes()


async def route(app: ServingApp, request: Request, parts: list[str]) -> Response:
    try:
        return await _route(app, request, parts)
    except Exception as exc:
        return error_response(exc)


async def _route(app: ServingApp, request: Request, parts: list[str]) -> Response:
    rest = parts[1:]
    if not rest or rest == [""]:
        return json_response(200, {"name": "modelyard", "version": __version__, "extensions": ["binary_tensor_data"]})
    if rest[0] == "health" and len(rest) == 2 and rest[1] in ("live", "ready"):
        if rest[1] == "live":
            return json_response(200, {"live": True})
        ready = bool(app.state.names())
        return json_response(200 if ready else 503, {"ready": ready})
    if rest[0] != "models" or len(rest) < 2:
        raise NotFound(f"no route {request.path}")
    endpoint = app.state.get(rest[1])
    tail, version = rest[2:], None
    if len(tail) >= 2 and tail[0] == "versions":
        if not tail[1].isdigit():
            raise NotFound(f"model {endpoint.name!r} has no version {tail[1][:40]!r}")
        version = int(tail[1])
        if version not in {v.model_version for v in endpoint.live}:
            raise NotFound(f"model {endpoint.name!r} does not serve version {version}")
        tail = tail[2:]
    if not tail:
        return json_response(200, _metadata(endpoint))
    if tail == ["ready"]:
        return json_response(200, {"name": endpoint.name, "ready": True})
    if tail != ["infer"]:
        raise NotFound(f"no route {request.path}")
    if request.method != "POST":
        return json_response(405, {"error": "use POST"}, ((b"allow", b"POST"),))
    payload, arrays = parse_infer(request)
    wanted = _wanted(payload)
    decoder = decoder_for(arrays)
    outputs: list[dict[str, Any]] = []
    raw: list[bytes] = []
    prediction = None
    for name, binary in wanted:
        prediction = await app.predict(
            request, endpoint.name, decoder, proba=name == "predict_proba", protocol="v2", version=version
        )
        entry, data = _output(name, prediction.outputs, binary=binary)
        outputs.append(entry)
        if data is not None:
            raw.append(data)
        version = prediction.variant.model_version  # every output from the same variant
    assert prediction is not None
    body = {
        "model_name": endpoint.name,
        "model_version": str(prediction.variant.model_version),
        "id": payload.get("id") if isinstance(payload.get("id"), str) else prediction.request_id,
        "outputs": outputs,
    }
    if not raw:
        return json_response(200, body)
    header = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(
        200,
        header + b"".join(raw),
        b"application/octet-stream",
        ((b"inference-header-content-length", str(len(header)).encode()),),
    )


def _flag(parameters: Any, key: str) -> bool | None:
    if parameters is None:
        return None
    if not isinstance(parameters, dict):
        raise InvalidArgument("parameters must be an object")
    value = parameters.get(key)
    if value is not None and not isinstance(value, bool):
        raise InvalidArgument(f"parameter {key!r} must be true or false, got {value!r}")
    return value


def _wanted(payload: dict[str, Any]) -> list[tuple[str, bool]]:
    """(output name, answered in binary) for each requested output, in the request's order."""
    every = bool(_flag(payload.get("parameters"), "binary_data_output"))
    requested = payload.get("outputs")
    if requested is None:
        return [("predict", every)]
    if not isinstance(requested, list) or not requested:
        raise InvalidArgument("outputs must be a non-empty list of {'name': ...}")
    names = []
    for item in requested:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in OUTPUTS:
            raise SignatureError(f"unknown output {name!r}; this model has {', '.join(OUTPUTS)}", column=str(name))
        own = _flag(item.get("parameters"), "binary_data")
        names.append((name, every if own is None else own))
    return names
