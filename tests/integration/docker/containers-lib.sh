# Helpers for the container tests (sourced after lib.sh and start_dindd).
# Containers outlive dindd (their shims are detached), so the EXIT hook removes every container
# through the API, restarting dindd first if a test killed it.

FIXTURE_TAR=${FIXTURE_TAR:-$TEST_TMP/busybox.tar}

load_busybox() {
    "$REPO/tests/fixtures/mkimage-busybox.sh" "$FIXTURE_TAR" busybox:latest >/dev/null
    dk load -i "$FIXTURE_TAR" >/dev/null
}

remove_all_containers() {
    if [ -z "$DINDD_PID" ] || ! kill -0 "$DINDD_PID" 2>/dev/null; then
        start_dindd
    fi
    ids=$(dk ps -aq --no-trunc)
    [ -z "$ids" ] || dk rm -f $ids >/dev/null
}
on_exit remove_all_containers

# Removes everything, then checks that no mount below the data or exec root and no cgroup of
# those containers is left.
remove_all_and_check_clean() {
    ids=$(dk ps -aq --no-trunc)
    [ -z "$ids" ] || dk rm -f $ids >/dev/null
    [ -z "$(dk ps -aq)" ] || fail "containers left: $(dk ps -a)"
    if grep -e "$DATA_ROOT" -e "$EXEC_ROOT" /proc/self/mountinfo; then
        fail "mounts left behind"
    fi
    # every container this daemon ever had, from the event ring
    all=$(dk events --since 0 --until "$(($(date +%s) + 1))" --filter type=container \
        --format '{{.Actor.ID}}' | sort -u)
    left=
    for id in $all; do
        left=$left$(find /sys/fs/cgroup -maxdepth 8 -type d -name "$id" 2>/dev/null | head -n 1)
    done
    [ -z "$left" ] || fail "cgroup left behind: $left"
}
