"""The run half of the lineage graph's downstream walk over SQL, a mixin of ``SqlTrackingStore``.

Each method answers one reverse question with one indexed query, never a scan, ordered the same
way (project name, start time, run id): which runs read dataset version NAME@vN
(``find_runs_by_input``, index ``ix_run_inputs_name_version``, migration ``0002``), which runs
are children of a run (``list_child_runs``, ``ix_runs_parent``), and which runs used model
version NAME@N (``find_runs_using_model``, ``ix_run_model_uses_model``, migration ``0004``; batch
scoring records the use with ``log_model_use``). Deleted runs and runs of deleted projects are
left out, as the project listing and ``search_runs`` leave them out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from modelyard.core.errors import InvalidArgument
from modelyard.core.tracking import LifecycleStage, RunLink
from modelyard.core.validation import validate_entity_name, validate_key
from modelyard.store.sql.database import Transaction, version_number
from modelyard.store.sql.schema import projects, run_inputs, run_model_uses, runs

#: The largest model version number (the registry's versions are 32-bit integers).
MAX_MODEL_VERSION = 2**31 - 1
_ACTIVE = LifecycleStage.ACTIVE.value


def model_version_number(version: object) -> int:
    """A model version number as these methods take it (InvalidArgument otherwise)."""
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidArgument(f"a model version is an integer, got {version!r}")
    return version


class SqlRunLinks:
    """The lineage lookups of ``SqlTrackingStore`` (it provides ``_read``, ``_write``, ``_insert``
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

    # --- reverse lookups of the lineage graph's downstream walk -----------------------------

    def find_runs_by_input(self, name: str, version: int) -> list[RunLink]:
        number = version_number(version)
        # The SDK records "v3"; older callers and other tools wrote "3": both name the version.
        stmt = _live_runs(
            select(run_inputs.c.run_id, runs.c.project_id, run_inputs.c.context)
            .select_from(
                run_inputs.join(runs, runs.c.id == run_inputs.c.run_id).join(
                    projects, projects.c.id == runs.c.project_id
                )
            )
            .where(run_inputs.c.name == name, run_inputs.c.version.in_([f"v{number}", str(number)]))
        ).order_by(projects.c.name, runs.c.start_time, runs.c.id, run_inputs.c.version, run_inputs.c.context)

        def tx(conn: Connection) -> list[RunLink]:
            return [RunLink(run_id, project_id, context or None) for run_id, project_id, context in conn.execute(stmt)]

        return self._read(tx)

    def list_child_runs(self, parent_run_id: str) -> list[RunLink]:
        stmt = _live_runs(
            select(runs.c.id, runs.c.project_id)
            .select_from(runs.join(projects, projects.c.id == runs.c.project_id))
            .where(runs.c.parent_run_id == parent_run_id)
        ).order_by(projects.c.name, runs.c.start_time, runs.c.id)
        return self._read(lambda conn: [RunLink(run_id, project_id) for run_id, project_id in conn.execute(stmt)])


def _live_runs(stmt: Any) -> Any:
    """Active runs of active projects only, as the project listing and ``search_runs`` show them."""
    return stmt.where(runs.c.lifecycle_stage == _ACTIVE, projects.c.lifecycle_stage == _ACTIVE)
