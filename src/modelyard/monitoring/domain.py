"""Multivariate drift with a domain classifier: can a model tell the current rows from the
reference rows? A ROC AUC near 0.5 means it cannot (no drift); at or above ``threshold`` (0.55 by
default) the joint distribution has moved, even when no single column did.

Up to ``sample`` rows of each side are drawn (seeded), numeric columns are used as they are
(missing values included: the gradient-boosted trees handle them), other columns as ordinal
category codes over both sides; a scikit-learn ``HistGradientBoostingClassifier`` is fit on half
of the rows (stratified) and scored on the other half.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from modelyard.core.errors import InvalidArgument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DomainDrift", "domain_classifier_drift"]

_MAX_CODES = 250  # HistGradientBoosting takes at most 255 categories per feature


@dataclass
class DomainDrift:
    roc_auc: float
    threshold: float
    drifted: bool
    reference_rows: int  # rows used
    current_rows: int
    columns: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _encode(ref: pd.Series, cur: pd.Series) -> tuple[np.ndarray, np.ndarray, bool]:
    import pandas as pd

    if pd.api.types.is_bool_dtype(ref) and pd.api.types.is_bool_dtype(cur):
        return ref.to_numpy(dtype="float64"), cur.to_numpy(dtype="float64"), True
    if pd.api.types.is_numeric_dtype(ref) and pd.api.types.is_numeric_dtype(cur):
        return (ref.to_numpy(dtype="float64", na_value=np.nan), cur.to_numpy(dtype="float64", na_value=np.nan), False)
    if pd.api.types.is_datetime64_any_dtype(ref) and pd.api.types.is_datetime64_any_dtype(cur):
        return (ref.astype("int64").to_numpy(dtype="float64"), cur.astype("int64").to_numpy(dtype="float64"), False)
    both = pd.concat([ref.astype("string"), cur.astype("string")], ignore_index=True)
    top = both.value_counts().index[:_MAX_CODES]
    codes = pd.Categorical(both, categories=top).codes.astype("float64")
    codes[codes < 0] = np.nan  # missing, and categories beyond the most frequent ones
    return codes[: len(ref)], codes[len(ref) :], True


def domain_classifier_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    threshold: float = 0.55,
    sample: int = 50_000,
    seed: int = 0,
) -> DomainDrift:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    columns = [c for c in reference.columns if c in current.columns]
    if not columns:
        raise InvalidArgument("no columns in common for the domain classifier")
    if len(reference) < 10 or len(current) < 10:
        raise InvalidArgument("the domain classifier needs at least 10 rows on each side")
    ref = reference.sample(n=min(sample, len(reference)), random_state=seed) if len(reference) > sample else reference
    cur = current.sample(n=min(sample, len(current)), random_state=seed) if len(current) > sample else current
    ref_cols, cur_cols, categorical = [], [], []
    for name in columns:
        a, b, is_cat = _encode(ref[name], cur[name])
        ref_cols.append(a)
        cur_cols.append(b)
        categorical.append(is_cat)
    x = np.vstack([np.column_stack(ref_cols), np.column_stack(cur_cols)])
    y = np.concatenate([np.zeros(len(ref)), np.ones(len(cur))])
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    model = HistGradientBoostingClassifier(
        max_iter=100, categorical_features=np.asarray(categorical, dtype=bool), random_state=seed
    )
    model.fit(x_train, y_train)
    auc = float(roc_auc_score(y_test, model.predict_proba(x_test)[:, 1]))
    return DomainDrift(
        roc_auc=auc,
        threshold=threshold,
        drifted=auc >= threshold,
        reference_rows=len(ref),
        current_rows=len(cur),
        columns=columns,
    )
