"""The model versions runs used, over SQL (``TrackingStore``'s ``log_model_use`` and
``find_runs_using_model``), a mixin of ``SqlTrackingStore``.

Batch scoring records the model version it predicted with in ``run_model_uses`` (migration
``0004``). The lineage graph's downstream walk asks the reverse question, "which runs used
NAME@N", once per model version it reaches: one query on ``ix_run_model_uses_model``, ordered
as the other reverse lookups (project name, start time, run id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import LifecycleStage, RunLink
from modelyard.core.validation import validate_entity_name, validate_key
from modelyard.store.sql.database import Transaction
from modelyard.store.sql.schema import projects, run_model_uses, runs

#: The largest model version number (the registry's versions are 32-bit integers).
MAX_MODEL_VERSION = 2**31 - 1
_ACTIVE = LifecycleStage.ACTIVE.value


def model_version_number(version: object) -> int:
    """A model version number as these methods take it (InvalidArgument otherwise)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidArgument(f"a model version is an integer, got {version!r}")
    return version


class SqlRunModelUses:
    """The model-use half of ``SqlTrackingStore`` (it provides ``_read``, ``_write``, ``_insert``
    and ``_require_run``)."""

    _read: Transaction
    _write: Transaction
    _insert: Callable[[Any], Any]

    def _require_run(self, conn: Connection, run_id: str) -> None:  # pragma: no cover - SqlTrackingStore's
        raise NotImplementedError

    def log_model_use(self, run_id: str, name: str, version: int, context: str) -> None:
        validate_entity_name(name, "model name")
        number = model_version_number(version)
        if not 1 <= number <= MAX_MODEL_VERSION:
            raise InvalidArgument(f"invalid model version {number}: must be between 1 and {MAX_MODEL_VERSION}")
        validate_key(context, "context")
        row = {"run_id": run_id, "model_name": name, "model_version": number, "context": context}

        def tx(conn: Connection) -> None:
            self._require_run(conn, run_id)
            conn.execute(self._insert(run_model_uses).on_conflict_do_nothing(), [row])

        self._write(tx)

    def find_runs_using_model(self, name: str, version: int) -> list[RunLink]:
        number = model_version_number(version)
        if not 1 <= number <= MAX_MODEL_VERSION:
            return []  # no model has such a version (and the column would not hold it)
        stmt = (
            select(run_model_uses.c.run_id, runs.c.project_id, run_model_uses.c.context)
            .select_from(
                run_model_uses.join(runs, runs.c.id == run_model_uses.c.run_id).join(
                    projects, projects.c.id == runs.c.project_id
                )
            )
            .where(
                run_model_uses.c.model_name == name,
                run_model_uses.c.model_version == number,
                runs.c.lifecycle_stage == _ACTIVE,
                projects.c.lifecycle_stage == _ACTIVE,
            )
            .order_by(projects.c.name, runs.c.start_time, runs.c.id, run_model_uses.c.context)
        )

        def tx(conn: Connection) -> list[RunLink]:
            return [RunLink(run_id, project_id, context) for run_id, project_id, context in conn.execute(stmt)]

        return self._read(tx)
