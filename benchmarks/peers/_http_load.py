"""A paced HTTP load with ``wrk`` (standard library only: the Feast side imports it from Feast's
own virtual environment): ``POST`` one JSON body per request, for one random entity id each, at a
fixed total rate, and the latency of every request.

How it paces and what a latency is. wrk runs one thread per connection (``-t C -c C``), so a
thread's Lua state belongs to one connection. Connection ``c`` of ``C`` sends its ``k``-th request
at ``t0 + (c + k * C) / rate`` (the connections take turns: the requests of all of them are evenly
spaced at ``rate``), through wrk's ``delay()``, whose timers have millisecond resolution. The
latency of a request runs from when it was sent to the last byte of its response, as measured in
the Lua script (a monotonic clock through LuaJIT's FFI); but when the connection was still busy
with its previous response at the request's due time, the request is charged from its **due
time** instead: the wait a slow response imposes on the requests behind it counts (coordinated
omission is corrected, as wrk2 does, per connection). What is not charged is the client's own
timer lateness on a free connection (reported apart, ``late_*``): that is the load generator's
delay, not the server's. wrk's own histogram (from the send, uncorrected) is reported beside.

A response is an error unless its status is 200 and its body contains ``must_contain`` (and not
``must_not_contain``); every
``sample_every``-th response body of each connection is kept, with its entity id, for the caller
to compare with the expected values.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

#: The first request is due this long after wrk starts its threads (they connect meanwhile).
HEAD_START_S = 0.05

_SCRIPT = r"""
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")
local function now_us()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000000 + tonumber(clock.tv_nsec) / 1000
end

local IDS = {%(ids)s}
local CONNECTIONS = %(connections)d
local INTERVAL_US = 1000000 / %(rate)r
local PATH = %(path)s
local HEADERS = {["Content-Type"] = "application/json"}
local BODY_HEAD, BODY_TAIL = %(body_head)s, %(body_tail)s
local MUST_CONTAIN = %(must_contain)s
local MUST_NOT_CONTAIN = %(must_not_contain)s
local SAMPLE_EVERY = %(sample_every)d
local OUT = %(out)s
local HEAD_START_US = %(head_start_us)d

local threads = {}
local next_index = 0
local t0 = now_us() + HEAD_START_US

function setup(thread)
  thread:set("index", next_index)
  thread:set("t0", t0)
  next_index = next_index + 1
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(index + 1)
  requests = {}
  for i, id in ipairs(IDS) do
    requests[i] = wrk.format("POST", PATH, HEADERS, BODY_HEAD .. id .. BODY_TAIL)
  end
  k, due, sent, busy, pick = 0, 0, 0, false, 1
  lat, late, samples, errors, done_count = {}, {}, {}, 0, 0
end

function delay()
  due = t0 + (index + k * CONNECTIONS) * INTERVAL_US
  k = k + 1
  local wait = due - now_us()
  busy = wait <= 0
  if busy then return 0 end
  return math.floor(wait / 1000 + 0.5)
end

