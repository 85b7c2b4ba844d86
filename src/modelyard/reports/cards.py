"""Model cards: what a model version is, what it was trained on, how well it does, and what it is for.

Most of a card is generated from facts the registry and tracking already hold, so it can never go
stale: the version (state, aliases, flavor, package digest), the training run (params, metrics,
code commit), the dataset versions the run read (its inputs), the features (the signature's
columns) and the newest recorded evaluation (metrics, slices, champion comparison, plots). Only
the hand-written fields (intended use, limitations, owners, ethical considerations, ...) are
stored with the version; each edit is an audit event (``modelyard.registry.card_fields``: the
fields, their checks and their storage stay with the registry; this module is the report).

Exports: Markdown, and one self-contained HTML page (plots drawn with plotly.js inlined once from
the installed plotly package; nothing is fetched from the network).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.core.errors import NotFound
from modelyard.evaluation import EvaluationResult, latest_evaluation
from modelyard.registry.card_fields import EDITABLE_FIELDS, MAX_FIELD_LENGTH, set_card_fields, validate_fields
from modelyard.tracking import sysinfo

if TYPE_CHECKING:
    from modelyard.registry.service import RegistryService

__all__ = [
    "EDITABLE_FIELDS",
    "MAX_FIELD_LENGTH",
    "ModelCard",
    "build_card",
    "card_evaluation",
    "update_card",
    "validate_fields",
]

#: Run tags worth showing on a card (the code that trained the model).
_RUN_TAGS = (
    sysinfo.TAG_GIT_COMMIT,
    sysinfo.TAG_GIT_DIRTY_HASH,
    sysinfo.TAG_GIT_REPO,
    sysinfo.TAG_ENTRY_POINT,
    sysinfo.TAG_USER,
    sysinfo.TAG_ENVIRONMENT,
)


@dataclass
class ModelCard:
    model_name: str
    version: int
    project: str
    state: str
    aliases: list[str]
    flavor: str
    package_digest: str
    created_at: int
    created_by: str
    description: str | None
    fields: dict[str, str] = field(default_factory=dict)
    fields_updated_at: int | None = None
    fields_updated_by: str | None = None
    run: dict[str, Any] | None = None  # id, name, params, metrics, tags, inputs
    features: list[dict[str, Any]] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None  # EvaluationResult.to_dict()

    @property
    def title(self) -> str:
        return f"{self.model_name} version {self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_markdown(self) -> str:
        from modelyard.reports._card_render import render_markdown

        return render_markdown(self)

    def to_html(self, *, plotly_src: str | None = None) -> str:
        """One HTML page: plotly.js inlined (self-contained), or loaded from ``plotly_src``."""
        from modelyard.reports._card_render import render_html

        return render_html(self, plotly_src=plotly_src)

    def write_html(self, path: str | Path, *, self_contained: bool = False) -> Path:
        """Write the card as HTML to ``path`` (atomically). By default its charts load the shared
        ``plotly.min.js`` beside it, written there if missing or different, so a folder of cards
        holds one copy of the library; ``self_contained=True`` inlines it (one file, ~5 MB)."""
        from modelyard.core.html_assets import plotly_js, write_page

        # only a card with charts loads plotly.min.js, so only then is it written
        return write_page(
            Path(path), lambda src: self.to_html(plotly_src=src), plotly_js,
            self_contained=self_contained,
        )  # fmt: skip


def update_card(
    registry: RegistryService, name: str, version: int, changes: Mapping[str, str | None], *, actor: str
) -> ModelCard:
    """Edit the hand-written fields of a version's card (recorded as a ``card_updated`` event)."""
    set_card_fields(registry, name, version, changes, actor=actor)
    return build_card(registry, name, version)


def build_card(registry: RegistryService, name: str, version: int) -> ModelCard:
    """The card of a version, generated from the registry, its run and its newest evaluation."""
    v = registry.get_version(name, version)
    model = registry.get_model(name)
    project = registry.tracking.get_project(model.project_id).name
    edited = registry.store.get_model_card_fields(name, version)
    card = ModelCard(
        model_name=name,
        version=version,
        project=project,
        state=v.state.value,
        aliases=list(v.aliases),
        flavor=v.flavor,
        package_digest=v.manifest_digest,
        created_at=v.created_at,
        created_by=v.created_by,
        description=v.description,
        fields={k: edited.fields[k] for k in EDITABLE_FIELDS if k in edited.fields},
        fields_updated_at=edited.updated_at,
        fields_updated_by=edited.updated_by,
    )
    if v.signature:
        try:
            signature = json.loads(v.signature)
        except ValueError:
            signature = {}
        card.features = [
            {"name": c.get("name"), "dtype": c.get("dtype"), **({"shape": c["shape"]} if "shape" in c else {})}
            for c in signature.get("inputs", [])
        ]
    if v.run_id is not None:
        try:
            run = registry.tracking.get_run(v.run_id)
        except NotFound:
            run = None
        if run is not None:
            card.run = {
                "id": run.id,
                "name": run.name,
                "status": run.status.value,
                "start_time": run.start_time,
                "params": dict(sorted(run.params.items())),
                "metrics": {k: m.value for k, m in sorted(run.metrics.items())},
                "tags": {k: run.tags[k] for k in _RUN_TAGS if k in run.tags},
                "inputs": [i.model_dump(mode="json") for i in run.inputs],
            }
    evaluation = latest_evaluation(registry, name, version)
    if evaluation is not None:
        card.evaluation = evaluation.to_dict()
    return card


def card_evaluation(card: ModelCard) -> EvaluationResult | None:
    return None if card.evaluation is None else EvaluationResult.from_dict(card.evaluation)
