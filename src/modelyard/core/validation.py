"""Validation of names and values shared by every store and edge."""

from __future__ import annotations

import math
import re

from modelyard.core.errors import InvalidArgument

_KEY_RE = re.compile(r"^[A-Za-z0-9_\-. /:]+$")
MAX_KEY_LENGTH = 250
MAX_PARAM_VALUE_LENGTH = 6000
MAX_TAG_VALUE_LENGTH = 8000
MAX_NAME_LENGTH = 256
#: Bounds of the integers the stores keep (64-bit columns) and of version numbers (32-bit).
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
MAX_VERSION = 2**31 - 1
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")

# The rules below as JSON-schema patterns, so that the wire schemas state them (a client, a
# fuzzer, a form reads the rule from the schema). ``tests/unit/test_validation_patterns.py``
# checks each against the function that applies it.
#: Python's ``$`` also matches before a final newline (JSON schema's does not): every pattern that
#: Python evaluates (look-arounds need its engine) first refuses a newline anywhere.
NO_NEWLINE = r"(?![^\n]*\n)"
_SEGMENT = r"(?!\.\.?(?:/|$))[^/\\\x00-\x1f\x7f]+"
#: ``validate_entity_name``: no control character, backslash, leading '-', leading or trailing
#: space; parts separated by '/' are never empty, '.' or '..'.
ENTITY_NAME_PATTERN = rf"^{NO_NEWLINE}(?!-)(?!\s)(?!.*\s$){_SEGMENT}(?:/{_SEGMENT})*$"
#: ``artifacts.paths.parse_digest``: ``sha256:`` and 64 lowercase hex digits, or ``blake2b:`` /
#: ``sha512:`` and 128.
DIGEST_PATTERN = r"^(?:sha256:[0-9a-f]{64}|(?:blake2b|sha512):[0-9a-f]{128})$"
#: ``validate_key``: params, tags and metric keys.
KEY_PATTERN = NO_NEWLINE.join(("^", r"(?!/)(?!(?:.*/)?\.\.(?:/|$))[A-Za-z0-9_\-. /:]+$"))


def validate_key(key: object, kind: str = "key") -> str:
    """Keys of params, metrics and tags: letters, digits, ``_ - . / : space``; no ``..`` path escapes."""
    if not isinstance(key, str) or not key:
        raise InvalidArgument(f"invalid {kind} name {key!r}: must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidArgument(f"invalid {kind} name {key[:40]!r}...: longer than {MAX_KEY_LENGTH} characters")
    if not _KEY_RE.fullmatch(key):
        raise InvalidArgument(f"invalid {kind} name {key!r}: only letters, digits and _ - . / : space are allowed")
    if key.startswith("/") or ".." in key.split("/"):
        raise InvalidArgument(f"invalid {kind} name {key!r}: must not start with '/' or contain '..'")
    return key


def validate_name(name: object, kind: str = "name") -> str:
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(f"invalid {kind} {name!r}: must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidArgument(f"invalid {kind} {name[:40]!r}...: longer than {MAX_NAME_LENGTH} characters")
    return name


def validate_entity_name(name: object, kind: str = "name") -> str:
    """The one rule for everything a user names and later refers to by name: projects, models,
    datasets (which add their own character set on top), and what comes later (deployments,
    feature views). Non-empty, at most MAX_NAME_LENGTH characters, no control characters (NUL
    included), no backslash, no leading '-' (it would read as an option on a command line) and
    no leading or trailing space. '/' may separate parts of a name ("team/churn"), but no part
    is empty, '.' or '..', so a name never climbs out of a directory it is joined to."""
    validate_name(name, kind)
    assert isinstance(name, str)
    if _CONTROL_RE.search(name):
        raise InvalidArgument(f"invalid {kind} {name!r}: contains a control character")
    if "\\" in name:
        raise InvalidArgument(f"invalid {kind} {name!r}: contains a backslash")
    if name.startswith("-"):
        raise InvalidArgument(f"invalid {kind} {name!r}: must not start with '-'")
    if name != name.strip():
        raise InvalidArgument(f"invalid {kind} {name!r}: must not start or end with a space")
    if any(part in ("", ".", "..") for part in name.split("/")):
        raise InvalidArgument(f"invalid {kind} {name!r}: parts separated by '/' must not be empty, '.' or '..'")
    return name


def bounded_int(value: object, name: str, *, low: int = INT64_MIN, high: int = INT64_MAX) -> int:
    """An integer from an edge (a string typed on a command line, a number in a token), checked
    to lie in ``[low, high]`` before it reaches a store column or a datetime."""
    if isinstance(value, bool):
        raise InvalidArgument(f"invalid {name} {value!r}: not an integer")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdigit() or not digits.isascii():
            raise InvalidArgument(f"invalid {name} {value[:60]!r}: not an integer")
        if len(digits) > 40:
            raise InvalidArgument(f"invalid {name} {text[:40]}...: must be between {low} and {high}")
        number = int(text)
    elif isinstance(value, int):
        number = value
    else:
        raise InvalidArgument(f"invalid {name} {value!r}: not an integer")
    if not low <= number <= high:
        raise InvalidArgument(f"invalid {name} {number}: must be between {low} and {high}")
    return number


def param_value_to_str(value: object) -> str:
    """Params are stored as strings, the way they were given (``0.1`` -> ``"0.1"``)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_PARAM_VALUE_LENGTH:
        raise InvalidArgument(f"param value longer than {MAX_PARAM_VALUE_LENGTH} characters")
    return text


def tag_value_to_str(value: object) -> str:
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgument(f"tag value longer than {MAX_TAG_VALUE_LENGTH} characters")
    return text


def metric_value(value: object, key: str) -> float:
    """Metric values are floats; NaN and +-inf are kept as they are."""
    if isinstance(value, bool):
        return float(value)
    try:
        result = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidArgument(f"metric {key!r} value {value!r} is not a number")
    if math.isnan(result):
        return math.nan
    return result


def metric_step(step: object, key: str) -> int:
    if isinstance(step, bool) or not isinstance(step, int):
        try:
            if isinstance(step, float) and step.is_integer():
                return int(step)
            if hasattr(step, "__index__"):
                return int(step.__index__())  # numpy ints
        except (TypeError, ValueError):
            pass
        raise InvalidArgument(f"metric {key!r} step {step!r} is not an integer")
    if step < -(2**63) or step >= 2**63:
        raise InvalidArgument(f"metric {key!r} step {step} is out of the 64-bit range")
    return step
