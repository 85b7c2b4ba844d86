"""The reverse lookups of the lineage graph's downstream walk, mixed into ``SqlStore``.

Each aggregate records its lineage facts pointing upstream (a run's inputs, a run's parent, a
model version's run, a dataset version's parents and code), which is what the upstream walk
reads. The downstream walk asks the reverse questions; these methods answer each with one
indexed query instead of the scan of every run, model and dataset the graph once did:

=======================================  ========================================================
query                                    index
=======================================  ========================================================
``find_runs_by_input``                   ``ix_run_inputs_name_version`` (migration ``0002``)
``list_child_runs``                      ``ix_runs_parent``
``list_model_versions_by_run``           ``ix_model_versions_run``
``list_dataset_versions_derived_from``   ``ix_dataset_version_parents_parent``
``list_dataset_versions_by_run``         ``ix_dataset_versions_run`` (migration ``d0002``)
=======================================  ========================================================

They live together, rather than in each aggregate's mixin, because they share one purpose and
one set of ordering rules: the order of the scan they replaced (projects and datasets by name,
runs by start time then id), so the graph a walk produces did not change with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, select

from modelyard.core.entities import LifecycleStage
from modelyard.core.errors import InvalidArgument
from modelyard.store.datasets import DatasetVersion
from modelyard.store.interfaces import RunLink
from modelyard.store.models import ModelVersion
from modelyard.store.sql.datasets import dataset_version_parents, dataset_versions, datasets_table
from modelyard.store.sql.models_tables import model_aliases, model_versions, registered_models, version_from_row
from modelyard.store.sql.schema import projects, run_inputs, runs

T = TypeVar("T")
_ACTIVE = LifecycleStage.ACTIVE.value


def _version_number(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int):
        raise InvalidArgument(f"a dataset version is an integer, got {version!r}")
    return version


def _live_runs(stmt: Any) -> Any:
    """Active runs of active projects only, as the project listing and ``search_runs`` show them."""
    return stmt.where(runs.c.lifecycle_stage == _ACTIVE, projects.c.lifecycle_stage == _ACTIVE)


class SqlLineageQueriesMixin:
    """``find_runs_by_input``, ``list_child_runs``, ``list_model_versions_by_run``,
    ``list_dataset_versions_derived_from`` and ``list_dataset_versions_by_run`` of SqlStore."""

    if TYPE_CHECKING:

        def _read(self, fn: Callable[[Connection], T]) -> T: ...
        def _attach_parents(self, conn: Connection, rows: Iterable[tuple[Any, str]]) -> list[DatasetVersion]: ...

    # -- runs -----------------------------------------------------------------------------------
    def find_runs_by_input(self, name: str, version: int) -> list[RunLink]:
        number = _version_number(version)
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

    # -- model versions -------------------------------------------------------------------------
    def list_model_versions_by_run(self, run_id: str) -> list[ModelVersion]:
        stmt = (
            select(model_versions, registered_models.c.name.label("model_name"))
            .join(registered_models, registered_models.c.id == model_versions.c.model_id)
            .where(model_versions.c.run_id == run_id)
            .order_by(registered_models.c.name, model_versions.c.version.desc())
        )

        def tx(conn: Connection) -> list[ModelVersion]:
            rows = conn.execute(stmt).mappings().all()
            aliases: dict[tuple[str, int], list[str]] = {}
            if rows:
                found = conn.execute(
                    select(model_aliases.c.model_id, model_aliases.c.version, model_aliases.c.alias).where(
                        model_aliases.c.model_id.in_({row["model_id"] for row in rows})
                    )
                )
                for model_id, number, alias in found:
                    aliases.setdefault((model_id, number), []).append(alias)
            return [
                version_from_row(row, row["model_name"], aliases.get((row["model_id"], row["version"]), []))
                for row in rows
            ]

        return self._read(tx)

    # -- dataset versions -----------------------------------------------------------------------
    def list_dataset_versions_derived_from(self, name: str, version: int) -> list[DatasetVersion]:
        p = dataset_version_parents
        parent = datasets_table.alias("parent_dataset")
        stmt = (
            select(dataset_versions, datasets_table.c.name.label("dataset_name"))
            .select_from(
                p.join(
                    dataset_versions,
                    (dataset_versions.c.dataset_id == p.c.dataset_id) & (dataset_versions.c.version == p.c.version),
                )
                .join(datasets_table, datasets_table.c.id == p.c.dataset_id)
                .join(parent, parent.c.id == p.c.parent_dataset_id)
            )
            .where(parent.c.name == name, p.c.parent_version == _version_number(version))
            .order_by(datasets_table.c.name, dataset_versions.c.version)
        )
        return self._read(lambda conn: self._attach_parents(conn, [(r, r.dataset_name) for r in conn.execute(stmt)]))

    def list_dataset_versions_by_run(self, run_id: str) -> list[DatasetVersion]:
        stmt = (
            select(dataset_versions, datasets_table.c.name.label("dataset_name"))
            .join(datasets_table, datasets_table.c.id == dataset_versions.c.dataset_id)
            .where(dataset_versions.c.run_id == run_id)
            .order_by(datasets_table.c.name, dataset_versions.c.version)
        )
        return self._read(lambda conn: self._attach_parents(conn, [(r, r.dataset_name) for r in conn.execute(stmt)]))
