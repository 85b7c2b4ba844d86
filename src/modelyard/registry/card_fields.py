"""The hand-written fields of a model card (intended use, limitations, owners, ...): which fields
exist, how they are checked, and how an edit is stored with the version (an audit event).

The card itself (generated from the version, its run and its newest evaluation, and rendered as
Markdown or HTML) is a report: ``modelyard.reports.cards``. What is stored, and the rule for it,
stays with the registry that stores it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService

__all__ = ["EDITABLE_FIELDS", "MAX_FIELD_LENGTH", "set_card_fields", "validate_fields"]

#: The editable fields, in the order a card shows them, with their headings.
EDITABLE_FIELDS: dict[str, str] = {
    "intended_use": "Intended use",
    "out_of_scope_use": "Out-of-scope use",
    "limitations": "Limitations",
    "ethical_considerations": "Ethical considerations",
    "owners": "Owners",
    "contact": "Contact",
    "notes": "Notes",
}
MAX_FIELD_LENGTH = 20_000


def validate_fields(changes: Mapping[str, str | None]) -> dict[str, str | None]:
    """Only the known editable fields; values are stripped text (empty or None removes a field)."""
    clean: dict[str, str | None] = {}
    for key, value in changes.items():
        name = key.strip().lower().replace("-", "_").replace(" ", "_")
        if name not in EDITABLE_FIELDS:
            raise InvalidArgument(f"unknown model card field {key!r}; editable fields: {', '.join(EDITABLE_FIELDS)}")
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(f"model card field {name!r} must be text, got {type(value).__name__}")
        text = None if value is None else value.strip()
        if text is not None and len(text) > MAX_FIELD_LENGTH:
            raise InvalidArgument(f"model card field {name!r} is longer than {MAX_FIELD_LENGTH} characters")
        clean[name] = text or None
    if not clean:
        raise InvalidArgument("nothing to change: give at least one field")
    return clean


def set_card_fields(
    registry: RegistryService, name: str, version: int, changes: Mapping[str, str | None], *, actor: str
) -> None:
    """Store an edit of a version's hand-written card fields (a ``card_updated`` event)."""
    from modelyard.registry.service import _actor

    clean = validate_fields(changes)
    registry.store.update_model_card_fields(name, version, clean, actor=_actor(actor), at=registry.clock())
