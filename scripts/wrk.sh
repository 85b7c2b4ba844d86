#!/usr/bin/env bash
# wrk is the HTTP load generator of benchmarks.serving and of the features benchmark's HTTP runs
# (benchmarks/peers/_http_load.py).
exec bash "$(dirname "$0")/debian_tool.sh" wrk /usr/bin/wrk wrk "the benchmarks that run it will say how to install it"