function request()
  sent = now_us()
  pick = math.random(#IDS)
  return requests[pick]
end

function response(status, headers, body)
  local finished = now_us()
  local from = sent
  if busy then from = due else late[#late + 1] = sent - due end
  lat[#lat + 1] = finished - from
  done_count = done_count + 1
  if status ~= 200 or not string.find(body, MUST_CONTAIN, 1, true)
    or (MUST_NOT_CONTAIN ~= "" and string.find(body, MUST_NOT_CONTAIN, 1, true)) then
    errors = errors + 1
  end
  if done_count %% SAMPLE_EVERY == 0 then samples[#samples + 1] = IDS[pick] .. "\t" .. body end
end

function done(summary, latency, requests)
  local out = io.open(OUT, "w")
  out:write(string.format('{"wrk_requests": %%d, "wrk_duration_us": %%d, "wrk_p50_us": %%d, "wrk_p99_us": %%d, '
    .. '"wrk_max_us": %%d, "wrk_status_errors": %%d, "wrk_socket_errors": %%d, "threads": [',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  for i, thread in ipairs(threads) do
    if i > 1 then out:write(",") end
    out:write(string.format('{"errors": %%d, "lat": [%%s], "late": [%%s]}', thread:get("errors"),
      table.concat(thread:get("lat"), ","), table.concat(thread:get("late"), ",")))
  end
  out:write("]}")
  out:close()
  local sample_file = io.open(OUT .. ".samples", "w")
  for _, thread in ipairs(threads) do
    for _, line in ipairs(thread:get("samples")) do sample_file:write(line, "\n") end
  end
  sample_file:close()
end
"""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children (a server's workers), from /proc."""
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


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 120) -> None:
    """Return once ``url`` answers 200; exit with the server's log if it dies or never does."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit(f"the server did not answer {url} in {seconds:g} s")


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua one for this ASCII text


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * q // 100))
    return ordered[int(min(rank, len(ordered))) - 1]


def paced_load(
    port: int,
    path: str,
    body: str,
    ids: list[int],
    *,
    rate: float,
    seconds: float,
    connections: int,
    must_contain: str,
    work: Path,
    must_not_contain: str = "",
    sample_every: int = 10,
) -> dict[str, Any]:
    """Drive ``http://127.0.0.1:<port><path>`` with ``body`` (``{id}`` marks where the entity id goes) at ``rate``
    requests/s for ``seconds`` over ``connections`` connections (see the module docstring)."""
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk): it drives the HTTP benchmark")
    work.mkdir(parents=True, exist_ok=True)
    out = work / "wrk-result.json"
    head, _, tail = body.partition("{id}")
    script = _SCRIPT % {
        "ids": ",".join(str(int(i)) for i in ids),
        "connections": connections,
        "rate": float(rate),
        "path": _lua_string(path),
        "body_head": _lua_string(head),
        "body_tail": _lua_string(tail),
        "must_contain": _lua_string(must_contain),
        "must_not_contain": _lua_string(must_not_contain),
        "sample_every": sample_every,
        "out": _lua_string(str(out)),
        "head_start_us": int(HEAD_START_S * 1e6),
    }
    (work / "paced.lua").write_text(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    command = [wrk, "-t", str(connections), "-c", str(connections), "-d", f"{seconds:g}s"]
    command += ["-s", str(work / "paced.lua"), f"http://127.0.0.1:{port}{path}"]
    run = subprocess.run(command, capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if run.returncode != 0 or not out.exists():
        raise SystemExit(f"wrk failed ({run.returncode}): {run.stderr[-2000:] or run.stdout[-2000:]}")
    raw = json.loads(out.read_text())
    latencies = sorted(v for t in raw["threads"] for v in t["lat"])
    lateness = sorted(v for t in raw["threads"] for v in t["late"])
    samples = {}
    for line in (out.parent / (out.name + ".samples")).read_text().splitlines():
        entity, _, text = line.partition("\t")
        samples[int(entity)] = text
    duration_s = raw["wrk_duration_us"] / 1e6 - HEAD_START_S  # the first request is due after it
    return {
        "p50_us": _percentile(latencies, 50),
        "p99_us": _percentile(latencies, 99),
        "max_us": latencies[-1] if latencies else float("nan"),
        "n": len(latencies),
        "errors": sum(t["errors"] for t in raw["threads"]) + raw["wrk_socket_errors"],
        "achieved_rate": len(latencies) / duration_s if duration_s else 0.0,
        "late_p50_us": _percentile(lateness, 50),
        "late_p99_us": _percentile(lateness, 99),
        "wrk_p50_us": raw["wrk_p50_us"],
        "wrk_p99_us": raw["wrk_p99_us"],
        "wrk_max_us": raw["wrk_max_us"],
        "client_cpu_s": (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime),
        "connections": connections,
        "samples": samples,
    }
