"""``FeatureStoreService``: apply definitions, resolve feature references, build training sets.

It receives its stores in its constructor (the feature registry, and the dataset service for
views whose source is a dataset version and for saving training sets as dataset versions); the
SDK (``modelyard.sdk.features``), the CLI and the server build it from the ``Stores`` bundle, and
the server runs the same checks as the SDK (``check_view``, ``pin_service``) before a definition
is stored.

Kept in one module because it is one class, the room's facade (~640 lines): each method is a few lines
of rules that hand the work to the modules beside it (``offline.py`` joins, ``serving.py``
materialises, ``quality.py`` profiles, ``parity.py`` compares, ``release.py`` gates).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import Conflict, InvalidArgument, NotFound, UnknownFeature
from modelyard.core.features import (
    FeatureEntity,
    FeatureEntityVersion,
    FeatureRef,
    FeatureService,
    FeatureServiceVersion,
    FeatureView,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
    closest,
    parse_feature_ref,
)
from modelyard.features.offline import (
    DuckConfig,
    TrainingSet,
    ViewRequest,
    build_training_set,
    source_files,
    source_sql,
)
from modelyard.features.online.base import OnlineStore
from modelyard.features.parity import ParityReport, compare
from modelyard.features.quality import RowProfiler, profile_parquet, view_checks
from modelyard.features.serving import OnlinePlan, OnlineResult, PlanGroup, read_rows_for_window
from modelyard.stats.profile import DatasetProfile
from modelyard.store.features import FeatureStore

if TYPE_CHECKING:
    from modelyard.artifacts.interfaces import ArtifactStore
    from modelyard.core.datasets import DatasetVersion
    from modelyard.data.service import DatasetService

__all__ = ["AppliedObject", "Definition", "FeatureStoreService", "Freshness", "ParityReport", "SavedTrainingSet"]

#: How long a prepared online plan is reused before its references are resolved again (so a
#: newly applied view version is served within this many seconds).
PLAN_SECONDS = 5.0

Definition = FeatureEntity | FeatureView | FeatureService


@dataclass(frozen=True)
class AppliedObject:
    """One definition after ``apply``: its kind, the version that holds it, whether it is new."""

    kind: str  # "entity" | "view" | "service"
    name: str
    version: int
    digest: str
    created: bool

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class Freshness:
    """How fresh a view version is in an online store: the end of the newest materialisation
    window (None: never materialised), when that run happened, and the lag behind now."""

    view: str  # view@vN
    target: str
    materialized_until: int | None  # ms since the epoch
    last_run_at: int | None
    lag_seconds: float | None
    rows: int  # rows written by every run


@dataclass(frozen=True)
class SavedTrainingSet:
    dataset: DatasetVersion
    created: bool
    views: tuple[str, ...]  # view@vN refs


class FeatureStoreService:
    """The feature store's rules over its stores."""

    def __init__(
        self,
        store: FeatureStore,
        datasets: DatasetService | None = None,
        *,
        duck: DuckConfig | None = None,
        online: OnlineStore | None = None,
        artifacts: ArtifactStore | None = None,
    ) -> None:
        self.store = store
        self.datasets = datasets
        #: where materialisation profiles are kept (default: the dataset service's artifact store;
        #: without one, runs are recorded without a profile)
        self.artifacts = artifacts if artifacts is not None else (datasets.artifacts if datasets is not None else None)
        self.duck = duck or DuckConfig()
        self.online = online
        self._plans: dict[tuple[Any, ...], OnlinePlan] = {}
        self._plans_lock = threading.Lock()

    # --- definitions ----------------------------------------------------------------------

    def check_view(self, view: FeatureView) -> tuple[str, ...]:
        """The join keys of ``view``'s entities (their latest versions), in order; UnknownFeature
        (with the closest names) for an entity that does not exist, InvalidArgument for an
        expectation materialisation cannot check. The store resolves them again in the
        transaction that records the view."""
        view_checks(view)
        keys: list[str] = []
        for name in view.entities:
            try:
                entity = self.store.get_entity(name)
            except NotFound:
                known = [e.name for e in self.store.list_entities()]
                raise UnknownFeature(f"feature view {view.name!r}: no entity {name!r}{closest(name, known)}") from None
            for key in entity.definition.join_keys:
                if key not in keys:
                    keys.append(key)
        return tuple(keys)

    def pin_service(self, service: FeatureService) -> FeatureService:
        """``service`` with every reference pinned to a view version (the latest, unless the
        reference names one) and whole-view references expanded; UnknownFeature (with the
        closest names) for a view, version or feature that does not exist."""
        pinned: list[str] = []
        for text in service.features:
            ref = parse_feature_ref(text, allow_whole_view=True)
            view = self.view(ref.view, ref.version)
            names = [f.name for f in view.definition.features] if ref.feature is None else [ref.feature]
            for name in names:
                view.definition.feature(name)  # UnknownFeature with the closest names
                item = f"{view.ref}:{name}"
                if item not in pinned:
                    pinned.append(item)
        return service.model_copy(update={"features": tuple(pinned)})

    def apply_entity(self, entity: FeatureEntity) -> AppliedObject:
        done = self.store.put_entity(entity)
        return _applied("entity", done.version, done.created)

    def apply_view(self, view: FeatureView) -> AppliedObject:
        self.check_view(view)
        done = self.store.put_view(view)
        return _applied("view", done.version, done.created)

    def apply_service(self, service: FeatureService) -> AppliedObject:
        done = self.store.put_service(self.pin_service(service))
        return _applied("service", done.version, done.created)

    def apply(self, objects: Iterable[Definition]) -> list[AppliedObject]:
        """Apply entities, then views, then services (so a file may define all three); a name
        defined twice in one batch with different definitions is InvalidArgument, before
        anything is stored."""
        items = list(objects)
        seen: dict[tuple[str, str], Definition] = {}
        for item in items:
            kind = _kind(item)
            other = seen.setdefault((kind, item.name), item)
            if other != item:
                raise InvalidArgument(f"{kind} {item.name!r} is defined twice, differently")
        order = {"entity": 0, "view": 1, "service": 2}
        unique = sorted(seen.items(), key=lambda kv: (order[kv[0][0]], kv[0][1]))
        results: list[AppliedObject] = []
        for (kind, _), item in unique:
            if kind == "entity":
                assert isinstance(item, FeatureEntity)
                results.append(self.apply_entity(item))
            elif kind == "view":
                assert isinstance(item, FeatureView)
                results.append(self.apply_view(item))
            else:
                assert isinstance(item, FeatureService)
                results.append(self.apply_service(item))
        return results

    # --- lookups ----------------------------------------------------------------------------

    def view(self, name: str, version: int | None = None) -> FeatureViewVersion:
        """A view version (the latest when ``version`` is None); UnknownFeature with the closest
        names (or the versions that exist) otherwise."""
        try:
            return self.store.get_view(name, version)
        except NotFound:
            pass
        try:
            versions = [v.version for v in self.store.list_view_versions(name)]
        except NotFound:
            known = [v.name for v in self.store.list_views()]
            raise UnknownFeature(f"no feature view {name!r}{closest(name, known)}") from None
        raise UnknownFeature(f"feature view {name!r} has no version {version} (versions: {versions})")

    def service(self, ref: str) -> FeatureServiceVersion:
        """``name`` or ``name@vN``."""
        name, _, text = ref.partition("@")
        version = int(text.lstrip("v")) if text.lstrip("v").isdigit() else None
        if text and version is None:
            raise InvalidArgument(f"invalid feature service reference {ref!r}: 'name' or 'name@vN'")
        try:
            return self.store.get_service(name, version)
        except NotFound:
            known = [s.name for s in self.store.list_services()]
            raise UnknownFeature(f"no feature service {ref!r}{closest(name, known)}") from None

    def resolve(
        self, features: Sequence[str] | str | FeatureServiceVersion
    ) -> list[tuple[FeatureViewVersion, list[str]]]:
        """Feature references (or a service: its name, ``name@vN`` or its version) as
        (view version, feature names) in the order first named; every feature checked."""
        if isinstance(features, FeatureServiceVersion):
            refs: Sequence[str] = features.definition.features
        elif isinstance(features, str):
            refs = self.service(features).definition.features
        else:
            refs = list(features)
        if not refs:
            raise InvalidArgument("no features requested")
        grouped: dict[tuple[str, int], tuple[FeatureViewVersion, list[str]]] = {}
        looked_up: dict[tuple[str, int | None], FeatureViewVersion] = {}  # one store read per view
        for text in refs:
            ref: FeatureRef = parse_feature_ref(text)
            view = looked_up.get((ref.view, ref.version))
            if view is None:
                view = looked_up[ref.view, ref.version] = self.view(ref.view, ref.version)
            assert ref.feature is not None
            view.definition.feature(ref.feature)
            _, names = grouped.setdefault((view.name, view.version), (view, []))
            if ref.feature not in names:
                names.append(ref.feature)
        return list(grouped.values())

    def diff(self, kind: str, name: str, a: int | None = None, b: int | None = None) -> dict[str, Any]:
        """What changed between two versions of a definition (default: the last two): the
        top-level fields that differ, and for views the features added, removed and retyped."""
        listed: Sequence[FeatureEntityVersion | FeatureViewVersion | FeatureServiceVersion]
        if kind == "entity":
            listed = self.store.list_entity_versions(name)
        elif kind == "view":
            listed = self.store.list_view_versions(name)
        elif kind == "service":
            listed = self.store.list_service_versions(name)
        else:
            raise InvalidArgument(f"kind must be entity, view or service, got {kind!r}")
        versions = {v.version: v for v in listed}
        numbers = sorted(versions)
        if b is None:
            b = numbers[-1]
        if a is None:
            a = numbers[-2] if len(numbers) > 1 else numbers[-1]
        for n in (a, b):
            if n not in versions:
                raise NotFound(f"{kind} {name!r} has no version {n} (versions: {numbers})")
        old = versions[a].definition.model_dump(mode="json")
        new = versions[b].definition.model_dump(mode="json")
        changed = {
            k: {"from": old.get(k), "to": new.get(k)} for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)
        }
        result: dict[str, Any] = {"kind": kind, "name": name, "from": a, "to": b, "changed": changed}
        if kind == "view":
            old_f = {f["name"]: f["dtype"] for f in old["features"]}
            new_f = {f["name"]: f["dtype"] for f in new["features"]}
            result["features"] = {
                "added": sorted(set(new_f) - set(old_f)),
                "removed": sorted(set(old_f) - set(new_f)),
                "retyped": {
                    n: {"from": old_f[n], "to": new_f[n]}
                    for n in sorted(set(old_f) & set(new_f))
                    if old_f[n] != new_f[n]
                },
            }
            old_v, new_v = versions[a], versions[b]
            assert isinstance(old_v, FeatureViewVersion) and isinstance(new_v, FeatureViewVersion)
            if old_v.join_keys != new_v.join_keys:
                changed["join_keys"] = {"from": list(old_v.join_keys), "to": list(new_v.join_keys)}
        return result

    # --- offline retrieval ------------------------------------------------------------------

    def source_location(self, view: FeatureViewVersion) -> str | None:
        """The local path of a dataset-sourced view's files (verified, cached), else None."""
        src = view.definition.source
        if src.kind != "dataset":
            return None
        if self.datasets is None:
            raise InvalidArgument(f"{view.ref} reads dataset {src.location}: this service has no dataset store")
        return str(self.datasets.materialise(src.location))

    def source_dataset(self, view: FeatureViewVersion) -> DatasetVersion | None:
        src = view.definition.source
        if src.kind != "dataset" or self.datasets is None:
            return None
        return self.datasets.resolve(src.location)

    def get_training_set(
        self,
        entity_rows: Any,
        features: Sequence[str] | str | FeatureServiceVersion,
        *,
        timestamp_column: str = "event_timestamp",
        full_feature_names: bool = False,
    ) -> TrainingSet:
        """A point-in-time-correct join of ``entity_rows`` (a pandas DataFrame, a pyarrow Table
        or a Parquet path with the join keys and ``timestamp_column``) with the features
        (references ``view:feature`` / ``view@vN:feature``, or a feature service). See
        ``features/offline.py`` for the rules; nothing runs until the result is read."""
        requests = []
        for view, names in self.resolve(features):
            columns = tuple(f"{view.name}__{n}" if full_feature_names else n for n in names)
            location = self.source_location(view)
            requests.append(
                ViewRequest(view, tuple(names), columns, source_sql(view, location), source_files(view, location))
            )
        return build_training_set(entity_rows, requests, timestamp_column=timestamp_column, config=self.duck)

    def save_training_set(
        self,
        training_set: TrainingSet,
        name: str,
        *,
        message: str | None = None,
        code: str | None = None,
    ) -> SavedTrainingSet:
        """Write the training set as one Parquet file and add it as the next version of dataset
        ``name``: its parents are the dataset versions the views read, its params name the view
        versions, and the feature store links it to them (the lineage graph draws both)."""
        if self.datasets is None:
            raise InvalidArgument("saving a training set needs a dataset store")
        views = tuple(v.ref for v in training_set.views)
        parents = [d for d in (self.source_dataset(v) for v in training_set.views) if d is not None]
        params = {
            "feature_views": ",".join(views),
            "feature_digests": json.dumps({v.ref: v.digest for v in training_set.views}, sort_keys=True),
            "columns": ",".join(training_set.columns),
        }
        with tempfile.TemporaryDirectory(prefix="modelyard-training-set-") as tmp:
            path = training_set.to_parquet(Path(tmp) / "training_set.parquet")
            added = self.datasets.add(path, name=name, message=message, parents=parents, code=code, params=params)
            profiles = self._training_profiles(training_set.views, path) if added.created else None
        self.store.link_training_set(
            added.version.name, added.version.version, [(v.name, v.version) for v in training_set.views], profiles
        )
        return SavedTrainingSet(added.version, added.created, views)

    # --- online serving ------------------------------------------------------------------------

    def _online(self) -> OnlineStore:
        if self.online is None:
            raise InvalidArgument("this feature store service has no online store")
        return self.online

    def views_named(self, views: Sequence[str] | None = None) -> list[FeatureViewVersion]:
        """``name`` or ``name@vN`` each (the latest version of every view when None)."""
        if views is None:
            return self.store.list_views()
        found = []
        for text in views:
            ref = parse_feature_ref(text, allow_whole_view=True)
            if ref.feature is not None:
                raise InvalidArgument(f"{text!r} names a feature: give a view, 'name' or 'name@vN'")
            found.append(self.view(ref.view, ref.version))
        return found

    def materialize(
        self,
        start: dt.datetime | int,
        end: dt.datetime | int,
        *,
        views: Sequence[str] | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> list[Materialization]:
        """Write each view's newest row per entity with an event time in ``[start, end)`` to
        the online store (a naive datetime is UTC; an int is ms since the epoch) and record
        the run. The store keeps the newest row per entity, so windows may overlap."""
        start_ms, end_ms = _millis(start), _millis(end)
        if end_ms < start_ms:
            raise InvalidArgument("the materialisation window ends before it starts")
        return [self._materialize_view(v, start_ms, end_ms, progress) for v in self.views_named(views)]

    def materialize_incremental(
        self,
        end: dt.datetime | int | None = None,
        *,
        views: Sequence[str] | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> list[Materialization]:
        """For each view version, materialise from the end of its last run into this online
        store (from the beginning, the first time) to ``end`` (default now): only what changed
        since the last run. A view already materialised to ``end`` is skipped."""
        end_ms = _millis(end) if end is not None else int(time.time() * 1000)
        online = self._online()
        done = []
        for view in self.views_named(views):
            runs = self.store.list_materializations(view.name, view.version, online.name)
            start_ms = max((r.end for r in runs), default=0)
            if start_ms < end_ms:
                done.append(self._materialize_view(view, start_ms, end_ms, progress))
        return done

    def _materialize_view(
        self, view: FeatureViewVersion, start_ms: int, end_ms: int, progress: Callable[[str, int], None] | None
    ) -> Materialization:
        online = self._online()
        report = None if progress is None else (lambda n: progress(view.ref, n))
        source = source_sql(view, self.source_location(view))
        profiler = RowProfiler(view)
        rows = online.write(
            view, profiler.wrap(read_rows_for_window(view, source, start_ms, end_ms, self.duck, report))
        )
        digest = None
        if self.artifacts is not None:
            digest = self.artifacts.put_bytes(profiler.profile.to_bytes()).digest
        run = Materialization(
            view=view.name,
            version=view.version,
            target=online.name,
            start=start_ms,
            end=end_ms,
            rows=rows,
            created_at=int(time.time() * 1000),
            profile=digest,
            failed_checks=profiler.failed_checks,
        )
        return self.store.record_materialization(run)

    def run_profile(self, run: Materialization) -> DatasetProfile | None:
        """The statistics profile of the rows ``run`` wrote (None: recorded without one)."""
        if run.profile is None:
            return None
        if self.artifacts is None:
            raise InvalidArgument("reading a materialisation profile needs an artifact store")
        return DatasetProfile.from_bytes(self.artifacts.get_bytes(run.profile))

    def view_profile(self, view: str, target: str | None = None) -> tuple[FeatureViewVersion, DatasetProfile, int]:
        """The current profile of view ``view`` (``name`` or ``name@vN``; the latest version):
        the merge of the profiles of its materialisation runs into ``target`` (default: this
        service's online store, as ``freshness``; every store's runs when it has none), with the
        number of runs merged. InvalidArgument when no run recorded a profile."""
        if target is None and self.online is not None:
            target = self.online.name
        found = self.views_named([view])[0]
        runs = self.store.list_materializations(found.name, found.version, target)
        profiles = [p for p in (self.run_profile(r) for r in runs) if p is not None]
        if not profiles:
            where = f" into {target}" if target else ""
            raise InvalidArgument(f"{found.ref} has no materialisation{where} with a profile yet: materialise it first")
        return found, DatasetProfile.merge_all(profiles), len(profiles)

    def _training_profiles(self, views: Sequence[FeatureViewVersion], path: Path) -> dict[str, str] | None:
        """Per view version (``view@vN``): the digest of the profile of its features in the
        training set file ``path``, stored in the artifact store (None without one)."""
        if self.artifacts is None:
            return None
        out = {}
        for view in views:
            try:
                profile = profile_parquet(view, [path], "the training set")
            except InvalidArgument:
                continue  # none of its features came out under a name it can be found by
            out[view.ref] = self.artifacts.put_bytes(profile.to_bytes()).digest
        return out

    def training_profile(self, view: FeatureViewVersion, dataset: str | None = None) -> tuple[str, DatasetProfile]:
        """The profile of ``view``'s features in a training set saved as a dataset version
        (``dataset``: ``name@vN``; default the newest training set built from this view version),
        profiled as materialisation profiles them, with the dataset reference: the profile kept
        when the training set was saved, else computed from its files. A feature is the column
        of its name, or ``view__feature`` (full feature names); absent features are left out
        (InvalidArgument when none is there)."""
        if self.datasets is None:
            raise InvalidArgument("comparing with a training set needs a dataset store")
        if dataset is None:
            links = self.store.list_training_sets_of_view(view.name, view.version)
            if not links:
                raise InvalidArgument(f"no training set was saved from {view.ref}: name one with --against DATASET@VER")
            newest = max(links, key=lambda link: (link.dataset_version, link.dataset))
            dataset = f"{newest.dataset}@v{newest.dataset_version}"
        version = self.datasets.resolve(dataset)
        ref = f"{version.name}@v{version.version}"
        for link in self.store.list_views_of_training_set(version.name, version.version):
            kept = link.profile if (link.view, link.view_version) == (view.name, view.version) else None
            if kept is not None and self.artifacts is not None and self.artifacts.exists(kept):
                return ref, DatasetProfile.from_bytes(self.artifacts.get_bytes(kept))
        location = self.datasets.materialise(version)
        files = sorted(location.rglob("*.parquet")) if location.is_dir() else [location]
        return ref, profile_parquet(view, files, f"dataset {ref}")

    def freshness(self, views: Sequence[str] | None = None) -> list[Freshness]:
        """Per view version: how far it is materialised into this online store, and the lag."""
        target = self._online().name
        now = time.time() * 1000
        out = []
        for view in self.views_named(views):
            runs = self.store.list_materializations(view.name, view.version, target)
            until = max((r.end for r in runs), default=None)
            last = max((r.created_at for r in runs), default=None)
            lag = None if until is None else max(0.0, (now - until) / 1000)
            out.append(Freshness(view.ref, target, until, last, lag, sum(r.rows for r in runs)))
        return out

    def online_plan(self, features: Sequence[str] | str, *, full_feature_names: bool = False) -> OnlinePlan:
        """The prepared read of ``features`` (references, or a service), reused for
        ``PLAN_SECONDS`` (then resolved again, so new view versions are picked up)."""
        key = (features if isinstance(features, str) else tuple(features), full_feature_names)
        plan = self._plans.get(key)
        if plan is not None and time.monotonic() - plan.created < PLAN_SECONDS:
            return plan
        online = self._online()
        names: list[str] = []
        groups = []
        resolved = self.resolve(features)
        for view, feats in resolved:
            ttl = view.definition.ttl_seconds
            groups.append(PlanGroup(view.ref, view.join_keys, None if ttl is None else ttl * 1000, len(feats)))
            names.extend(f"{view.name}__{f}" if full_feature_names else f for f in feats)
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise InvalidArgument(f"features {repeated} come from several views: pass full_feature_names=True")
        plan = OnlinePlan(names, groups, online.readers([(view, feats) for view, feats in resolved]))
        with self._plans_lock:
            if len(self._plans) > 1000:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def get_online_features(
        self,
        entity_rows: Sequence[Mapping[str, Any]],
        features: Sequence[str] | str,
        *,
        full_feature_names: bool = False,
    ) -> OnlineResult:
        """The latest values of ``features`` for each entity row (a mapping of join keys to
        values): an unknown entity gets nulls and ``found`` False, never an error."""
        return self.online_plan(features, full_feature_names=full_feature_names)(entity_rows)

    # --- model versions -----------------------------------------------------------------------

    def pin_model(self, model: str, version: int, service: str) -> ModelFeaturePin:
        """Record that model ``model`` version ``version`` was trained on feature service
        ``service`` (``name`` or ``name@vN``; the latest version when unversioned). A model
        version is pinned once (Conflict for another service)."""
        found = self.service(service)
        pin = ModelFeaturePin(
            model=model,
            model_version=version,
            service=found.name,
            service_version=found.version,
            pinned_at=int(time.time() * 1000),
        )
        return self.store.pin_model_version(pin)

    def check_model_pin(self, model: str, version: int) -> list[FeatureViewVersion]:
        """The view versions a model version is pinned to; Conflict when its service version
        or one of its view versions no longer resolves (NotFound when it has no pin)."""
        pin = self.store.get_model_pin(model, version)
        try:
            service = self.store.get_service(pin.service, pin.service_version)
            return [view for view, _ in self.resolve(service)]
        except NotFound as exc:
            raise Conflict(
                f"model {model} version {version}: its features ({pin.service_ref}) no longer resolve: {exc}"
            ) from None

    def enrich(
        self, entity_rows: Sequence[Mapping[str, Any]], model: str, version: int, *, full_feature_names: bool = False
    ) -> OnlineResult:
        """The online values of the features a model version was trained on (its pinned
        service version), for each entity row."""
        pin = self.store.get_model_pin(model, version)
        return self.get_online_features(entity_rows, pin.service_ref, full_feature_names=full_feature_names)

    def parity(
        self,
        entity_rows: Sequence[Mapping[str, Any]],
        features: Sequence[str] | str,
        *,
        at: dt.datetime | None = None,
        tolerance: float = 1e-9,
    ) -> ParityReport:
        """Compare what the online store serves for ``entity_rows`` with what the offline join
        returns for the same keys at ``at`` (default now): a value missing from one side,
        stale or different is a mismatch. Run it before approving a model version."""
        when = at or dt.datetime.now(dt.UTC)
        online = self.get_online_features(entity_rows, features)
        names = [f"{v.name}__{f}" for v, fs in self.resolve(features) for f in fs]
        try:
            offline = self._offline_at(entity_rows, features, when)
        except InvalidArgument as exc:
            if "time zones mixed" not in str(exc):
                raise
            offline = self._offline_at(entity_rows, features, when.astimezone(dt.UTC).replace(tzinfo=None))
        return compare(offline, names, online, tolerance)

    def _offline_at(
        self, entity_rows: Sequence[Mapping[str, Any]], features: Sequence[str] | str, when: dt.datetime
    ) -> Any:
        import pandas as pd

        rows = pd.DataFrame([dict(row) for row in entity_rows]).assign(__modelyard_parity_ts=pd.Timestamp(when))
        with self.get_training_set(
            rows, features, timestamp_column="__modelyard_parity_ts", full_feature_names=True
        ) as ts:
            return ts.to_pandas()


def _millis(value: dt.datetime | int) -> int:
    if isinstance(value, bool):
        raise InvalidArgument(f"not a time: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return int(aware.timestamp() * 1000)
    raise InvalidArgument(f"a time is a datetime or ms since the epoch, got {type(value).__name__}")


def _kind(item: object) -> str:
    if isinstance(item, FeatureEntity):
        return "entity"
    if isinstance(item, FeatureView):
        return "view"
    if isinstance(item, FeatureService):
        return "service"
    raise InvalidArgument(f"not a feature definition: {type(item).__name__}")


def _applied(
    kind: str, version: FeatureEntityVersion | FeatureViewVersion | FeatureServiceVersion, created: bool
) -> AppliedObject:
    return AppliedObject(kind, version.name, version.version, version.digest, created)
