"""Features: versioned feature definitions, point-in-time-correct training sets, online serving.

Definitions (``FeatureEntity``, ``FeatureView``, ``FeatureService`` and their parts) are core
entities (``modelyard.core.features``), re-exported here for definition files::

    from modelyard.features import Feature, FeatureEntity, FeatureSource, FeatureView

The service (``FeatureStoreService``) receives its stores in its constructor; the SDK
(``modelyard.sdk.features``), the CLI (``modelyard features``) and the server build it from the
``Stores`` bundle. ``offline.py`` is the DuckDB point-in-time join, ``definitions.py`` loads a
definition file.
"""

from __future__ import annotations

from modelyard.core.errors import UnknownFeature
from modelyard.core.features import Feature, FeatureEntity, FeatureService, FeatureSource, FeatureView
from modelyard.features.offline import DuckConfig, TrainingSet
from modelyard.features.service import AppliedObject, FeatureStoreService, SavedTrainingSet

__all__ = [
    "AppliedObject",
    "DuckConfig",
    "Feature",
    "FeatureEntity",
    "FeatureService",
    "FeatureSource",
    "FeatureStoreService",
    "FeatureView",
    "SavedTrainingSet",
    "TrainingSet",
    "UnknownFeature",
]
