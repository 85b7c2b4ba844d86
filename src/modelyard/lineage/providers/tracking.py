"""The tracking subsystem's lineage: runs (commit, params, environment), the dataset versions they
read (``read_by``, with the input's context), their parent and child runs, and the model versions
they predicted with (``used_by``: batch scoring records the use with ``log_model_use``, found
from the model version by ``find_runs_using_model``, and tags its run
``modelyard.model_version_used``, which names the model version from the run)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.lineage.graph import LineageEdge, LineageNode, dataset_node_id, model_node_id, run_node_id
from modelyard.lineage.providers import LineageProvider
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    from modelyard.core.tracking import Run, RunInput
    from modelyard.lineage.providers.data import DataLineage
    from modelyard.store.interfaces import TrackingStore

__all__ = ["TrackingLineage"]


class TrackingLineage(LineageProvider):
    """``data`` (the data subsystem's provider, below tracking) finds the dataset version a run's
    recorded input names; without it inputs are drawn by name and version, and found nowhere."""

    prefixes = ("run",)
    root_kind = "run"

    def __init__(self, store: TrackingStore, *, data: DataLineage | None = None) -> None:
        self.store = store
        self.data = data
        self._runs: dict[str, Run | None] = {}
        self._input_facts: dict[str, dict[str, Any]] = {}  # what a run recorded of an input not in the store

    def resolve(self, reference: str) -> str:
        run_id = reference.removeprefix("run:")
        self.store.get_run(run_id)
        return run_node_id(run_id)

    def node(self, node_id: str, hints: Mapping[str, Any]) -> LineageNode:
        run_id = node_id.partition(":")[2]
        run = self.run(run_id)
        if run is None:
            return LineageNode(node_id, "run", run_id[:12], {"id": run_id, "missing": True})
        tags = run.tags
        return LineageNode(
            node_id,
            "run",
            f"{run.id[:12]}" + (f" {run.name}" if run.name else ""),
            {
                "id": run.id,
                "name": run.name,
                "project_id": run.project_id,
                "status": run.status.value,
                "lifecycle_stage": run.lifecycle_stage.value,
                "start_time": run.start_time,
                "end_time": run.end_time,
                "parent_run_id": run.parent_run_id,
                "commit": tags.get(sysinfo.TAG_GIT_COMMIT),
                "dirty_hash": tags.get(sysinfo.TAG_GIT_DIRTY_HASH),
                "repo": tags.get(sysinfo.TAG_GIT_REPO),
                "entry_point": tags.get(sysinfo.TAG_ENTRY_POINT),
                "environment": tags.get(sysinfo.TAG_ENVIRONMENT),
                "python": tags.get(sysinfo.TAG_PYTHON),
                "params": dict(run.params),
                "reproduction_of": tags.get(sysinfo.TAG_REPRODUCTION_OF),
            },
        )

    def hints(self, node_id: str) -> Mapping[str, Any]:
        return self._input_facts.get(node_id, {})

    def upstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind != "run":
            return
        run = self.run(key)
        if run is None:
            return
        for item in run.inputs:
            yield LineageEdge(self._input(item), node_id, "read_by", item.context)
        if run.parent_run_id:
            yield LineageEdge(run_node_id(run.parent_run_id), node_id, "parent_of")
        used = _model_node(run.tags.get(sysinfo.TAG_MODEL_VERSION_USED))
        if used is not None:
            yield LineageEdge(used, node_id, "used_by")

    def downstream(self, node_id: str) -> Iterator[LineageEdge]:
        kind, _, key = node_id.partition(":")
        if kind == "dataset":
            dataset = None if self.data is None else self.data.version(node_id)
            if dataset is None:
                return
            for reader in self.store.find_runs_by_input(dataset.name, dataset.version):
                yield LineageEdge(node_id, run_node_id(reader.run_id), "read_by", reader.context)
        elif kind == "run":
            try:
                children = [link.run_id for link in self.store.list_child_runs(key)]
            except NotFound:  # a server with auth on answers 404 for a run it does not have
                children = []
            for child in children:
                yield LineageEdge(node_id, run_node_id(child), "parent_of")
        elif kind == "model":
            for user in self._runs_using(key):
                yield LineageEdge(node_id, run_node_id(user), "used_by")

    def _runs_using(self, model_version: str) -> list[str]:
        """Runs that recorded using ``model_version`` (``NAME@N``): one index lookup
        (``find_runs_using_model``) per model version reached; a run appears once even when it
        recorded the use in several contexts."""
        name, _, number = model_version.rpartition("@")
        if not name or not (number.isascii() and number.isdigit()):
            return []
        links = self.store.find_runs_using_model(name, int(number))
        return list(dict.fromkeys(link.run_id for link in links))

    def run(self, run_id: str) -> Run | None:
        if run_id not in self._runs:
            try:
                self._runs[run_id] = self.store.get_run(run_id)
            except NotFound:
                self._runs[run_id] = None
        return self._runs[run_id]

    def _input(self, item: RunInput) -> str:
        node_id = dataset_node_id(item.name, item.version) if self.data is None else self.data.input_node_id(item)
        self._input_facts.setdefault(
            node_id, {"name": item.name, "version": item.version, "digest": item.digest, "source": item.source}
        )
        return node_id


def _model_node(text: str | None) -> str | None:
    """``model:NAME@N`` for a ``NAME@N`` tag value; None when there is none or it is not one."""
    if not text:
        return None
    name, _, number = text.rpartition("@")
    return model_node_id(name, int(number)) if name and number.isdigit() else None
