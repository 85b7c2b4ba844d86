"""Dataset names and references: ``NAME``, ``NAME@v3``, ``NAME@3``, ``NAME@latest``, ``NAME@<hash>``.

A reference is how a user names one immutable version, on the command line, in the SDK and in
lineage. The hash form is the manifest digest (``sha256:ab12...``) or any unambiguous hex prefix of
it of at least 4 digits, like a Git commit: it names the *content*, so it keeps meaning the same
bytes even if version numbers were allocated differently in another store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from modelyard.core.errors import InvalidArgument
from modelyard.core.validation import MAX_VERSION, bounded_int, validate_entity_name

__all__ = ["DatasetRef", "parse_ref", "validate_dataset_name"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-/]{0,199}$")
_VERSION_RE = re.compile(r"^v?([0-9]{1,9})$")
_HASH_RE = re.compile(r"^(?:(?:sha256|blake2b|sha512):)?[0-9a-f]{4,128}$")


def validate_dataset_name(name: object) -> str:
    """Letters, digits, ``_ . - /``; no ``@`` (it separates the version) and no ``..``."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidArgument(
            f"invalid dataset name {name!r}: 1-200 of letters, digits and _ . - /, starting with a letter or digit"
        )
    if ".." in name.split("/") or name.endswith("/"):
        raise InvalidArgument(f"invalid dataset name {name!r}: no '..' component and no trailing '/'")
    return validate_entity_name(name, "dataset name")


@dataclass(frozen=True)
class DatasetRef:
    """A parsed reference: exactly one of ``version`` / ``digest_prefix`` is set, or neither (latest)."""

    name: str
    version: int | None = None
    digest_prefix: str | None = None

    @property
    def is_latest(self) -> bool:
        return self.version is None and self.digest_prefix is None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}@v{self.version}"
        if self.digest_prefix is not None:
            return f"{self.name}@{self.digest_prefix}"
        return f"{self.name}@latest"


def parse_ref(text: object) -> DatasetRef:
    """Parse a reference; ``InvalidArgument`` with the accepted forms if it is malformed.

    ``v12`` and ``12`` are version numbers; anything else after ``@`` must look like a digest. A
    hex prefix made only of digits (``@1234``) is read as a version number: write ``v`` or
    ``sha256:`` when that matters."""
    if not isinstance(text, str) or not text:
        raise InvalidArgument(f"invalid dataset reference {text!r}: expected NAME, NAME@vN, NAME@latest or NAME@<hash>")
    name, sep, selector = text.partition("@")
    name = validate_dataset_name(name)
    if not sep or selector == "latest":
        return DatasetRef(name)
    match = _VERSION_RE.match(selector)
    if match is not None:
        number = bounded_int(match.group(1), f"version in dataset reference {name!r}", low=1, high=MAX_VERSION)
        return DatasetRef(name, version=number)
    if _HASH_RE.match(selector):
        return DatasetRef(name, digest_prefix=selector)
    raise InvalidArgument(
        f"invalid dataset reference {text!r}: after '@' expected vN, latest, or a hash (4+ lowercase hex digits)"
    )
