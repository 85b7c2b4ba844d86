"""``SqlDatasetStore``: ``modelyard.store.datasets.DatasetStore`` over the shared ``SqlDatabase``.

Tables (on ``schema.metadata``; the migration ``d0001_datasets.py`` creates the same):

* ``datasets``: one row per name.
* ``dataset_versions``: primary key (dataset, version). A version never changes after its insert;
  removal only sets ``removed_at``, so numbers are never reused and lineage stays resolvable.
  ``run_id`` is the run named by a ``code`` of ``run:<id>`` (migration ``d0002``): ``code`` is free
  text, too long to index safely, so the part the lineage graph looks up is kept, indexed, beside it.
* ``dataset_version_parents``: lineage edges, child -> parent, both as (dataset, version), indexed
  on the parent too so "what was derived from NAME@vN" is an index probe.

Numbering under concurrent adders: the next number is ``max(version) + 1`` read inside the
inserting transaction, and the primary key makes a second writer that read the same maximum fail;
that writer's transaction is rolled back and retried with a fresh maximum. SQLite writers take
turns anyway (``BEGIN IMMEDIATE``); on PostgreSQL the retry is what keeps numbers unique and dense.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import IntegrityError

from modelyard.core.datasets import DatasetKind, DatasetSummary, DatasetVersion, DatasetVersionKey, NewDatasetVersion
from modelyard.core.errors import InvalidArgument, NotFound, StoreUnavailable
from modelyard.core.ids import new_id
from modelyard.core.tracking import now_millis
from modelyard.core.validation import validate_entity_name
from modelyard.store.datasets import DatasetStore
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase, version_number
from modelyard.store.sql.schema import ID_LENGTH, metadata

_MAX_NUMBERING_ATTEMPTS = 50
_DIGEST_PREFIX = re.compile(r"^(?:(sha256|blake2b|sha512):)?([0-9a-f]{4,128})$")
_RUN_CODE_PREFIX = "run:"

datasets_table = Table(
    "datasets",
    metadata,
    Column("id", String(ID_LENGTH), primary_key=True),
    Column("name", String(256), nullable=False, unique=True),
    Column("created_at", BigInteger, nullable=False),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("dataset_id", String(ID_LENGTH), ForeignKey("datasets.id"), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("manifest_digest", String(256), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("file_count", BigInteger, nullable=False),
    Column("total_size", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("message", Text, nullable=True),
    Column("source", Text, nullable=True),
    Column("code", Text, nullable=True),
    Column("params", Text, nullable=True),  # JSON object of strings
    Column("removed_at", BigInteger, nullable=True),
    Column("run_id", String(ID_LENGTH), nullable=True),  # derived from code: see run_id_of_code
    Index("ix_dataset_versions_digest", "manifest_digest"),
    Index("ix_dataset_versions_run", "run_id"),
)

dataset_version_parents = Table(
    "dataset_version_parents",
    metadata,
    Column("dataset_id", String(ID_LENGTH), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("parent_dataset_id", String(ID_LENGTH), primary_key=True),
    Column("parent_version", Integer, primary_key=True, autoincrement=False),
    ForeignKeyConstraint(["dataset_id", "version"], ["dataset_versions.dataset_id", "dataset_versions.version"]),
    ForeignKeyConstraint(
        ["parent_dataset_id", "parent_version"], ["dataset_versions.dataset_id", "dataset_versions.version"]
    ),
    Index("ix_dataset_version_parents_parent", "parent_dataset_id", "parent_version"),
    sqlite_with_rowid=False,
)


def run_id_of_code(code: str | None) -> str | None:
    """The run a version's ``code`` names (``run:<id>``), or None. An id longer than any run id
    names no run, so it is not kept (the column is as wide as a run id). Migration ``d0002``
    applies the same rule in SQL to the versions recorded before it."""
    if code is None or not code.startswith(_RUN_CODE_PREFIX):
        return None
    run_id = code[len(_RUN_CODE_PREFIX) :]
    return run_id if 0 < len(run_id) <= ID_LENGTH else None


def _version_from_row(row: Any, name: str, parents: Sequence[DatasetVersionKey]) -> DatasetVersion:
    return DatasetVersion(
        name=name,
        version=int(row.version),
        manifest_digest=row.manifest_digest,
        kind=cast(DatasetKind, row.kind),
        file_count=int(row.file_count),
        total_size=int(row.total_size),
        created_at=int(row.created_at),
        message=row.message,
        source=row.source,
        code=row.code,
        params=json.loads(row.params) if row.params else {},
        parents=tuple(parents),
        removed_at=row.removed_at,
    )


class SqlDatasetStore(SqlAggregateStore, DatasetStore):
    """Dataset versions and their lineage edges, one transaction per method."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("datasets", self._integrity_datasets)

    # --- writes ----------------------------------------------------------------------------

    def create_dataset_version(self, new: NewDatasetVersion) -> DatasetVersion:
        name = validate_entity_name(new.name, "dataset name")
        if new.kind not in ("file", "directory"):
            raise InvalidArgument(f"dataset kind must be 'file' or 'directory', got {new.kind!r}")
        if new.file_count < 0 or new.total_size < 0:
            raise InvalidArgument("file_count and total_size must be >= 0")
        params = {str(k): str(v) for k, v in dict(new.params).items()}
        parents = sorted(set(new.parents), key=lambda k: (k.name, k.version))  # a set: order means nothing

        def tx(conn: Connection) -> DatasetVersion:
            dataset_id = self._dataset_id(conn, name, create=True)
            parent_rows = []
            for parent in parents:
                parent_id = self._dataset_id(conn, parent.name, create=False)
                found = conn.execute(
                    select(dataset_versions.c.version).where(
                        dataset_versions.c.dataset_id == parent_id, dataset_versions.c.version == parent.version
                    )
                ).first()
                if found is None:
                    raise NotFound(f"parent dataset version {parent} not found")
                parent_rows.append(parent_id)
            latest = conn.execute(
                select(func.max(dataset_versions.c.version)).where(dataset_versions.c.dataset_id == dataset_id)
            ).scalar()
            number = int(latest or 0) + 1
            created_at = now_millis()
            values: dict[str, Any] = {
                "dataset_id": dataset_id,
                "version": number,
                "manifest_digest": new.manifest_digest,
                "kind": new.kind,
                "file_count": new.file_count,
                "total_size": new.total_size,
                "created_at": created_at,
                "message": new.message,
                "source": new.source,
                "code": new.code,
                "params": json.dumps(params, sort_keys=True) if params else None,
                "removed_at": None,
                "run_id": run_id_of_code(new.code),
            }
            conn.execute(dataset_versions.insert().values(**values))
            if parent_rows:
                conn.execute(
                    dataset_version_parents.insert(),
                    [
                        {
                            "dataset_id": dataset_id,
                            "version": number,
                            "parent_dataset_id": parent_id,
                            "parent_version": parent.version,
                        }
                        for parent_id, parent in zip(parent_rows, parents, strict=True)
                    ],
                )
            return DatasetVersion(
                name=name,
                version=number,
                manifest_digest=new.manifest_digest,
                kind=new.kind,
                file_count=new.file_count,
                total_size=new.total_size,
                created_at=created_at,
                message=new.message,
                source=new.source,
                code=new.code,
                params=params,
                parents=tuple(parents),
            )

        for _ in range(_MAX_NUMBERING_ATTEMPTS):
            try:
                return self._write(tx)
            except IntegrityError:
                continue  # a concurrent adder took this number (or created the dataset): read again
        raise StoreUnavailable(f"could not allocate a version number for dataset {name!r}: too much contention")

    def _dataset_id(self, conn: Connection, name: str, *, create: bool) -> str:
        found = conn.execute(select(datasets_table.c.id).where(datasets_table.c.name == name)).scalar()
        if found is not None:
            return str(found)
        if not create:
            raise NotFound(f"dataset {name!r} not found")
        dataset_id = new_id()
        conn.execute(datasets_table.insert().values(id=dataset_id, name=name, created_at=now_millis()))
        return dataset_id

    def remove_dataset_version(self, name: str, version: int) -> DatasetVersion:
        def tx(conn: Connection) -> DatasetVersion:
            dataset_id = self._dataset_id(conn, name, create=False)
            done = conn.execute(
                update(dataset_versions)
                .where(
                    dataset_versions.c.dataset_id == dataset_id,
                    dataset_versions.c.version == version,
                    dataset_versions.c.removed_at.is_(None),
                )
                .values(removed_at=now_millis())
            )
            if done.rowcount == 0:
                raise NotFound(f"dataset version {name}@v{version} not found")
            return self._versions(conn, name, dataset_versions.c.dataset_id == dataset_id, version=version)[0]

        return self._write(tx)

    # --- reads -----------------------------------------------------------------------------

    def _versions(
        self,
        conn: Connection,
        name: str,
        *conditions: Any,
        version: int | None = None,
        include_removed: bool = True,
    ) -> list[DatasetVersion]:
        """Versions of one dataset matching ``conditions``, oldest first, with their parents."""
        stmt = select(dataset_versions).where(*conditions)
        if version is not None:
            stmt = stmt.where(dataset_versions.c.version == version)
        if not include_removed:
            stmt = stmt.where(dataset_versions.c.removed_at.is_(None))
        rows = conn.execute(stmt.order_by(dataset_versions.c.version)).all()
        return self._attach_parents(conn, [(row, name) for row in rows])

    def _attach_parents(self, conn: Connection, rows: Iterable[tuple[Any, str]]) -> list[DatasetVersion]:
        rows = list(rows)
        keys = [(row.dataset_id, row.version) for row, _ in rows]
        parents: dict[tuple[str, int], list[DatasetVersionKey]] = {}
        if keys:
            p = dataset_version_parents
            stmt = (
                select(p.c.dataset_id, p.c.version, datasets_table.c.name, p.c.parent_version)
                .join(datasets_table, datasets_table.c.id == p.c.parent_dataset_id)
                .where(tuple_(p.c.dataset_id, p.c.version).in_(keys))
                .order_by(datasets_table.c.name, p.c.parent_version)
            )
            for dataset_id, number, parent_name, parent_version in conn.execute(stmt):
                parents.setdefault((dataset_id, number), []).append(DatasetVersionKey(parent_name, int(parent_version)))
        return [_version_from_row(row, name, parents.get((row.dataset_id, row.version), [])) for row, name in rows]

    def get_dataset_version(self, name: str, version: int) -> DatasetVersion:
        def tx(conn: Connection) -> DatasetVersion:
            dataset_id = self._dataset_id(conn, name, create=False)
            found = self._versions(conn, name, dataset_versions.c.dataset_id == dataset_id, version=version)
            if not found:
                raise NotFound(f"dataset version {name}@v{version} not found")
            if found[0].removed_at is not None:
                raise NotFound(f"dataset version {name}@v{version} was removed")
            return found[0]

        return self._read(tx)

    def get_latest_dataset_version(self, name: str) -> DatasetVersion:
        def tx(conn: Connection) -> DatasetVersion:
            dataset_id = self._dataset_id(conn, name, create=False)
            latest = conn.execute(
                select(func.max(dataset_versions.c.version)).where(
                    dataset_versions.c.dataset_id == dataset_id, dataset_versions.c.removed_at.is_(None)
                )
            ).scalar()
            if latest is None:
                raise NotFound(f"dataset {name!r} has no versions")
            return self._versions(conn, name, dataset_versions.c.dataset_id == dataset_id, version=int(latest))[0]

        return self._read(tx)

    def find_dataset_versions(self, name: str, digest_prefix: str) -> list[DatasetVersion]:
        match = _DIGEST_PREFIX.match(digest_prefix)
        if match is None:
            raise InvalidArgument(
                f"invalid digest prefix {digest_prefix!r}: at least 4 lowercase hex digits, optionally after 'sha256:'"
            )
        algorithm, hex_prefix = match.groups()
        # Only [0-9a-z:] reach the pattern (checked above): no LIKE wildcard can sneak in.
        pattern = f"{algorithm}:{hex_prefix}%" if algorithm else f"%:{hex_prefix}%"

        def tx(conn: Connection) -> list[DatasetVersion]:
            dataset_id = self._dataset_id(conn, name, create=False)
            found = self._versions(
                conn,
                name,
                dataset_versions.c.dataset_id == dataset_id,
                dataset_versions.c.manifest_digest.like(pattern),
                include_removed=False,
            )
            # '%:ab%' also matches 'ab' in the middle of a digest: keep real prefixes only.
            return [v for v in found if v.manifest_digest.partition(":")[2].startswith(hex_prefix)]

        return self._read(tx)

    def list_dataset_versions(self, name: str, *, include_removed: bool = False) -> list[DatasetVersion]:
        def tx(conn: Connection) -> list[DatasetVersion]:
            dataset_id = self._dataset_id(conn, name, create=False)
            return self._versions(
                conn, name, dataset_versions.c.dataset_id == dataset_id, include_removed=include_removed
            )

        return self._read(tx)

    def list_datasets(self) -> list[DatasetSummary]:
        def tx(conn: Connection) -> list[DatasetSummary]:
            live = dataset_versions.c.removed_at.is_(None)
            counts = (
                select(
                    dataset_versions.c.dataset_id,
                    func.count().label("n"),
                    func.max(dataset_versions.c.version).label("latest"),
                )
                .where(live)
                .group_by(dataset_versions.c.dataset_id)
                .subquery()
            )
            stmt = (
                select(datasets_table, counts.c.n, counts.c.latest)
                .select_from(datasets_table.outerjoin(counts, counts.c.dataset_id == datasets_table.c.id))
                .order_by(datasets_table.c.name)
            )
            datasets = conn.execute(stmt).all()
            latest_keys = [(d.id, d.latest) for d in datasets if d.latest is not None]
            latest: dict[str, DatasetVersion] = {}
            if latest_keys:
                names = {d.id: d.name for d in datasets}
                rows = conn.execute(
                    select(dataset_versions).where(
                        tuple_(dataset_versions.c.dataset_id, dataset_versions.c.version).in_(latest_keys)
                    )
                ).all()
                for version in self._attach_parents(conn, [(row, names[row.dataset_id]) for row in rows]):
                    latest[version.name] = version
            return [
                DatasetSummary(
                    name=d.name, created_at=int(d.created_at), version_count=int(d.n or 0), latest=latest.get(d.name)
                )
                for d in datasets
            ]

        return self._read(tx)

    def list_dataset_manifest_digests(self, *, include_removed: bool = False) -> list[str]:
        stmt = select(dataset_versions.c.manifest_digest).distinct()
        if not include_removed:
            stmt = stmt.where(dataset_versions.c.removed_at.is_(None))
        return self._read(lambda conn: sorted(str(d) for d in conn.execute(stmt).scalars()))

    # --- reverse lookups of the lineage graph's downstream walk -----------------------------
    # (indexes ix_dataset_version_parents_parent and ix_dataset_versions_run, migration d0002)

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
            .where(parent.c.name == name, p.c.parent_version == version_number(version))
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

    # --- integrity (registered on the database) --------------------------------------------

    @staticmethod
    def _integrity_datasets(conn: Connection) -> list[str]:
        problems: list[str] = []
        v = dataset_versions
        orphans = conn.execute(
            select(func.count()).select_from(v).where(~v.c.dataset_id.in_(select(datasets_table.c.id)))
        ).scalar_one()
        if orphans:
            problems.append(f"{orphans} dataset version(s) belong to no dataset")
        bad = conn.execute(
            select(func.count())
            .select_from(v)
            .where(
                (v.c.version < 1)
                | (v.c.file_count < 0)
                | (v.c.total_size < 0)
                | ~v.c.kind.in_(["file", "directory"])
                | ~v.c.manifest_digest.like("%:%")
            )
        ).scalar_one()
        if bad:
            problems.append(f"{bad} dataset version(s) have an invalid number, kind, size or digest")
        empty = conn.execute(
            select(func.count()).select_from(datasets_table).where(~datasets_table.c.id.in_(select(v.c.dataset_id)))
        ).scalar_one()
        if empty:
            problems.append(f"{empty} dataset(s) have no version (a dataset is created with its first version)")
        p = dataset_version_parents
        dangling = conn.execute(
            select(func.count())
            .select_from(p)
            .where(
                ~tuple_(p.c.parent_dataset_id, p.c.parent_version).in_(select(v.c.dataset_id, v.c.version))
                | ~tuple_(p.c.dataset_id, p.c.version).in_(select(v.c.dataset_id, v.c.version))
            )
        ).scalar_one()
        if dangling:
            problems.append(f"{dangling} dataset lineage edge(s) point at a missing version")
        # run_id is derived from code on insert: one that disagrees hides or invents lineage.
        prefix = len(_RUN_CODE_PREFIX)
        names_run = (func.substr(v.c.code, 1, prefix) == _RUN_CODE_PREFIX) & func.length(v.c.code).between(
            prefix + 1, prefix + ID_LENGTH
        )
        stale = conn.execute(
            select(func.count())
            .select_from(v)
            .where(
                (names_run & (v.c.run_id.is_(None) | (func.substr(v.c.code, prefix + 1) != v.c.run_id)))
                | (v.c.run_id.is_not(None) & (v.c.code.is_(None) | ~names_run))
            )
        ).scalar_one()
        if stale:
            problems.append(f"{stale} dataset version(s) have a run_id that does not match their code")
        return problems
