"""The online-over-HTTP part of the feature-store benchmark: ``POST /api/v1/features/online`` on a
``modelyard server`` whose online store is Redis, driven at a fixed rate.

The side applies the two views to a fresh SQLite store, materialises them into Redis (a key
prefix of its own, deleted at the end), starts ``modelyard server`` in a subprocess over that
store and online store, and drives it with ``wrk`` at a fixed rate (``_http_load.py``: one
random known entity per request, 10 features; how latency is measured, and why coordinated
omission is corrected, is written there). Prints one JSON line: p50/p99/max in microseconds,
requests, errors, achieved rate, wrk's own (uncorrected) percentiles, the server's and the
client's CPU seconds, and the values of a sample of responses (the benchmark compares them with
the generated data).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from _features_common import VIEWS, emit, parse_args
from _http_load import paced_load, process_cpu_seconds, wait_healthy
from features_modelyard import definitions

from modelyard.features import FeatureStoreService
from modelyard.features.online import open_online_store
from modelyard.store import open_stores

ONLINE_PATH = "/api/v1/features/online"


def _prepare(spec: dict[str, Any], root: Path, online_uri: str) -> float:
    """Apply the views to ``root/m.db`` and materialise them into ``online_uri``: seconds taken."""
    stores = open_stores(f"sqlite:///{root / 'm.db'}", artifacts=None)
    online = open_online_store(online_uri)
    service = FeatureStoreService(stores.features, online=online)
    service.apply(definitions(spec))
    t0 = time.perf_counter()
    service.materialize(0, spec["end_ms"])
    seconds = time.perf_counter() - t0
    online.close()
    stores.close()
    return seconds


def _start_server(root: Path, online_uri: str, command: list[str], port: int) -> subprocess.Popen[bytes]:
    """``command`` (``modelyard server`` on ``port``, built by the benchmark) over ``root``'s
    store and the Redis online store; returns once it answers /healthz."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(MODELYARD_HOME=str(root / "home"), MODELYARD_ONLINE_STORE_URI=online_uri, PYTHONUNBUFFERED="1")
    command = [part.replace("{root}", str(root)) for part in command]
    log = open(root / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=root)
    wait_healthy(proc, f"http://127.0.0.1:{port}/healthz", root / "server.log")
    return proc


def main() -> None:
    spec, tmp = parse_args()
    root = Path(tmp)
    prefix = f"modelyard-bench:{os.getpid()}-{random.randrange(1 << 30)}:"
    online_uri = f"{spec['redis']}?prefix={prefix}"
    materialize_s = _prepare(spec, root, online_uri)
    port = spec["port"]
    proc = _start_server(root, online_uri, spec["server_command"], port)
    refs = [f"{view}:{f}" for view, features in VIEWS.items() for f in features]
    body = json.dumps({"features": refs, "entities": [{"driver_id": 0}]}).replace("0}]", "{id}}]")
    load = {"body": body, "must_contain": '"found":[[true,true]]', "connections": spec["connections"]}
    try:
        # warm: the app's serving service, the prepared plan, the connections
        paced_load(port, ONLINE_PATH, ids=spec["online_ids"], rate=200, seconds=2, work=root / "warm", **load)
        server_cpu0 = process_cpu_seconds(proc.pid)
        result = paced_load(
            port, ONLINE_PATH, ids=spec["online_ids"], rate=spec["rate"], seconds=spec["seconds"], work=root, **load
        )
        result["server_cpu_s"] = process_cpu_seconds(proc.pid) - server_cpu0
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import redis

        client = redis.Redis.from_url(spec["redis"])
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    samples = result.pop("samples")
    result["values"] = {str(k): json.loads(v)["values"][0] for k, v in samples.items()}
    emit({**result, "materialize_s": materialize_s, "rate": spec["rate"], "seconds": spec["seconds"]})


if __name__ == "__main__":
    main()
