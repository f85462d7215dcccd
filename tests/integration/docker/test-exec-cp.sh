#!/bin/sh
# docker CLI exec and cp against dindd: exec output and exit codes, 126 for a missing binary,
# stdin with -i, exec -it through a pty (script), env/workdir/user, `docker cp` both ways for a
# file and a directory (also into a created, never started container), the path-stat header,
# and hostile tars PUT with curl (`../` and a symlink escape): refused with 400, nothing written.
. "$(dirname "$0")/../lib.sh"
start_dindd
sh "$REPO/tests/fixtures/mkimage-busybox.sh" "$TEST_TMP/busybox.tar" busybox:latest >/dev/null
dk load -i "$TEST_TMP/busybox.tar" >/dev/null
on_exit 'ids=$(dk ps -aq); [ -z "$ids" ] || dk rm -f $ids >/dev/null'
T=$TEST_TMP

dk run -d --name web busybox sleep 100000 >/dev/null

# ---- exec ----
out=$(dk exec web sh -c 'echo hi; echo err >&2' 2>"$T/err")
[ "$out" = hi ] || fail "exec stdout: '$out'"
[ "$(cat "$T/err")" = err ] || fail "exec stderr: '$(cat "$T/err")'"
ok "exec output on stdout and stderr"

rc=0; dk exec web sh -c 'exit 3' || rc=$?
[ $rc -eq 3 ] || fail "exec exit code $rc, want 3"
rc=0; dk exec web nosuchbinary >"$T/out" 2>&1 || rc=$?
[ $rc -eq 126 ] || fail "missing binary: exit code $rc, want 126"
grep -q 'OCI runtime exec failed: .*executable file not found in \$PATH' "$T/out" ||
    fail "missing binary message: $(cat "$T/out")"
ok "exec exit codes (3, 126 + message)"

