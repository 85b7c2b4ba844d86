"""Building blocks of the v1 wire schemas: the base model, JSON-safe floats, bounded integers.

JSON has no NaN or infinity, but metric values may be either. On the wire they are the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (what pydantic writes with
``ser_json_inf_nan="strings"`` and reads back into a float), never ``null``, which would make a
NaN point indistinguishable from a missing one. Integers are bounded to what the stores keep
(64-bit), so an oversized number is a 422 at the edge instead of a database overflow.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
)

from modelyard.core.validation import (
    DIGEST_PATTERN,
    ENTITY_NAME_PATTERN,
    KEY_PATTERN,
    MAX_KEY_LENGTH,
    MAX_NAME_LENGTH,
    MAX_PARAM_VALUE_LENGTH,
    MAX_TAG_VALUE_LENGTH,
    NO_NEWLINE,
)

__all__ = [
    "ARTIFACT_PATH_PATTERN",
    "JSON_INTEGER",
    "MAX_SAFE_INT",
    "NON_FINITE",
    "NORMAL_ARTIFACT_PATH_PATTERN",
    "Actor",
    "ArtifactPath",
    "Bool",
    "Count",
    "Digest",
    "EntityName",
    "Int64",
    "Integer",
    "Key",
    "Millis",
    "NormalArtifactPath",
    "Params",
    "Tags",
    "WireFloat",
    "WireModel",
    "matching",
]

#: JSON spellings of the float values JSON cannot express.
NON_FINITE = ("NaN", "Infinity", "-Infinity")


class WireModel(BaseModel):
    """Base of every request and response body: unknown fields are refused (a typo is a 422,
    not a silently ignored option) and non-finite floats travel as strings."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="strings", regex_engine="python-re")


#: Integers a JSON number holds exactly in every client (JavaScript's Number.MAX_SAFE_INTEGER
#: is 2**53 - 1): the bound of times, sizes and steps on the wire, so that the schema's bounds
#: mean the same to every reader of it.
MAX_SAFE_INT = 2**53 - 1


def _number_or_non_finite(value: Any) -> Any:
    """No coercion: a JSON number, or one of the three strings of ``NON_FINITE``."""
    if isinstance(value, bool) or (isinstance(value, str) and value not in NON_FINITE):
        raise ValueError("expected a number or one of 'NaN', 'Infinity', '-Infinity'")
    return value


#: A float that may be NaN or +-inf (spelled as a string in JSON, see the module docstring).
WireFloat = Annotated[
    float,
    BeforeValidator(_number_or_non_finite),
    WithJsonSchema({"anyOf": [{"type": "number"}, {"type": "string", "enum": list(NON_FINITE)}]}),
]


def _json_integer(value: Any) -> Any:
    """What JSON Schema calls an integer (``3`` or ``3.0``), never ``"3"`` nor ``true``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("expected an integer")
    return value


#: Request fields take what their schema says and nothing it does not: no ``"3"`` for 3, no
#: ``0``/``"true"`` for a boolean (pydantic's lax mode would convert them).
Bool = StrictBool
#: After the bounds (``Annotated[int, Field(ge=..), JSON_INTEGER]``), so the schema keeps them.
JSON_INTEGER = BeforeValidator(_json_integer)
Integer = Annotated[int, JSON_INTEGER]
Int64 = Annotated[int, Field(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT), JSON_INTEGER]
#: Milliseconds since the epoch.
Millis = Annotated[int, Field(ge=0, le=MAX_SAFE_INT), JSON_INTEGER]
#: A count or a size in bytes.
Count = Annotated[int, Field(ge=0, le=MAX_SAFE_INT), JSON_INTEGER]
#: The name of a project, a model, ... (``core.validation.validate_entity_name``).
EntityName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=ENTITY_NAME_PATTERN)]
#: Who made a change: a name that is not blank once stripped (``core.validation.validate_name``
#: strips the way ``str.strip`` does, which also counts \x1c-\x1f as blank).
ACTOR_PATTERN = r"[^\s\x1c-\x1f]"
Actor = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=ACTOR_PATTERN)]
#: A param, tag or metric key (``core.validation.validate_key``).
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY_LENGTH, pattern=KEY_PATTERN)]
_KEY_NAMES = {"propertyNames": {"minLength": 1, "maxLength": MAX_KEY_LENGTH, "pattern": KEY_PATTERN}}
#: Params and tags by key (the keys' rule stated as ``propertyNames``).
Params = Annotated[
    dict[Key, Annotated[str, Field(max_length=MAX_PARAM_VALUE_LENGTH)]], Field(json_schema_extra=_KEY_NAMES)
]
Tags = Annotated[dict[Key, Annotated[str, Field(max_length=MAX_TAG_VALUE_LENGTH)]], Field(json_schema_extra=_KEY_NAMES)]
#: ``artifacts.paths.safe_relpath`` (its backslash rules left to the server): a relative path, no
#: control character, no '..' component nor one made only of dots and spaces, no drive prefix, components
#: of at most 255 characters, names a file.
ARTIFACT_PATH_PATTERN = (
    r"^(?![^\n]*\n)(?!/)(?!(?:[^/]*/)*(?:\.\.|[. ]*\ [. ]*|\.{3,})(?:/|$))(?!(?:\.?/)*\.?$)(?!(?:\.?/)*[^/]:)"
    r"(?:[^/\x00-\x1f\x7f]{0,255}/)*[^/\x00-\x1f\x7f]{0,255}$"
)
ArtifactPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=ARTIFACT_PATH_PATTERN)]
#: An artifact path in its normal form (what a manifest records): no empty or '.' component.
NORMAL_ARTIFACT_PATH_PATTERN = r"^(?!(?:[^/]*/)*\.?(?:/|$))" + ARTIFACT_PATH_PATTERN[1:]
NormalArtifactPath = Annotated[str, Field(min_length=1, max_length=4096, pattern=NORMAL_ARTIFACT_PATH_PATTERN)]
#: A content address: a known algorithm and its lowercase hex digest (``artifacts.paths.parse_digest``).
Digest = Annotated[str, Field(pattern=NO_NEWLINE.join(("^", DIGEST_PATTERN[1:])))]


def matching(pattern: str, what: str) -> AfterValidator:
    """For path and query parameters, which FastAPI validates outside a ``WireModel`` (whose
    config lets ``Field(pattern=...)`` use Python's regex engine, with its look-aheads): check
    ``pattern`` in Python; pass it to the parameter's ``json_schema_extra`` to document it."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.search(value):
            raise ValueError(f"invalid {what} {value[:80]!r}: see the parameter's pattern in the schema")
        return value

    return AfterValidator(check)
