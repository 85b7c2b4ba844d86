"""Load generator for benchmarks/server_load.py: N processes x M threads, each thread one client
with its own kept-alive connection, posting metric batches to its own run for D seconds.

Prints one JSON line: acknowledged points, errors, requests, elapsed. Runs with the project's
python (httpx); the payload shape is chosen per tool so that both servers get the same work.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import threading
import time

import httpx


def _payload(tool: str, run_id: str, step0: int, batch: int, now: int) -> tuple[str, dict]:
    if tool == "modelyard":
        return f"/api/v1/runs/{run_id}/metrics", {
            "metrics": [["loss", 1.0 / (step0 + i + 1), step0 + i, now] for i in range(batch)]
        }
    return "/api/2.0/mlflow/runs/log-batch", {
        "run_id": run_id,
        "metrics": [
            {"key": "loss", "value": 1.0 / (step0 + i + 1), "step": step0 + i, "timestamp": now} for i in range(batch)
        ],
    }


def _client(tool: str, base: str, run_id: str, batch: int, deadline: float, out: list) -> None:
    acked = errors = requests = 0
    step = 0
    with httpx.Client(base_url=base, timeout=60.0) as client:
        while time.monotonic() < deadline:
            path, body = _payload(tool, run_id, step, batch, int(time.time() * 1000))
            try:
                response = client.post(path, json=body)
                requests += 1
                if response.status_code < 300:
                    acked += batch
                    step += batch
                else:
                    errors += 1
            except httpx.HTTPError:
                errors += 1
    out.append((acked, errors, requests))


def _process(tool: str, base: str, run_ids: list[str], batch: int, deadline: float, queue: mp.Queue) -> None:
    results: list = []
    threads = [threading.Thread(target=_client, args=(tool, base, rid, batch, deadline, results)) for rid in run_ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tool", choices=["modelyard", "mlflow"], required=True)
    parser.add_argument("--base", required=True)
    parser.add_argument("--runs", required=True, help="comma-separated run ids, one per client")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    run_ids = args.runs.split(",")
    chunks = [run_ids[i :: args.processes] for i in range(args.processes)]
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    start = time.monotonic()
    deadline = start + args.seconds
    procs = [
        ctx.Process(target=_process, args=(args.tool, args.base, chunk, args.batch, deadline, queue))
        for chunk in chunks
        if chunk
    ]
    for p in procs:
        p.start()
    results = [r for _ in procs for r in queue.get(timeout=args.seconds + 600)]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    print(
        json.dumps(
            {
                "acked": sum(r[0] for r in results),
                "errors": sum(r[1] for r in results),
                "requests": sum(r[2] for r in results),
                "elapsed": elapsed,
                "clients": len(results),
            }
        )
    )


if __name__ == "__main__":
    main()
