"""The lineage graph's downstream walk over the stores' reverse lookups, on every backend.

Three checks: the graph equals, node for node and edge for edge in the same order, the graph of
the scan the walk used before the lookups existed (kept below as ``ScanningBuilder``, the
reference); unrelated runs, models and datasets added to the store change neither the graph
nor the number of store calls a walk makes; and a walk never calls the listing methods a scan
needs (``search_runs``, ``list_projects``, ``list_registered_models``, ``list_datasets``...).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from typing import Any, cast

import pytest

from modelyard.core.datasets import DatasetVersionKey, NewDatasetVersion
from modelyard.core.ids import new_id
from modelyard.core.registry import ModelFile, ModelState
from modelyard.core.tracking import LifecycleStage, Run, RunInput, RunQuery
from modelyard.lineage import LineageBuilder, LineageEdge, dataset_node_id, model_node_id, run_node_id
from modelyard.lineage.providers.data import DataLineage
from modelyard.store import Stores, TrackingStore
from tests.contract.conftest import Joined

T0 = 1_700_000_000_000
SCAN_METHODS = {
    "search_runs",
    "list_projects",
    "list_registered_models",
    "list_model_versions",
    "list_datasets",
    "list_dataset_versions",
}


class ScanningBuilder(LineageBuilder):
    """The downstream walk as it was before the stores had reverse lookups: every run of every
    project, every model's versions and every dataset's versions, scanned once per graph."""

    _scan: dict[str, dict[Any, list[Any]]] | None = None
    _versions: DataLineage | None = None

    def _downstream_lookup(self, node_id: str) -> Iterator[LineageEdge]:  # type: ignore[override]
        kind, _, key = node_id.partition(":")
        index = self._index()
        if kind == "dataset":
            assert self.datasets is not None
            self._versions = self._versions or DataLineage(self.datasets)
            dataset = self._versions.version(node_id)
            if dataset is None:
                return
            for run_id, context in index["readers"].get((dataset.name, f"v{dataset.version}"), []):
                yield LineageEdge(node_id, run_node_id(run_id), "read_by", context)
            for derived in index["derived"].get((dataset.name, dataset.version), []):
                yield LineageEdge(node_id, dataset_node_id(derived.name, derived.version), "derived_from")
        elif kind == "run":
            for produced in index["versions_by_run"].get(key, []):
                yield LineageEdge(node_id, model_node_id(produced.model_name, produced.version), "produced")
            for made in index["datasets_by_run"].get(key, []):
                yield LineageEdge(node_id, dataset_node_id(made.name, made.version), "produced")
            for child in index["children"].get(key, []):
                yield LineageEdge(node_id, run_node_id(child), "parent_of")
        else:
            yield from super()._downstream_lookup(node_id)

    def _index(self) -> dict[str, dict[Any, list[Any]]]:
        if self._scan is not None:
            return self._scan
        index: dict[str, dict[Any, list[Any]]] = {
            k: {} for k in ("readers", "children", "versions_by_run", "derived", "datasets_by_run")
        }
        for run in self._all_runs():
            for item in run.inputs:
                version = item.version or ""
                if not version.startswith("v") and version.isdigit():
                    version = f"v{version}"
                index["readers"].setdefault((item.name, version), []).append((run.id, item.context))
            if run.parent_run_id:
                index["children"].setdefault(run.parent_run_id, []).append(run.id)
        assert self.registry is not None and self.datasets is not None
        for model in self.registry.list_registered_models():
            for model_version in reversed(self.registry.list_model_versions(model.name)):
                if model_version.run_id:
                    index["versions_by_run"].setdefault(model_version.run_id, []).append(model_version)
        for summary in self.datasets.list_datasets():
            for dataset in self.datasets.list_dataset_versions(summary.name, include_removed=True):
                for parent in dataset.parents:
                    index["derived"].setdefault((parent.name, parent.version), []).append(dataset)
                if dataset.code and dataset.code.startswith("run:"):
                    index["datasets_by_run"].setdefault(dataset.code[4:], []).append(dataset)
        self._scan = index
        return index

    def _all_runs(self) -> Iterable[Run]:
        for project in self.tracking.list_projects():
            token: str | None = None
            while True:
                query = RunQuery(
                    project_ids=[project.id],
                    max_results=1000,
                    page_token=token,
                    order_by=("start_time ASC",),
                    include_metrics=False,
                    include_params=False,
                    include_tags=False,
                )
                result = self.tracking.search_runs(query)
                yield from result.runs
                token = result.next_page_token
                if not token:
                    break


class CountingStore:
    """Passes every call to the store and counts it by method name."""

    def __init__(self, store: TrackingStore) -> None:
        self._store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return target(*args, **kwargs)

        return counted


def counting_builder(store: TrackingStore) -> tuple[LineageBuilder, CountingStore]:
    counting = CountingStore(store)
    any_store = cast(Any, counting)
    return LineageBuilder(any_store, datasets=any_store, registry=any_store), counting


# --- the store the walks run over ---------------------------------------------------------------


def dataset(store: TrackingStore, name: str, fill: str, **kw: Any) -> str:
    new = NewDatasetVersion(
        name=name, manifest_digest="sha256:" + fill * 64, kind="file", file_count=1, total_size=1, **kw
    )
    return store.create_dataset_version(new).ref


def model_version(store: TrackingStore, name: str, run_id: str | None, fill: str) -> int:
    digest = "sha256:" + fill * 64
    files = [ModelFile(path="model.pkl", digest=digest, size=1)]
    created = store.create_model_version(
        name, manifest_digest=digest, flavor="python", files=files, created_by="ana", at=T0, run_id=run_id
    )
    return created.version


def populate(store: TrackingStore) -> dict[str, str]:
    """Datasets derived from each other and from runs, runs reading them (two contexts, a numeric
    version, a deleted run), nested runs across projects, models of two projects with states and
    aliases: every kind of downstream edge, with ties that make the order matter."""
    zeta, alpha = store.create_project("zeta"), store.create_project("alpha")
    study = store.create_run(alpha.id, name="study", start_time=T0)
    prep = store.create_run(zeta.id, name="prep", start_time=T0 + 1, parent_run_id=study.id)
    train = store.create_run(alpha.id, name="train", start_time=T0 + 2, parent_run_id=study.id)
    trial = store.create_run(zeta.id, name="trial", start_time=T0 + 2, parent_run_id=study.id)
    gone = store.create_run(alpha.id, name="gone", start_time=T0 + 3, parent_run_id=study.id)
    dataset(store, "raw", "1")
    dataset(store, "raw", "2")
    raw1 = DatasetVersionKey("raw", 1)
    dataset(store, "clean", "3", parents=[raw1], code=f"run:{prep.id}")
    dataset(store, "clean", "4", parents=[DatasetVersionKey("raw", 2)], code=f"run:{prep.id}")
    dataset(store, "features", "5", parents=[raw1, DatasetVersionKey("clean", 1)], code="features.py")
    dataset(store, "Features", "6", parents=[raw1], code=f"run:{train.id}")
    store.remove_dataset_version("clean", 2)
    store.log_inputs(prep.id, [RunInput(name="raw", version="v1", context="source")])
    store.log_inputs(
        train.id,
        [RunInput(name="clean", version="v1", context=c) for c in ("training", "evaluation")]
        + [RunInput(name="raw", version="1")],
    )
    store.log_inputs(trial.id, [RunInput(name="raw", version="v1", context="trial")])
    store.log_inputs(gone.id, [RunInput(name="raw", version="v1")])
    store.set_run_lifecycle(gone.id, LifecycleStage.DELETED)
    store.create_registered_model("churn", zeta.id, created_by="ana", at=T0)
    store.create_registered_model("a/churn", alpha.id, created_by="ana", at=T0)
    for fill, run_id in (("a", train.id), ("b", train.id), ("c", trial.id), ("d", None)):
        model_version(store, "churn", run_id, fill)
    model_version(store, "a/churn", train.id, "e")
    for frm, to in ((ModelState.DRAFT, ModelState.STAGING), (ModelState.STAGING, ModelState.PRODUCTION)):
        store.transition_model_version("churn", 1, from_state=frm, to_state=to, actor="ana", reason=None, at=T0 + 1)
    store.set_model_alias("churn", "champion", 2, actor="ana", reason=None, at=T0 + 2)
    return {"study": study.id, "prep": prep.id, "train": train.id, "trial": trial.id}


def add_unrelated(store: TrackingStore, runs: int) -> None:
    """Noise a scan would read and an indexed walk never touches: runs of another project (some
    reading other datasets, some nested), another model, other datasets."""
    noise = store.create_project("noise")
    parent = store.create_run(noise.id, name="noise-parent", start_time=T0)
    records = [
        (
            Run(
                id=new_id(),
                project_id=noise.id,
                name=f"n{i}",
                start_time=T0 + i,
                parent_run_id=parent.id if i % 2 else None,
            ),
            [],
        )
        for i in range(runs)
    ]
    store.import_runs(records)
    dataset(store, "other", "7")
    dataset(store, "other", "8", parents=[DatasetVersionKey("other", 1)], code=f"run:{records[0][0].id}")
    for run, _ in records[:20]:
        store.log_inputs(run.id, [RunInput(name="other", version="v1", context="training")])
    store.create_registered_model("noise-model", noise.id, created_by="ana", at=T0)
    model_version(store, "noise-model", records[1][0].id, "9")


ROOTS = [
    ("raw@v1", "dataset", "both"),
    ("raw@v1", "dataset", "downstream"),
    ("clean@v1", "dataset", "both"),
    ("churn@1", "model", "both"),
]


def graphs(builder_type: type[LineageBuilder], store: TrackingStore, ids: dict[str, str]) -> list[dict[str, Any]]:
    """The ``to_dict`` of every graph in ROOTS, a run-rooted one and a depth-bounded one."""

    def build(reference: str, **kw: Any) -> dict[str, Any]:
        return builder_type(store, datasets=store, registry=store).build(reference, **kw).to_dict()

    out = [build(ref, kind=kind, direction=direction) for ref, kind, direction in ROOTS]
    out.append(build(f"run:{ids['study']}", direction="downstream"))
    out.append(build("raw@v1", kind="dataset", direction="downstream", depth=2))
    return out


@pytest.fixture
def store(stores: Stores) -> Any:
    """The tracking, registry and dataset stores as one (the scenario is written through one name)."""
    return Joined(stores)


@pytest.fixture
def ids(store: TrackingStore) -> dict[str, str]:
    return populate(store)


def test_the_walk_draws_the_graph_the_scan_drew(store: TrackingStore, ids: dict[str, str]) -> None:
    indexed = graphs(LineageBuilder, store, ids)
    assert indexed == graphs(ScanningBuilder, store, ids)
    raw = indexed[1]
    edges = [(e["from"], e["to"], e["kind"], e.get("context")) for e in raw["edges"]]
    # the readers of raw@v1: alpha's train (numeric version "1") before zeta's prep and trial
    assert edges[:3] == [
        ("dataset:raw@v1", f"run:{ids['train']}", "read_by", None),
        ("dataset:raw@v1", f"run:{ids['prep']}", "read_by", "source"),
        ("dataset:raw@v1", f"run:{ids['trial']}", "read_by", "trial"),
    ]
    assert ("dataset:raw@v1", "dataset:Features@v1", "derived_from", None) in edges
    assert (f"run:{ids['train']}", "model:a/churn@1", "produced", None) in edges
    assert not any(n["label"].endswith("gone") for n in raw["nodes"])  # deleted runs stay out
    walk = {"kind": "dataset", "direction": "downstream"}
    from_raw2 = LineageBuilder(store, datasets=store, registry=store).build("raw@v2", **walk)
    assert (
        from_raw2.to_dict() == ScanningBuilder(store, datasets=store, registry=store).build("raw@v2", **walk).to_dict()
    )
    assert from_raw2.nodes["dataset:clean@v2"].attributes["removed"] is True  # removed versions stay in lineage


def test_unrelated_rows_change_neither_the_graph_nor_the_calls(store: TrackingStore, ids: dict[str, str]) -> None:
    before = graphs(LineageBuilder, store, ids)
    builder, counting = counting_builder(store)
    builder.build("raw@v1", kind="dataset", direction="downstream")
    calls_before = dict(counting.calls)

    add_unrelated(store, runs=300)
    assert graphs(LineageBuilder, store, ids) == before
    builder, counting = counting_builder(store)
    graph = builder.build("raw@v1", kind="dataset", direction="downstream")
    assert dict(counting.calls) == calls_before
    assert not SCAN_METHODS & set(counting.calls), counting.calls
    # one lookup per kind of edge per node reached, plus the reads that draw the nodes
    assert counting.calls["find_runs_by_input"] == len(graph.nodes_of_kind("dataset_version"))
    assert counting.calls["list_child_runs"] == len(graph.nodes_of_kind("run"))


def test_a_run_rooted_walk_makes_no_scan(store: TrackingStore, ids: dict[str, str]) -> None:
    builder, counting = counting_builder(store)
    graph = builder.build(f"run:{ids['study']}", direction="both")
    assert {f"run:{ids['train']}", "model:churn@1", "model:a/churn@1", "dataset:clean@v2"} <= set(graph.nodes)
    assert not SCAN_METHODS & set(counting.calls), counting.calls
    assert counting.calls["list_model_versions_by_run"] == len(graph.nodes_of_kind("run"))
