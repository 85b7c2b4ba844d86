"""The feature registry: the interface of the feature store's metadata aggregate.

store/sql/features.py implements it (``SqlFeatureStore``), client/features.py over HTTP
(``HttpFeatureStore``); the service (``modelyard.features.FeatureStoreService``) receives it typed
as this ABC. The entities are in ``modelyard.core.features``.

What it holds is definitions and small facts: versions of entities, feature views and feature
services (each an immutable JSON definition with its content digest), the materialisation runs of
each view version into each online store, and which view versions each saved training set was
built from. Feature values never pass through it: they live in the sources (Parquet, dataset
versions) and in the online stores.

Versions are numbered 1, 2, 3... per name and kind; a number is never reused. ``put_*`` is
idempotent on content: when the definition's digest equals the latest version's, nothing is
created and the latest version is returned (``created`` False), so applying the same file twice
changes nothing and a retried request is harmless. A definition equal to an *older* version makes
a new version (the latest version is always the current definition).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from modelyard.core.features import (
    FeatureEntity,
    FeatureEntityVersion,
    FeatureService,
    FeatureServiceVersion,
    FeatureView,
    FeatureViewVersion,
    Materialization,
    ModelFeaturePin,
)

__all__ = ["Applied", "FeatureStore", "TrainingSetLink"]

V = TypeVar("V", FeatureEntityVersion, FeatureViewVersion, FeatureServiceVersion)


@dataclass(frozen=True)
class Applied(Generic[V]):
    """The result of a ``put_*``: the version that holds the definition, and whether it is new."""

    version: V
    created: bool


@dataclass(frozen=True)
class TrainingSetLink:
    """A training set saved as a dataset version, and one view version it was built from."""

    dataset: str
    dataset_version: int
    view: str
    view_version: int
    profile: str | None = None  # artifact digest: the profile of this view's features in the set


class FeatureStore(ABC):
    """Versioned feature definitions, materialisation runs and training-set links."""

    # --- definitions ------------------------------------------------------------------------

    @abstractmethod
    def put_entity(self, entity: FeatureEntity) -> Applied[FeatureEntityVersion]:
        """Record ``entity`` as the next version of its name unless the latest version has the
        same digest (then return it, ``created`` False). Safe under concurrent writers: two
        writers of the same definition get one version; of different ones, two numbers."""

    @abstractmethod
    def put_view(self, view: FeatureView) -> Applied[FeatureViewVersion]:
        """Like ``put_entity``. The view's entities must exist (NotFound); their join keys (of
        their latest versions, read in the same transaction, in order, each once) are recorded
        on the version and are part of its digest, so a changed entity makes a new view version
        on the next put. InvalidArgument if a join key is also a feature or the timestamp field."""

    @abstractmethod
    def put_service(self, service: FeatureService) -> Applied[FeatureServiceVersion]:
        """Like ``put_entity``. Every reference must be pinned (``view@vN:feature``;
        InvalidArgument otherwise); the caller checks that they resolve."""

    @abstractmethod
    def get_entity(self, name: str, version: int | None = None) -> FeatureEntityVersion:
        """One version (the latest when ``version`` is None); NotFound if missing."""

    @abstractmethod
    def get_view(self, name: str, version: int | None = None) -> FeatureViewVersion:
        """One version (the latest when ``version`` is None); NotFound if missing."""

    @abstractmethod
    def get_service(self, name: str, version: int | None = None) -> FeatureServiceVersion:
        """One version (the latest when ``version`` is None); NotFound if missing."""

    @abstractmethod
    def list_entities(self) -> list[FeatureEntityVersion]:
        """The latest version of every entity, ordered by name."""

    @abstractmethod
    def list_views(self) -> list[FeatureViewVersion]:
        """The latest version of every view, ordered by name."""

    @abstractmethod
    def list_services(self) -> list[FeatureServiceVersion]:
        """The latest version of every service, ordered by name."""

    @abstractmethod
    def list_entity_versions(self, name: str) -> list[FeatureEntityVersion]:
        """Every version, oldest first; NotFound if there is none."""

    @abstractmethod
    def list_view_versions(self, name: str) -> list[FeatureViewVersion]:
        """Every version, oldest first; NotFound if there is none."""

    @abstractmethod
    def list_service_versions(self, name: str) -> list[FeatureServiceVersion]:
        """Every version, oldest first; NotFound if there is none."""

    # --- materialisation --------------------------------------------------------------------

    @abstractmethod
    def record_materialization(self, run: Materialization) -> Materialization:
        """Record one materialisation run (the view version must exist: NotFound). InvalidArgument
        if ``end < start`` or ``rows < 0``. Recording the same run twice records it once."""

    @abstractmethod
    def list_materializations(self, view: str, version: int, target: str | None = None) -> list[Materialization]:
        """The runs of ``view@v<version>`` (into ``target`` only, when given), oldest first;
        empty when there are none (an unknown view has none)."""

    # --- training sets ----------------------------------------------------------------------

    @abstractmethod
    def link_training_set(
        self,
        dataset: str,
        dataset_version: int,
        views: list[tuple[str, int]],
        profiles: Mapping[str, str] | None = None,
    ) -> None:
        """Record that ``dataset@v<dataset_version>`` was built from these view versions (they
        must exist: NotFound), with ``profiles[view@vN]``, when given, the artifact digest of the
        profile of that view's features in the training set. Linking the same pair again
        changes nothing."""

    @abstractmethod
    def list_training_sets_of_view(self, view: str, version: int) -> list[TrainingSetLink]:
        """The training sets built from ``view@v<version>``, ordered by dataset then version."""

    @abstractmethod
    def list_views_of_training_set(self, dataset: str, dataset_version: int) -> list[TrainingSetLink]:
        """The view versions ``dataset@v<dataset_version>`` was built from, ordered by view then version."""

    # --- model versions ---------------------------------------------------------------------

    @abstractmethod
    def pin_model_version(self, pin: ModelFeaturePin) -> ModelFeaturePin:
        """Record the feature service version a model version was trained on (the service
        version must exist: NotFound). A model version is pinned once: the same pin again
        returns the stored one; another service or version is a Conflict."""

    @abstractmethod
    def get_model_pin(self, model: str, model_version: int) -> ModelFeaturePin:
        """The pin of a model version; NotFound if it has none."""

    @abstractmethod
    def list_model_pins(self, service: str | None = None) -> list[ModelFeaturePin]:
        """Every pin (of ``service`` only, when given), ordered by model then version."""
