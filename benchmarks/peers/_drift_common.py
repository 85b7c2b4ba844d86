"""What both sides of the drift benchmark share (standard library only: the Evidently side imports
it from Evidently's own virtual environment).

Protocol: ``python drift_<side>.py --spec JSON``; the spec names the reference and current files
(``reference``, ``current``) and the column lists; the side prints one JSON object as the last
line of stdout: seconds (reading the data and computing drift; imports excluded), peak resident
memory of the whole process, and the columns it flagged. ``emit`` and ``peak_rss_mb`` are the
feature benchmark's (same protocol).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from _features_common import emit, peak_rss_mb

__all__ = ["emit", "parse_spec", "peak_rss_mb"]


def parse_spec() -> dict[str, Any]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    return json.loads(parser.parse_args().spec)
