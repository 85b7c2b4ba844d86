"""An OpenAPI 3.1 document per served model, built from its signature: what the columns are called,
their JSON types, which body shapes the predict route takes, and what comes back."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard._version import __version__

if TYPE_CHECKING:
    from modelyard.serving.endpoint import Endpoint
    from modelyard.serving.host import ModelHost

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": ["string", "null"]}, "expected": {"type": ["string", "null"]}},
                    },
                },
            },
            "required": ["code", "message"],
        }
    },
}


def json_type(dtype: str) -> dict[str, Any]:
    try:
        kind = np.dtype(dtype).kind
    except TypeError:
        kind = "U" if dtype == "string" else "O"
    if kind in "iu":
        return {"type": "integer"}
    if kind == "f":
        return {"type": "number"}
    if kind == "b":
        return {"type": "boolean"}
    if kind == "M":
        return {"type": "string", "format": "date-time"}
    if kind in "US":
        return {"type": "string"}
    return {}


def _input_schemas(host: ModelHost) -> dict[str, Any]:
    spec = host.input
    if spec.kind == "tensor" or not spec.columns:
        dtype = spec.dtypes[0] if spec.dtypes else "float64"
        tensor: dict[str, Any] = {"type": "array", "items": {"type": "array", "items": json_type(dtype)}}
        return {
            "Tensor": tensor,
            "Input": {
                "oneOf": [tensor, {"type": "object", "properties": {"ndarray": tensor}, "required": ["ndarray"]}]
            },
        }
    properties = {c: json_type(d) for c, d in zip(spec.columns, spec.dtypes, strict=True)}
    if spec.allow_nan:  # a float column may hold null (NaN) when the model takes missing values
        properties = {
            c: {"type": ["number", "null"]} if t.get("type") == "number" else t for c, t in properties.items()
        }
    record = {"type": "object", "properties": properties, "required": list(spec.columns), "additionalProperties": False}
    records = {"type": "array", "items": {"$ref": "#/components/schemas/Record"}, "minItems": 1}
    columns = {
        "type": "object",
        "properties": {c: {"type": "array", "items": t} for c, t in properties.items()},
        "required": list(spec.columns),
        "additionalProperties": False,
    }
    rows = {
        "type": "array",
        "items": {
            "type": "array",
            "prefixItems": list(properties.values()),
            "minItems": len(spec.columns),
            "maxItems": len(spec.columns),
        },
    }
    return {
        "Record": record,
        "Input": {
            "oneOf": [
                records,
                {
                    "type": "object",
                    "properties": {"records": records},
                    "required": ["records"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"columns": columns},
                    "required": ["columns"],
                    "additionalProperties": False,
                },
                {
                    "type": "object",
                    "properties": {"ndarray": rows},
                    "required": ["ndarray"],
                    "additionalProperties": False,
                },
                rows,
            ]
        },
    }


def openapi_document(endpoint: Endpoint) -> dict[str, Any]:
    host = endpoint.live[0].host
    schemas = _input_schemas(host)
    schemas["Error"] = _ERROR
    schemas["Prediction"] = {
        "type": "object",
        "properties": {
            "predictions": {"type": "array"},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "variant": {"type": "string"},
            "request_id": {"type": "string"},
            "classes": {"type": "array"},
        },
        "required": ["predictions", "model", "version", "variant", "request_id"],
    }
    schemas["Explanation"] = {
        "type": "object",
        "properties": {
            "explanations": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "base_value": {"type": "number"},
                        "output": {"type": "number"},
                        "attributions": {"type": "object", "additionalProperties": {"type": "number"}},
                    },
                    "required": ["base_value", "output", "attributions"],
                },
            },
            "method": {"type": "string", "enum": ["shap", "occlusion"]},
            "output": {"type": "string"},
            "additive": {"type": "boolean"},
            "features": {"type": "array", "items": {"type": "string"}},
            "model": {"type": "string"},
            "version": {"type": "integer"},
            "variant": {"type": "string"},
            "request_id": {"type": "string"},
        },
        "required": ["explanations", "method", "output", "additive", "features", "model", "version", "variant"],
    }
    errors = {
        str(code): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for code, text in (
            (400, "bad input: the message and details name the field"),
            (404, "no such model"),
            (413, "body over the server's limit"),
            (415, "unsupported content type"),
            (503, "overloaded: cannot answer within the latency budget (Retry-After)"),
        )
    }
    parameters = []
    if host.has_proba:
        parameters.append(
            {
                "name": "output",
                "in": "query",
                "required": False,
                "schema": {"type": "string", "enum": ["predict", "proba"]},
            }
        )
    body = {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Input"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
        },
    }
    paths: dict[str, Any] = {
        f"/v1/models/{endpoint.name}/predict": {
            "post": {
                "operationId": f"predict_{endpoint.name}",
                "parameters": parameters,
                "requestBody": body,
                "responses": {
                    "200": {
                        "description": "one prediction per row",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Prediction"}}},
                    },
                    **errors,
                },
            }
        }
    }
    if host.input.kind != "tensor" and host.input.columns:
        paths[f"/v1/models/{endpoint.name}/explain"] = {
            "post": {
                "operationId": f"explain_{endpoint.name}",
                "description": "Per-row feature attributions (SHAP for tree models, occlusion otherwise).",
                "parameters": [
                    {
                        "name": "method",
                        "in": "query",
                        "required": False,
                        "schema": {"type": "string", "enum": ["auto", "shap", "occlusion"]},
                    }
                ],
                "requestBody": body,
                "responses": {
                    "200": {
                        "description": "one explanation per row",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Explanation"}}},
                    },
                    **errors,
                },
            }
        }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{endpoint.name} (modelyard serving)",
            "version": __version__,
            "description": f"Model {host.model_name} version {host.model_version} ({host.flavor}).",
        },
        "paths": paths,
        "components": {"schemas": schemas},
    }
