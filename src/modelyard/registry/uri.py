"""Model references: ``NAME@3`` (a version), ``NAME@champion`` (an alias), ``NAME@latest`` and
``NAME@production`` / ``NAME@staging`` (the version in that state). ``models:/`` may prefix any.

State names and ``latest`` are reserved: they can never be alias names, so a reference has one
meaning whatever aliases exist. Alias names start with a letter and are never all digits, so
``NAME@3`` is always version 3.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from modelyard.core.errors import InvalidArgument
from modelyard.core.registry import ModelState
from modelyard.core.validation import MAX_VERSION, bounded_int

PREFIX = "models:/"
LATEST = "latest"
STATE_REFERENCES = frozenset({ModelState.STAGING.value, ModelState.PRODUCTION.value})
#: Names that can never be aliases: every state, and "latest".
RESERVED_ALIASES = frozenset({s.value for s in ModelState} | {LATEST})
_ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")


@dataclass(frozen=True)
class ModelRef:
    name: str
    kind: Literal["version", "alias", "latest", "state"]
    value: str  # the version number as text, the alias, "latest", or the state name

    @property
    def version(self) -> int:
        if self.kind != "version":
            raise InvalidArgument(f"{self} does not name a version number")
        return int(self.value)

    def __str__(self) -> str:
        return f"{self.name}@{self.value}"


def validate_alias(alias: str) -> str:
    """A usable alias name: a letter, then letters, digits, '_' or '-'; not reserved."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidArgument(f"invalid alias {alias!r}: 1-64 letters, digits, '_' or '-', starting with a letter")
    if alias.lower() in RESERVED_ALIASES:
        raise InvalidArgument(
            f"alias {alias!r} is reserved (state names and 'latest' resolve by themselves); pick another name"
        )
    return alias


def parse_model_ref(reference: str) -> ModelRef:
    """Parse ``[models:/]NAME@(VERSION|ALIAS|latest|production|staging)``."""
    if not isinstance(reference, str):
        raise InvalidArgument(f"a model reference must be a string like 'churn@3', got {type(reference).__name__}")
    text = reference[len(PREFIX) :] if reference.startswith(PREFIX) else reference
    name, sep, selector = text.rpartition("@")
    if not sep or not name.strip() or not selector:
        raise InvalidArgument(
            f"invalid model reference {reference!r}: expected NAME@VERSION, NAME@ALIAS, NAME@latest or NAME@production"
        )
    if selector.isdigit():
        number = bounded_int(selector, f"version in model reference {name[:80]!r}", low=1, high=MAX_VERSION)
        return ModelRef(name, "version", str(number))
    lowered = selector.lower()
    if lowered == LATEST:
        return ModelRef(name, "latest", LATEST)
    if lowered in STATE_REFERENCES:
        return ModelRef(name, "state", lowered)
    if lowered in RESERVED_ALIASES:
        raise InvalidArgument(
            f"invalid model reference {reference!r}: only the production and staging states resolve to one version"
        )
    return ModelRef(name, "alias", validate_alias(selector))
