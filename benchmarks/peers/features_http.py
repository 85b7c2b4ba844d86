"""The online-over-HTTP part of the feature-store benchmark: ``POST /api/v1/features/online`` on a
``modelyard server`` whose online store is Redis, driven at a fixed rate.

The side applies the two views to a fresh SQLite store, materialises them into Redis (a key
prefix of its own, deleted at the end), starts ``modelyard server`` in a subprocess over that
store and online store, and drives it **open-loop**: request ``i`` is due at ``t0 + i / rate``
whatever happened to the others, goes out on a free kept-alive connection (a pool of
``connections``; when all are busy it waits for one, and that wait counts), and its latency is
measured from the time it was *due* to the last byte of its response. A slow response therefore
delays nothing else's schedule and every request queued behind it is charged for the wait (no
coordinated omission). The client is plain asyncio streams (HTTP/1.1, pre-encoded requests, one
random known entity per request, 10 features), so its own cost per request is a few tens of
microseconds.

Prints one JSON line: p50/p99/max in microseconds, requests, errors, achieved rate, and the
server's and the client's CPU seconds.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from _features_common import VIEWS, emit, parse_args, percentiles_us
from features_modelyard import definitions

from modelyard.features import FeatureStoreService
from modelyard.features.online import open_online_store
from modelyard.store import open_stores


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
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}: {(root / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("the server did not become healthy in 120 s")


def _requests(port: int, ids: list[int], count: int) -> list[bytes]:
    refs = [f"{view}:{f}" for view, features in VIEWS.items() for f in features]
    rng = random.Random(11)
    out = []
    for _ in range(count):
        body = json.dumps({"features": refs, "entities": [{"driver_id": rng.choice(ids)}]}).encode()
        head = (
            f"POST /api/v1/features/online HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        out.append(head + body)
    return out


async def _roundtrip(conn: tuple[asyncio.StreamReader, asyncio.StreamWriter], request: bytes) -> bool:
    reader, writer = conn
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    body = await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200") and b'"found":[[true,true]]' in body


async def _drive(port: int, requests: list[bytes], rate: float, seconds: float, connections: int) -> dict[str, Any]:
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[int] = []
    late: list[int] = []  # how long after its due time each request started (the client's own delay)
    errors = 0
    total = int(rate * seconds)

    async def one(i: int, due: float) -> None:
        nonlocal errors
        late.append(int((time.perf_counter() - due) * 1e9))
        conn = await pool.get()  # (a wait for a free connection counts: it is queueing)
        try:
            ok = await _roundtrip(conn, requests[i % len(requests)])
        except (OSError, asyncio.IncompleteReadError, ValueError):
            ok = False
            conn = await asyncio.open_connection("127.0.0.1", port)
        pool.put_nowait(conn)
        latencies.append(int((time.perf_counter() - due) * 1e9))
        if not ok:
            errors += 1

    tasks = []
    # perf_counter, not loop.time(): uvloop's clock moves in whole milliseconds
    start = time.perf_counter() + 0.05
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - start
    while not pool.empty():
        pool.get_nowait()[1].close()
    lateness = percentiles_us(late)
    return {
        **percentiles_us(latencies),
        "late_p50_us": lateness["p50_us"],
        "late_p99_us": lateness["p99_us"],
        "errors": errors,
        "achieved_rate": total / elapsed,
    }


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (the server's workers), from /proc."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main() -> None:
    spec, tmp = parse_args()
    root = Path(tmp)
    prefix = f"modelyard-bench:{os.getpid()}-{random.randrange(1 << 30)}:"
    online_uri = f"{spec['redis']}?prefix={prefix}"
    materialize_s = _prepare(spec, root, online_uri)
    port = spec["port"]
    proc = _start_server(root, online_uri, spec["server_command"], port)
    try:
        requests = _requests(port, spec["online_ids"], 2000)
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        # warm: the app's serving service, the prepared plan, the connections
        asyncio.run(_drive(port, requests, 200, 2, spec["connections"]))
        server_cpu0 = _cpu_seconds(proc.pid)
        client0 = resource.getrusage(resource.RUSAGE_SELF)
        result = asyncio.run(_drive(port, requests, spec["rate"], spec["seconds"], spec["connections"]))
        client1 = resource.getrusage(resource.RUSAGE_SELF)
        result["server_cpu_s"] = _cpu_seconds(proc.pid) - server_cpu0
        result["client_cpu_s"] = (client1.ru_utime + client1.ru_stime) - (client0.ru_utime + client0.ru_stime)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        import redis

        client = redis.Redis.from_url(spec["redis"])
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if keys:
            client.delete(*keys)
        client.close()
    emit({**result, "materialize_s": materialize_s, "rate": spec["rate"], "seconds": spec["seconds"]})


if __name__ == "__main__":
    main()