out=$(printf 'line1\nline2\n' | dk exec -i web sh -c 'cat; echo end')
[ "$out" = "line1
line2
end" ] || fail "exec -i stdin: '$out'"
ok "exec -i passes stdin and its EOF"

out=$(dk exec -e X=42 -w /etc -u nobody web sh -c 'echo "$X $(pwd) $(id -u)"')
[ "$out" = "42 /etc 65534" ] || fail "exec env/workdir/user: '$out'"
ok "exec -e -w -u"

script -qec "$DOCKER_CLI -H unix://$SOCK exec -it web sh -c 'tty; echo \$TERM; exit 4'" \
    "$T/typescript" >"$T/tty.out" 2>&1 </dev/null && rc=0 || rc=$?
grep -q '/dev/pts/' "$T/tty.out" || fail "exec -it has no pty: $(cat "$T/tty.out")"
grep -q 'xterm' "$T/tty.out" || fail "exec -it TERM: $(cat "$T/tty.out")"
[ $rc -eq 4 ] || fail "exec -it exit code $rc, want 4"
ok "exec -it through a pty"

id=$(api POST /containers/web/exec -H 'Content-Type: application/json' -d '{"Cmd":["true"]}' |
    sed -n 's/.*"Id":"\([0-9a-f]*\)".*/\1/p')
[ -n "$id" ] || fail "exec create"
api GET "/exec/$id/json" | grep -q '"ExitCode":null' || fail "ExitCode must be null before start"
[ "$(api_status POST "/exec/$id/resize?h=30&w=100")" = 200 ] || fail "resize before start"
api POST "/exec/$id/start" -H 'Content-Type: application/json' -d '{"Detach":true}' >/dev/null
i=0
while api GET "/exec/$id/json" | grep -q '"Running":true'; do
    i=$((i + 1)); [ $i -lt 200 ] || fail "detached exec never finished"; sleep 0.05
done
api GET "/exec/$id/json" | grep -q '"ExitCode":0' || fail "detached exec exit code"
[ "$(api_status POST /containers/web/exec -d '{"Cmd":[]}' -H 'Content-Type: application/json')" = 400 ] ||
    fail "empty Cmd must be 400"
[ "$(api_status GET /exec/nosuch/json)" = 404 ] || fail "missing exec must be 404"
dk create --name stopped busybox true >/dev/null
msg=$(api POST /containers/stopped/exec -H 'Content-Type: application/json' -d '{"Cmd":["true"]}')
echo "$msg" | grep -q 'is not running' || fail "exec in a created container: $msg"
ok "exec API: inspect, resize before start, detach, errors"

# ---- cp ----
echo hello >"$T/f.txt"
mkdir -p "$T/dir/sub"; echo a >"$T/dir/sub/a"
dk cp "$T/f.txt" web:/tmp/f.txt
[ "$(dk exec web cat /tmp/f.txt)" = hello ] || fail "cp file into a running container"
dk cp "$T/dir" web:/tmp/
[ "$(dk exec web cat /tmp/dir/sub/a)" = a ] || fail "cp directory into a running container"
dk cp web:/etc/passwd "$T/passwd"
grep -q '^root:' "$T/passwd" || fail "cp file out of a container"
dk cp web:/tmp/dir "$T/back"
[ "$(cat "$T/back/sub/a")" = a ] || fail "cp directory out of a container"
ok "docker cp both ways, file and directory"

dk create --name cr busybox cat /tmp/in.txt /etc/from-cp/x >/dev/null
dk cp "$T/f.txt" cr:/tmp/in.txt
mkdir -p "$T/from-cp"; echo x >"$T/from-cp/x"
dk cp "$T/from-cp" cr:/etc/
out=$(dk start -a cr)
[ "$out" = "hello
x" ] || fail "cp into a created container: '$out'"
dk cp cr:/tmp/in.txt "$T/in-back.txt"
[ "$(cat "$T/in-back.txt")" = hello ] || fail "cp out of an exited container"
ok "docker cp into a created (not started) container"

rc=0; dk cp "$T/f.txt" web:/nonexistent/f.txt 2>"$T/err" || rc=$?
[ $rc -ne 0 ] && grep -q 'Could not find the file /nonexistent' "$T/err" ||
    fail "cp to a missing directory: $(cat "$T/err")"
stat=$(curl -sS -I --unix-socket "$SOCK" "http://localhost/containers/web/archive?path=/etc" |
    sed -n 's/^X-Docker-Container-Path-Stat: *\([^\r]*\).*/\1/ip' | base64 -d)
echo "$stat" | grep -q '"name":"etc"' && echo "$stat" | grep -q '"mode":2147484141' ||
    fail "path stat of /etc: $stat"
dk exec web ln -s /etc/passwd /tmp/lnk
stat=$(curl -sS -I --unix-socket "$SOCK" "http://localhost/containers/web/archive?path=/tmp/lnk" |
    sed -n 's/^X-Docker-Container-Path-Stat: *\([^\r]*\).*/\1/ip' | base64 -d)
echo "$stat" | grep -q '"linkTarget":"/etc/passwd"' || fail "symlink stat: $stat"
st=$(curl -sS -I -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" \
    "http://localhost/containers/web/archive?path=/nonexistent")
[ "$st" = 404 ] || fail "HEAD of a missing path: $st"
ok "archive HEAD stat (dir mode bits, linkTarget, 404)"

# ---- hostile tars ----
mark=hostile-$$
python3 - "$T" "$mark" <<'PY'
import io, sys, tarfile
d, mark = sys.argv[1:3]
def mk(name, ents):
    with tarfile.open(f"{d}/{name}", "w") as t:
        for n, link, data in ents:
            ti = tarfile.TarInfo(n)
            if link is not None:
                ti.type, ti.linkname = tarfile.SYMTYPE, link
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
mk("dotdot.tar", [("ok-first", None, b"x"), ("../../../../../../../../tmp/" + mark, None, b"x")])
mk("symlink.tar", [("esc", "/", None), ("esc/tmp/" + mark + "-s", None, b"x")])
mk("symlink-rel.tar", [("esc2", "../../../../../../../..", None), ("esc2/tmp/" + mark + "-r", None, b"x")])
mk("dir-over.tar", [("etc", None, b"x")])
PY
for c in web cr; do
    for t in dotdot symlink symlink-rel; do
        st=$(curl -sS -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X PUT \
            -H 'Transfer-Encoding: chunked' --data-binary "@$T/$t.tar" \
            "http://localhost/containers/$c/archive?path=/tmp")
        [ "$st" = 400 ] || fail "$t.tar into $c: status $st ($(cat "$T/body"))"
    done
done
for f in "/tmp/$mark" "/tmp/$mark-s" "/tmp/$mark-r"; do
    [ ! -e "$f" ] || { rm -f "$f"; fail "a hostile tar wrote $f on the host"; }
done
# the data root holds the containers' upper dirs: nothing at all may have been written
find "$T" /tmp -maxdepth 8 -name "$mark*" 2>/dev/null | grep . && fail "a hostile tar wrote files"
dk exec web sh -c 'ls /tmp/ok-first /tmp/esc /tmp/esc2 /tmp/hostile* 2>/dev/null' && fail "partial write in web"
st=$(curl -sS -o "$T/body" -w '%{http_code}' --unix-socket "$SOCK" -X PUT --data-binary "@$T/dir-over.tar" \
    "http://localhost/containers/web/archive?path=/&noOverwriteDirNonDir=true")
[ "$st" = 400 ] || fail "noOverwriteDirNonDir: status $st"
st=$(api_status PUT '/containers/web/archive?path=/etc/passwd' --data-binary "@$T/dir-over.tar")
[ "$st" = 400 ] || fail "PUT into a file: status $st"
st=$(api_status PUT '/containers/web/archive?path=/nosuchdir' --data-binary "@$T/dir-over.tar")
[ "$st" = 404 ] || fail "PUT into a missing dir: status $st"
ok "hostile tars refused with 400, nothing written; 400/404 for bad destinations"
