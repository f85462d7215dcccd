#!/bin/sh
# k3core benchmarks: start to /readyz, creates per second (1 and 8 clients), watch latency, RSS
# idle and with 10,000 objects, of the API server alone (--disable-agent). Writes a markdown table
# to build/bench/k3core.md.
set -eu
cd "$(dirname "$0")/.."
bin=${K3CORE_BIN:-build/bin/k3core}
tmp=$(mktemp -d /tmp/k3core-bench.XXXXXX)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
set -- $(python3 ci/readyz-time.py "$port" "$tmp/log" -- "$bin" server --data-dir "$tmp/data" \
    --https-listen-port "$port" --bind-address 127.0.0.1 --write-kubeconfig "$tmp/kc.yaml" \
    --disable-agent --log-level warn)
ready_ms=$1
pid=$2
python3 - "$tmp/kc.yaml" "$tmp" <<'PY'
import base64, sys, yaml
cfg = yaml.safe_load(open(sys.argv[1]))
c = cfg["clusters"][0]["cluster"]["certificate-authority-data"]
u = cfg["users"][0]["user"]
for n, d in (("ca.crt", c), ("admin.crt", u["client-certificate-data"]), ("admin.key", u["client-key-data"])):
    open(sys.argv[2] + "/" + n, "wb").write(base64.b64decode(d))
PY
mkdir -p build/bench
{
    echo "| k3core ($(date -u +%Y-%m-%d), first start, fresh data dir) | value |"
    echo "|---|---|"
    echo "| start to /readyz 200 (incl. CA + certificates) | $ready_ms ms |"
    python3 ci/bench-k3core.py "$port" "$tmp" "$pid"
} >build/bench/k3core.md
cat build/bench/k3core.md
