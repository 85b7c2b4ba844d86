"""Building blocks of the v1 wire schemas: the base model, JSON-safe floats, bounded integers.

JSON has no NaN or infinity, but metric values may be either. On the wire they are the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (what pydantic writes with
``ser_json_inf_nan="strings"`` and reads back into a float), never ``null``, which would make a
NaN point indistinguishable from a missing one. Integers are bounded to what the stores keep
(64-bit), so an oversized number is a 422 at the edge instead of a database overflow.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

__all__ = [
    "NON_FINITE",
    "Int64",
    "Millis",
    "WireFloat",
    "WireModel",
    "encode_float",
]

#: JSON spellings of the float values JSON cannot express.
NON_FINITE = ("NaN", "Infinity", "-Infinity")


class WireModel(BaseModel):
    """Base of every request and response body: unknown fields are refused (a typo is a 422,
    not a silently ignored option) and non-finite floats travel as strings."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings")


#: A float that may be NaN or +-inf (spelled as a string in JSON, see the module docstring).
WireFloat = Annotated[
    float,
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "enum": list(NON_FINITE)}]}),
]
Int64 = Annotated[int, Field(ge=-(2**63), lt=2**63)]
#: Milliseconds since the epoch.
Millis = Annotated[int, Field(ge=0, lt=2**63)]


def encode_float(value: float) -> Any:
    """A float as it goes into a JSON document built by hand (the metric batch hot path)."""
    if value - value == 0.0:  # finite
        return value
    if math.isnan(value):
        return "NaN"
    return "Infinity" if value > 0 else "-Infinity"
