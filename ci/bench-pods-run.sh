#!/bin/sh
# The body of ci/bench-pods.sh, run inside its private network namespace.
set -eu
bin=${K3CORE_BIN:-build/bin/k3core}
tmp=$(mktemp -d /tmp/k3core-pbench.XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$tmp/data/agent/images" build/bench
sh tests/fixtures/mkimage-busybox.sh "$tmp/data/agent/images/busybox.tar" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$bin" server --data-dir "$tmp/data" --https-listen-port "$port" --bind-address 127.0.0.1 \
    --write-kubeconfig "$tmp/kc.yaml" --log-level warn >"$tmp/log" 2>&1 &
pid=$!
i=0
until curl -sfk "https://127.0.0.1:$port/readyz" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 1000 ] || { tail "$tmp/log" >&2; exit 1; }
    sleep 0.01
done
python3 ci/bench-pods.py "$port" "$tmp" "$pid" >"$tmp/rows" || { tail -n 20 "$tmp/log" >&2; exit 1; }
{
    echo "| k3core node ($(date -u +%Y-%m-%d), busybox from the airgap dir) | value | target |"
    echo "|---|---|---|"
    cat "$tmp/rows"
} >build/bench/pods.md
cat build/bench/pods.md
