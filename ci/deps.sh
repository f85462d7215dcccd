#!/bin/sh
# Installs every build and test dependency on a fresh Debian bookworm machine (as root).
# Idempotent: packages already present are skipped by apt-get; safe to run on every CI start.
set -eu
PKGS="build-essential pkg-config clang llvm libclang-rt-14-dev clang-format
libjansson-dev libsqlite3-dev sqlite3 libcurl4-openssl-dev libarchive-dev libacl1-dev libzstd-dev liblz4-dev
libssl-dev openssl
libseccomp-dev libcap-dev libyaml-dev libprotobuf-c-dev protobuf-c-compiler libwslay-dev libmnl-dev zlib1g-dev
busybox-static iproute2 iptables nftables util-linux procps psmisc tmux curl ca-certificates
python3 python3-docker python3-kubernetes python3-yaml
docker.io docker-registry unzip hyperfine"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # docker.io is the reference engine for `make bench` only; never started by tests.
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
