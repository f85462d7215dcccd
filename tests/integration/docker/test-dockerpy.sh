#!/bin/sh
# docker-py (Debian python3-docker 5.0.3, /usr/bin/python3) against dindd: the checks live in
# dockerpy_test.py (containers.run, exec_run with demux, unread exec output, put/get_archive,
# events with since/until, label filters). Needs the busybox fixture image.
. "$(dirname "$0")/../lib.sh"
/usr/bin/python3 -c 'import docker' 2>/dev/null || fail "python3-docker is not installed (ci/deps.sh)"
start_dindd
sh "$REPO/tests/fixtures/mkimage-busybox.sh" "$TEST_TMP/busybox.tar" busybox:latest >/dev/null
dk load -i "$TEST_TMP/busybox.tar" >/dev/null
on_exit 'ids=$(dk ps -aq); [ -z "$ids" ] || dk rm -f $ids >/dev/null'
/usr/bin/python3 "$REPO/tests/integration/docker/dockerpy_test.py" "$SOCK"
ok "docker-py"
