#!/bin/sh
# Runs every integration test (tests/integration/*/test-*.sh) in order; prints a summary and
# exits non-zero if any failed. A single test: tests/integration/run.sh docker/test-run.sh
set -u
cd "$(dirname "$0")/../.."
if [ "$(id -u)" != 0 ]; then
    echo "integration tests need root (containers, mounts, cgroups)" >&2
    exit 1
fi
tests=${*:-$(ls tests/integration/*/test-*.sh 2>/dev/null)}
pass=0; fail=0; failed=""
for t in $tests; do
    [ -f "$t" ] || t="tests/integration/$t"
    start=$(date +%s)
    if timeout --kill-after=10 600 sh "$t" > "build/test-$(basename "$t" .sh).log" 2>&1; then
        pass=$((pass + 1)); echo "ok   $t ($(( $(date +%s) - start ))s)"
    else
        fail=$((fail + 1)); failed="$failed $t"
        echo "FAIL $t ($(( $(date +%s) - start ))s); last lines of build/test-$(basename "$t" .sh).log:"
        tail -n 40 "build/test-$(basename "$t" .sh).log" | sed 's/^/    /'
    fi
done
echo "integration: $pass passed, $fail failed${failed:+:$failed}"
[ $fail -eq 0 ]
