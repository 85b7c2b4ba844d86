"""The one base of every entity of the domain.

Entities are immutable values: a store returns them, a service passes them on, nobody mutates one
in place (``model_copy(update=...)`` makes the changed copy). Unknown fields are refused, so a
typo in a constructor or a row with a column the entity does not know fails loudly.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Entity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
