"""``SqlFeatureStore``: ``modelyard.store.features.FeatureStore`` over the shared ``SqlDatabase``.

Tables (on ``schema.metadata``; the migration ``f0001_features.py`` creates the same):

* ``feature_definitions``: one row per version of an entity, view or service (``kind``), primary
  key (kind, name, version); the definition is canonical JSON in ``body``, its content hash in
  ``digest``. Rows never change after their insert.
* ``feature_materializations``: one row per materialisation run of a view version into an online
  store (``target``), primary key (view, version, target, start_ms, end_ms), so recording a run
  twice records it once.
* ``feature_training_sets``: dataset version -> view version edges, indexed both ways, with
  ``profile_digest`` (migration ``f0004``): the artifact digest of the profile of that view's
  features in the training set, kept when it was saved (NULL for older links).
  ``profile_digest`` (migration ``f0003``) is the artifact digest of the statistics profile of
  the rows the run wrote (NULL for runs recorded without one), ``failed_checks`` (``f0005``) the
  view's expectations those rows failed (a JSON list; NULL when none failed).
* ``feature_model_pins`` (migration ``f0002``): the feature service version each model version
  was trained on, one row per model version, indexed on the service.

Numbering under concurrent writers is the dataset store's: the next number is ``max + 1`` read in
the inserting transaction; the primary key makes a second writer that read the same maximum fail,
and its retry reads again (and, when the winner wrote the same digest, returns the winner's row).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text, func, select
from sqlalchemy.exc import IntegrityError

from modelyard.core.errors import Conflict, InvalidArgument, NotFound, StoreUnavailable
from modelyard.core.features import (
    FeatureEntity,
    FeatureEntityVersion,
    FeatureService,
    FeatureServiceVersion,
    FeatureView,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
    definition_digest,
    parse_feature_ref,
    validate_feature_object_name,
)
from modelyard.core.tracking import now_millis
from modelyard.core.validation import MAX_VERSION, validate_entity_name
from modelyard.store.features import Applied, FeatureStore, TrainingSetLink
from modelyard.store.sql.database import SqlAggregateStore, SqlDatabase
from modelyard.store.sql.schema import metadata

_MAX_NUMBERING_ATTEMPTS = 50
_KINDS = ("entity", "view", "service")
V = TypeVar("V", FeatureEntityVersion, FeatureViewVersion, FeatureServiceVersion)

feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("kind", String(16), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("digest", String(80), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("view_name", String(256), primary_key=True),
    Column("version", Integer, primary_key=True, autoincrement=False),
    Column("target", String(256), primary_key=True),
    Column("start_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("end_ms", BigInteger, primary_key=True, autoincrement=False),
    Column("row_count", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("profile_digest", String(80), nullable=True),
    Column("failed_checks", Text, nullable=True),  # JSON list (migration f0005); NULL: none failed
)

feature_training_sets = Table(
    "feature_training_sets",
    metadata,
    Column("dataset", String(256), primary_key=True),
    Column("dataset_version", Integer, primary_key=True, autoincrement=False),
    Column("view_name", String(256), primary_key=True),
    Column("view_version", Integer, primary_key=True, autoincrement=False),
    Column("profile_digest", String(80), nullable=True),
    Index("ix_feature_training_sets_view", "view_name", "view_version"),
)


feature_model_pins = Table(
    "feature_model_pins",
    metadata,
    Column("model_name", String(256), primary_key=True),
    Column("model_version", Integer, primary_key=True, autoincrement=False),
    Column("service", String(256), nullable=False),
    Column("service_version", Integer, nullable=False),
    Column("pinned_at", BigInteger, nullable=False),
    Index("ix_feature_model_pins_service", "service", "service_version"),
)


def _pin(row: Any) -> ModelFeaturePin:
    return ModelFeaturePin(
        model=row.model_name,
        model_version=int(row.model_version),
        service=row.service,
        service_version=int(row.service_version),
        pinned_at=int(row.pinned_at),
    )


def _version_arg(version: object) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise InvalidArgument(f"a version is an integer from 1 to {MAX_VERSION}, got {version!r}")
    return version


class SqlFeatureStore(SqlAggregateStore, FeatureStore):
    """Feature definitions, materialisation runs and training-set links, one transaction per method."""

    def __init__(self, db: SqlDatabase) -> None:
        super().__init__(db)
        db.register_check("features", self._integrity_features)

    # --- definitions: one generic implementation for the three kinds -------------------------

    def _put(
        self, kind: str, name: str, prepare: Callable[[Connection], tuple[BaseModel, str]], build: Callable[..., V]
    ) -> Applied[V]:
        """Insert the next version unless the latest has the same digest; ``prepare`` gives the
        body and digest inside the transaction (a view resolves its entities' keys there)."""
        t = feature_definitions

        def tx(conn: Connection) -> Applied[V]:
            definition, digest = prepare(conn)
            latest = conn.execute(
                select(t).where(t.c.kind == kind, t.c.name == name).order_by(t.c.version.desc()).limit(1)
            ).first()
            if latest is not None and latest.digest == digest:
                return Applied(build(latest), created=False)
            number = 1 if latest is None else int(latest.version) + 1
            body = json.dumps(definition.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
            row = {"kind": kind, "name": name, "version": number, "digest": digest, "body": body}
            row["created_at"] = now_millis()
            conn.execute(t.insert().values(**row))
            return Applied(build(_Row(row)), created=True)

        for _ in range(_MAX_NUMBERING_ATTEMPTS):
            try:
                return self._write(tx)
            except IntegrityError:
                continue  # a concurrent writer took this number: read again
        raise StoreUnavailable(f"could not allocate a version number for {kind} {name!r}: too much contention")

    def _get(self, kind: str, name: str, version: int | None, build: Callable[..., V]) -> V:
        t = feature_definitions
        stmt = select(t).where(t.c.kind == kind, t.c.name == name)
        if version is None:
            stmt = stmt.order_by(t.c.version.desc()).limit(1)
        else:
            stmt = stmt.where(t.c.version == _version_arg(version))
        row = self._read(lambda conn: conn.execute(stmt).first())
        if row is None:
            what = f"{name}@v{version}" if version is not None else repr(name)
            raise NotFound(f"feature {kind} {what} not found")
        return build(row)

    def _versions(self, kind: str, name: str, build: Callable[..., V]) -> list[V]:
        t = feature_definitions
        stmt = select(t).where(t.c.kind == kind, t.c.name == name).order_by(t.c.version)
        rows = self._read(lambda conn: conn.execute(stmt).all())
        if not rows:
            raise NotFound(f"feature {kind} {name!r} not found")
        return [build(row) for row in rows]

    def _latest(self, kind: str, build: Callable[..., V]) -> list[V]:
        t = feature_definitions
        newest = (
            select(t.c.name, func.max(t.c.version).label("version"))
            .where(t.c.kind == kind)
            .group_by(t.c.name)
            .subquery()
        )
        stmt = (
            select(t)
            .join(newest, (t.c.name == newest.c.name) & (t.c.version == newest.c.version))
            .where(t.c.kind == kind)
            .order_by(t.c.name)
        )
        return [build(row) for row in self._read(lambda conn: conn.execute(stmt).all())]

    def put_entity(self, entity: FeatureEntity) -> Applied[FeatureEntityVersion]:
        digest = definition_digest(entity)
        return self._put("entity", entity.name, lambda conn: (entity, digest), _entity_version)

    def put_view(self, view: FeatureView) -> Applied[FeatureViewVersion]:
        t = feature_definitions

        def prepare(conn: Connection) -> tuple[BaseModel, str]:
            keys: list[str] = []
            for entity in view.entities:
                row = conn.execute(
                    select(t.c.body)
                    .where(t.c.kind == "entity", t.c.name == entity)
                    .order_by(t.c.version.desc())
                    .limit(1)
                ).first()
                if row is None:
                    raise NotFound(f"feature view {view.name!r}: no entity {entity!r}")
                keys.extend(k for k in FeatureEntity.model_validate_json(row.body).join_keys if k not in keys)
            clash = sorted(set(keys) & ({f.name for f in view.features} | {view.timestamp_field}))
            if clash:
                raise InvalidArgument(
                    f"feature view {view.name!r}: join keys {clash} are also features or its timestamp"
                )
            # The join keys travel in the body beside the definition (the row builds the version).
            return _ViewBody(definition=view, join_keys=tuple(keys)), definition_digest(view, {"join_keys": keys})

        return self._put("view", view.name, prepare, _view_version)

    def put_service(self, service: FeatureService) -> Applied[FeatureServiceVersion]:
        for text in service.features:
            ref = parse_feature_ref(text)
            if ref.version is None:
                raise InvalidArgument(
                    f"feature service {service.name!r}: reference {text!r} is not pinned (view@vN:feature)"
                )
        digest = definition_digest(service)
        return self._put("service", service.name, lambda conn: (service, digest), _service_version)

    def get_entity(self, name: str, version: int | None = None) -> FeatureEntityVersion:
        return self._get("entity", name, version, _entity_version)

    def get_view(self, name: str, version: int | None = None) -> FeatureViewVersion:
        return self._get("view", name, version, _view_version)

    def get_service(self, name: str, version: int | None = None) -> FeatureServiceVersion:
        return self._get("service", name, version, _service_version)

    def list_entities(self) -> list[FeatureEntityVersion]:
        return self._latest("entity", _entity_version)

    def list_views(self) -> list[FeatureViewVersion]:
        return self._latest("view", _view_version)

    def list_services(self) -> list[FeatureServiceVersion]:
        return self._latest("service", _service_version)

    def list_entity_versions(self, name: str) -> list[FeatureEntityVersion]:
        return self._versions("entity", name, _entity_version)

    def list_view_versions(self, name: str) -> list[FeatureViewVersion]:
        return self._versions("view", name, _view_version)

    def list_service_versions(self, name: str) -> list[FeatureServiceVersion]:
        return self._versions("service", name, _service_version)

    # --- materialisation ----------------------------------------------------------------------

    def record_materialization(self, run: Materialization) -> Materialization:
        if run.end < run.start or run.rows < 0:
            raise InvalidArgument(f"invalid materialisation of {run.view}@v{run.version}: end before start or rows < 0")
        validate_feature_object_name(run.target, "online store name")
        self.get_view(run.view, run.version)  # NotFound for an unknown view version
        m = feature_materializations
        values = {
            "view_name": run.view,
            "version": run.version,
            "target": run.target,
            "start_ms": run.start,
            "end_ms": run.end,
            "row_count": run.rows,
            "created_at": run.created_at,
            "profile_digest": run.profile,
            "failed_checks": json.dumps(list(run.failed_checks)) if run.failed_checks else None,
        }
        stmt = self._insert(m).values(**values).on_conflict_do_nothing()
        self._write(lambda conn: conn.execute(stmt))
        return run

    def list_materializations(self, view: str, version: int, target: str | None = None) -> list[Materialization]:
        m = feature_materializations
        stmt = select(m).where(m.c.view_name == view, m.c.version == _version_arg(version))
        if target is not None:
            stmt = stmt.where(m.c.target == target)
        stmt = stmt.order_by(m.c.created_at, m.c.end_ms, m.c.start_ms, m.c.target)
        return [
            Materialization(
                view=r.view_name,
                version=int(r.version),
                target=r.target,
                start=int(r.start_ms),
                end=int(r.end_ms),
                rows=int(r.row_count),
                created_at=int(r.created_at),
                profile=r.profile_digest,
                failed_checks=tuple(json.loads(r.failed_checks)) if r.failed_checks else (),
            )
            for r in self._read(lambda conn: conn.execute(stmt).all())
        ]

    # --- training sets -----------------------------------------------------------------------

    def link_training_set(
        self,
        dataset: str,
        dataset_version: int,
        views: list[tuple[str, int]],
        profiles: Mapping[str, str] | None = None,
    ) -> None:
        _version_arg(dataset_version)
        for name, version in views:
            self.get_view(name, version)
        kept = profiles or {}
        rows = [
            {
                "dataset": dataset,
                "dataset_version": dataset_version,
                "view_name": name,
                "view_version": version,
                "profile_digest": kept.get(f"{name}@v{version}"),
            }
            for name, version in sorted(set(views))
        ]
        if rows:
            stmt = self._insert(feature_training_sets).on_conflict_do_nothing()
            self._write(lambda conn: conn.execute(stmt, rows))

    def _links(self, *conditions: Any, order: tuple[Any, ...]) -> list[TrainingSetLink]:
        t = feature_training_sets
        stmt = select(t).where(*conditions).order_by(*order)
        return [
            TrainingSetLink(r.dataset, int(r.dataset_version), r.view_name, int(r.view_version), r.profile_digest)
            for r in self._read(lambda conn: conn.execute(stmt).all())
        ]

    def list_training_sets_of_view(self, view: str, version: int) -> list[TrainingSetLink]:
        t = feature_training_sets
        return self._links(
            t.c.view_name == view, t.c.view_version == _version_arg(version), order=(t.c.dataset, t.c.dataset_version)
        )

    def list_views_of_training_set(self, dataset: str, dataset_version: int) -> list[TrainingSetLink]:
        t = feature_training_sets
        return self._links(
            t.c.dataset == dataset,
            t.c.dataset_version == _version_arg(dataset_version),
            order=(t.c.view_name, t.c.view_version),
        )

    # --- model versions ------------------------------------------------------------------------

    def pin_model_version(self, pin: ModelFeaturePin) -> ModelFeaturePin:
        validate_entity_name(pin.model, "model name")
        _version_arg(pin.model_version)
        self.get_service(pin.service, pin.service_version)  # NotFound for an unknown service version
        p = feature_model_pins

        def tx(conn: Connection) -> ModelFeaturePin:
            key = (p.c.model_name == pin.model, p.c.model_version == pin.model_version)
            found = conn.execute(select(p).where(*key)).first()
            if found is None:
                conn.execute(
                    self._insert(p)
                    .values(
                        model_name=pin.model,
                        model_version=pin.model_version,
                        service=pin.service,
                        service_version=pin.service_version,
                        pinned_at=pin.pinned_at,
                    )
                    .on_conflict_do_nothing()
                )
                found = conn.execute(select(p).where(*key)).first()
            stored = _pin(found)
            if (stored.service, stored.service_version) != (pin.service, pin.service_version):
                raise Conflict(
                    f"model {pin.model} version {pin.model_version} is already pinned to {stored.service_ref}"
                )
            return stored

        return self._write(tx)

    def get_model_pin(self, model: str, model_version: int) -> ModelFeaturePin:
        p = feature_model_pins
        stmt = select(p).where(p.c.model_name == model, p.c.model_version == _version_arg(model_version))
        row = self._read(lambda conn: conn.execute(stmt).first())
        if row is None:
            raise NotFound(f"model {model} version {model_version} has no feature pin")
        return _pin(row)

    def list_model_pins(self, service: str | None = None) -> list[ModelFeaturePin]:
        p = feature_model_pins
        stmt = select(p)
        if service is not None:
            stmt = stmt.where(p.c.service == service)
        stmt = stmt.order_by(p.c.model_name, p.c.model_version)
        return [_pin(r) for r in self._read(lambda conn: conn.execute(stmt).all())]

    # --- integrity (registered on the database) -----------------------------------------------

    @staticmethod
    def _integrity_features(conn: Connection) -> list[str]:
        problems: list[str] = []
        t = feature_definitions
        bad = conn.execute(
            select(func.count())
            .select_from(t)
            .where((t.c.version < 1) | ~t.c.kind.in_(_KINDS) | ~t.c.digest.like("sha256:%"))
        ).scalar_one()
        if bad:
            problems.append(f"{bad} feature definition(s) have an invalid version, kind or digest")
        m = feature_materializations
        orphans = conn.execute(
            select(func.count())
            .select_from(m)
            .where(
                ~select(t.c.version)
                .where(t.c.kind == "view", t.c.name == m.c.view_name, t.c.version == m.c.version)
                .exists()
            )
        ).scalar_one()
        if orphans:
            problems.append(f"{orphans} materialisation run(s) belong to no feature view version")
        return problems


class _ViewBody(BaseModel):
    definition: FeatureView
    join_keys: tuple[str, ...]


class _Row:
    """A just-inserted row, read like a result row."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


def _entity_version(row: Any) -> FeatureEntityVersion:
    return FeatureEntityVersion(
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        created_at=int(row.created_at),
        definition=FeatureEntity.model_validate_json(row.body),
    )


def _view_version(row: Any) -> FeatureViewVersion:
    body = _ViewBody.model_validate_json(row.body)
    return FeatureViewVersion(
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        created_at=int(row.created_at),
        definition=body.definition,
        join_keys=body.join_keys,
    )


def _service_version(row: Any) -> FeatureServiceVersion:
    return FeatureServiceVersion(
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        created_at=int(row.created_at),
        definition=FeatureService.model_validate_json(row.body),
    )
