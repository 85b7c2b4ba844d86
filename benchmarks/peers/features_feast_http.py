"""The Feast side of the online-over-HTTP benchmark (run in its own virtual environment, with
``feast[redis]``): a local repository whose online store is Redis (a project name of its own;
``teardown`` removes its keys at the end), the same two views materialised, then ``feast serve``
(its HTTP feature server: gunicorn with uvicorn workers; worker restarts every N requests and
registry refreshes are turned off for the run) driven by the same paced wrk load as modelyard's
side (``_http_load.py``) on ``POST /get-online-features``, 10 features for 1 entity per request.
Prints one JSON line in the format of ``features_http.py``."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from _features_common import VIEWS, emit, parse_args
from _http_load import paced_load, process_cpu_seconds, wait_healthy

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

from feast import FeatureStore  # noqa: E402
from features_feast import feature_store  # noqa: E402

PATH = "/get-online-features"


def _repo(spec: dict[str, Any], repo: Path) -> FeatureStore:
    host, _, rest = spec["redis"].partition("://")[2].partition(":")
    port, _, db = rest.partition("/")
    repo.mkdir(parents=True)
    online = f'  type: redis\n  connection_string: "{host}:{port},db={db or 0}"\n'
    return feature_store(spec, repo, f"bench_http_{os.getpid()}", online)


def _serve(repo: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    feast = str(Path(sys.executable).with_name("feast"))
    command = [feast, "-c", str(repo), "serve", "-h", "127.0.0.1", "-p", str(port), "--no-access-log"]
    command += ["-w", str(workers), "--max-requests", "0", "-r", "3600"]
    log = open(repo / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=repo)
    wait_healthy(proc, f"http://127.0.0.1:{port}/health", repo / "server.log")
    return proc


def _values(body: str) -> list[Any]:
    """The 10 feature values of a response, in the order of the references."""
    got = json.loads(body)
    names = got["metadata"]["feature_names"]
    columns = {name: result["values"][0] for name, result in zip(names, got["results"], strict=True)}
    return [columns[f] for features in VIEWS.values() for f in features]


def main() -> None:
    spec, tmp = parse_args()
    root = Path(tmp)
    repo = root / "repo"
    store = _repo(spec, repo)
    t0 = time.perf_counter()
    store.materialize(datetime(1970, 1, 2, tzinfo=UTC), datetime.fromtimestamp(spec["end_ms"] / 1000, tz=UTC))
    materialize_s = time.perf_counter() - t0
    port = spec["port"]
    proc = _serve(repo, port, spec["workers"])
    refs = [f"{view}:{f}" for view, features in VIEWS.items() for f in features]
    body = json.dumps({"features": refs, "entities": {"driver_id": [0]}}).replace("[0]", "[{id}]")
    load = {"body": body, "must_contain": '"PRESENT"', "must_not_contain": '"NOT_FOUND"'}
    try:
        paced_load(
            port,
            PATH,
            ids=spec["online_ids"],
            rate=200,
            seconds=2,
            connections=spec["connections"],
            work=root / "warm",
            **load,
        )
        cpu0 = process_cpu_seconds(proc.pid)
        result = paced_load(
            port,
            PATH,
            ids=spec["online_ids"],
            rate=spec["rate"],
            seconds=spec["seconds"],
            connections=spec["connections"],
            work=root,
            **load,
        )
        result["server_cpu_s"] = process_cpu_seconds(proc.pid) - cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        store.teardown()
    samples = result.pop("samples")
    result["values"] = {str(k): _values(v) for k, v in samples.items()}
    emit({**result, "materialize_s": materialize_s, "rate": spec["rate"], "seconds": spec["seconds"]})


if __name__ == "__main__":
    main()
