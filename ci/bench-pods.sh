#!/bin/sh
# k3core node benchmarks (issue 5): pod create → Running latency (p50/p99, one pod at a time), 100
# pods created at once → all Running, and the k3core process's RSS (API server + in-process agent)
# with 0 and 100 pods; the per-container shims' RSS is reported apart. The server runs in a
# private network namespace (its pod bridge and iptables rules die with it), with the busybox
# fixture image in the airgap directory. Writes a markdown table to build/bench/pods.md.
# Env: BENCH_PODS (default 100), BENCH_SEQ (default 20).
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench-pods: needs root (pods are containers)" >&2; exit 1; }
exec unshare -n sh -c 'ip link set lo up && exec sh ci/bench-pods-run.sh'
