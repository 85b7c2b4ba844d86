"""Statistics shared by validation, evaluation and monitoring: drift distances between a
reference and a current sample (PSI, Kolmogorov-Smirnov, Jensen-Shannon) and paired tests of two
models on the same rows (McNemar, paired bootstrap).

Just above ``core`` in the layers: it imports only ``core``, numpy and scipy, so every subsystem
can use it. scipy is imported inside the functions that need it.
"""

from __future__ import annotations

from modelyard.stats.drift import jensen_shannon, ks, psi
from modelyard.stats.paired import BootstrapResult, McNemarResult, mcnemar_test, paired_bootstrap

__all__ = [
    "BootstrapResult",
    "McNemarResult",
    "jensen_shannon",
    "ks",
    "mcnemar_test",
    "paired_bootstrap",
    "psi",
]
