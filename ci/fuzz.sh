#!/bin/sh
# Builds every libFuzzer harness (tests/fuzz/fuzz-<name>.c, seed corpus in tests/fuzz/corpus/<name>/)
# with clang + ASan and runs it: `smoke` for a few seconds each (CI), `long` for FUZZ_SECONDS each.
# New inputs found during a run go to build/fuzz/corpus/<name>/, never into the checked-in corpus.
set -eu
cd "$(dirname "$0")/.."
mode=${1:-smoke}
secs=5
[ "$mode" = long ] && secs=${FUZZ_SECONDS:-300}
harnesses=$(ls tests/fuzz/fuzz-*.c 2>/dev/null || true)
if [ -z "$harnesses" ]; then
    echo "fuzz: no harnesses in tests/fuzz" >&2
    exit 1
fi
make -j"$(nproc)" BUILD=build/fuzz CC=clang SANITIZE=fuzzer-no-link,address CFLAGS="-Wno-unknown-warning-option -Wno-format-nonliteral" fuzz-bins
fail=0
for h in $harnesses; do
    name=$(basename "$h" .c)
    seeds=tests/fuzz/corpus/${name#fuzz-}
    work=build/fuzz/corpus/${name#fuzz-}
    mkdir -p "$work"
    echo "fuzz: $name for ${secs}s"
    if ! build/fuzz/fuzz/"$name" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=0 -artifact_prefix=build/fuzz/ "$work" "$seeds" \
            > "build/fuzz/$name.log" 2>&1; then
        echo "fuzz: $name FAILED; see build/fuzz/$name.log"; tail -n 30 "build/fuzz/$name.log"
        fail=1
    fi
done
exit $fail
