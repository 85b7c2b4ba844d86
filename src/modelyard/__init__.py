"""modelyard: the whole machine-learning lifecycle in one ``pip install``.

The curated public SDK. Everything listed in ``__all__`` is stable API; the subpackages are
reachable too, but their insides may move.

    import modelyard
    modelyard.set_project("churn")
    with modelyard.start_run(name="baseline") as run:
        modelyard.log_params({"C": 1.0})
        modelyard.log_metric("accuracy", 0.91)
"""

import sys as _sys

from modelyard._version import __version__
from modelyard.core.errors import (
    AlreadyExists,
    ApprovalRequired,
    Conflict,
    FilterSyntaxError,
    IllegalTransition,
    IntegrityError,
    InvalidArgument,
    ModelyardError,
    NotFound,
    PermissionDenied,
    SignatureError,
    StoreUnavailable,
)
from modelyard.core.registry import ModelState, ModelVersion, RegisteredModel
from modelyard.core.tracking import Metric, Project, Run, RunInput, RunStatus
from modelyard.sdk import datasets
from modelyard.sdk import features as feature_store
from modelyard.sdk._autolog_common import AutologgingWarning
from modelyard.sdk.autolog import autolog
from modelyard.sdk.drift import drift, profile
from modelyard.sdk.evaluation import EvaluationResult, ModelCard, evaluate, model_card, update_model_card
from modelyard.sdk.explain import Explanation, ImportanceDiff, explain, explain_diff, model_report
from modelyard.sdk.models import RegistryClient, load_model, log_model, register_model, set_alias, transition
from modelyard.sdk.monitoring import (
    alert_history,
    alerts,
    create_monitor,
    monitor_results,
    monitors,
    run_monitors,
    set_reference,
    silence,
)
from modelyard.sdk.monitoring_report import monitoring_report
from modelyard.sdk.serving import (
    deploy,
    deployment,
    deployment_history,
    deployments,
    log_feedback,
    predictions,
    rollback,
)
from modelyard.sdk.tracking import (
    ActiveRun,
    TrackingClient,
    active_run,
    download_artifacts,
    end_run,
    flush,
    get_metric_history,
    get_run,
    get_store_uri,
    list_artifacts,
    log_artifact,
    log_artifacts,
    log_batch,
    log_input,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    log_text,
    search_runs,
    set_artifact_uri,
    set_notes,
    set_project,
    set_store_uri,
    set_synchronous,
    set_tag,
    set_tags,
    start_run,
)
from modelyard.sdk.tuning import tune
from modelyard.tracking.tuning import TuneResult

# ``modelyard.datasets`` is the namespace ``modelyard.datasets.add(...)``; registering the module
# under that name too (as ``os`` does for ``os.path``) makes ``import modelyard.datasets`` work.
_sys.modules.setdefault(f"{__name__}.datasets", datasets)
_sys.modules.setdefault(f"{__name__}.feature_store", feature_store)

__all__ = [
    "ActiveRun",
    "AlreadyExists",
    "ApprovalRequired",
    "AutologgingWarning",
    "Conflict",
    "EvaluationResult",
    "Explanation",
    "FilterSyntaxError",
    "IllegalTransition",
    "ImportanceDiff",
    "IntegrityError",
    "InvalidArgument",
    "Metric",
    "ModelCard",
    "ModelState",
    "ModelVersion",
    "ModelyardError",
    "NotFound",
    "PermissionDenied",
    "Project",
    "RegisteredModel",
    "RegistryClient",
    "Run",
    "RunInput",
    "RunStatus",
    "SignatureError",
    "StoreUnavailable",
    "TrackingClient",
    "TuneResult",
    "__version__",
    "active_run",
    "alert_history",
    "alerts",
    "autolog",
    "create_monitor",
    "deploy",
    "deployment",
    "deployment_history",
    "deployments",
    "download_artifacts",
    "drift",
    "end_run",
    "evaluate",
    "explain",
    "explain_diff",
    "flush",
    "get_metric_history",
    "get_run",
    "get_store_uri",
    "list_artifacts",
    "load_model",
    "log_artifact",
    "log_artifacts",
    "log_batch",
    "log_feedback",
    "log_input",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "model_card",
    "model_report",
    "monitor_results",
    "monitoring_report",
    "monitors",
    "predictions",
    "profile",
    "register_model",
    "rollback",
    "run_monitors",
    "search_runs",
    "set_alias",
    "set_artifact_uri",
    "set_notes",
    "set_project",
    "set_reference",
    "set_store_uri",
    "set_synchronous",
    "set_tag",
    "set_tags",
    "silence",
    "start_run",
    "transition",
    "tune",
    "update_model_card",
]
