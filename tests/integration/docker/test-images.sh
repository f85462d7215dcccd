#!/bin/sh
# Images end to end with the real clients: docker load of the busybox fixture (docker-archive and
# OCI layout), images/inspect/history/tag/rmi, save → load round trip, import with --change,
# missing-image errors, a pull from an absent registry, hostile archives refused with nothing written
# outside the data-root, state across a daemon restart, and docker-py images.list()/get().
. "$(dirname "$0")/../lib.sh"

FIX=$REPO/tests/fixtures/mkimage-busybox.sh
sh "$FIX" "$TEST_TMP/bb.tar" myrepo/bb:v1 >/dev/null
FIXTURE_FORMAT=oci sh "$FIX" "$TEST_TMP/bb-oci.tar" oci/bb:1 >/dev/null
start_dindd

# ---- load, list, inspect ----
out=$(dk load -i "$TEST_TMP/bb.tar")
[ "$out" = "Loaded image: myrepo/bb:v1" ] || fail "docker load printed: $out"
dk images --format '{{.Repository}}:{{.Tag}}' | grep -qx 'myrepo/bb:v1' || fail "images lacks myrepo/bb:v1"
id=$(dk image inspect myrepo/bb:v1 --format '{{.Id}}')
case $id in sha256:????????????????????????????????????????????????????????????????) ;; *) fail "bad id $id" ;; esac
[ "$(dk image inspect myrepo/bb:v1 --format '{{json .Config.Cmd}}')" = '["sh"]' ] || fail "Config.Cmd"
[ "$(dk image inspect docker.io/myrepo/bb:v1 --format '{{.Id}}')" = "$id" ] || fail "qualified name"
short=$(echo "$id" | cut -c8-19)
[ "$(dk image inspect "$short" --format '{{.Id}}')" = "$id" ] || fail "short id lookup"
dk history myrepo/bb:v1 | grep -q mkimage-busybox || fail "history"
ok "load, images, inspect, history"

out=$(dk load -i "$TEST_TMP/bb-oci.tar")
[ "$out" = "Loaded image: oci/bb:1" ] || fail "OCI load printed: $out"
[ "$(dk image inspect oci/bb:1 --format '{{.Id}}')" = "$id" ] || fail "OCI layout gave another id"
ok "OCI layout load"

# Concurrent loads of the same content (worker threads, one sqlite writer at a time).
p1=; p2=; p3=
dk load -q -i "$TEST_TMP/bb.tar" >"$TEST_TMP/l1" 2>&1 & p1=$!
dk load -q -i "$TEST_TMP/bb-oci.tar" >"$TEST_TMP/l2" 2>&1 & p2=$!
dk load -q -i "$TEST_TMP/bb.tar" >"$TEST_TMP/l3" 2>&1 & p3=$!
wait $p1 && wait $p2 && wait $p3 || fail "a concurrent load failed: $(cat "$TEST_TMP"/l?)"
[ "$(ls "$DATA_ROOT/image/layers/sha256" | wc -l)" = 1 ] || fail "concurrent loads duplicated layers"
[ -z "$(ls "$DATA_ROOT/image/tmp")" ] || fail "concurrent loads left staging behind"
ok "concurrent loads"

# ---- tag / rmi ----
dk tag myrepo/bb:v1 other/bb:v2
dk images --format '{{.Repository}}:{{.Tag}}' | grep -qx 'other/bb:v2' || fail "tag not listed"
out=$(dk rmi other/bb:v2)
[ "$out" = "Untagged: other/bb:v2" ] || fail "rmi printed: $out"
dk rmi oci/bb:1 >/dev/null
ok "tag, rmi (untag only)"

# ---- missing image ----
if err=$(dk image inspect nosuch 2>&1); then fail "inspect of a missing image succeeded"; fi
echo "$err" | grep -q "No such image" || fail "missing image message: $err"
[ "$(api_status GET /v1.41/images/nosuch/json)" = 404 ] || fail "missing image status"
if err=$(dk rmi nosuch:1 2>&1); then fail "rmi of a missing image succeeded"; fi
echo "$err" | grep -q "No such image: nosuch:1" || fail "rmi missing message: $err"
# (registry pulls are test-registry.sh's; here only a registry that is not there)
if err=$(dk pull 127.0.0.1:1/busybox 2>&1); then fail "pull succeeded"; fi
echo "$err" | grep -q 'Get "http://127.0.0.1:1/v2/": .*connect' || fail "pull message: $err"
ok "missing image and pull errors"

# ---- save → rmi → load round trip ----
dk save myrepo/bb:v1 -o "$TEST_TMP/saved.tar"
tar tf "$TEST_TMP/saved.tar" | grep -qx manifest.json || fail "save lacks manifest.json"
out=$(dk rmi myrepo/bb:v1)
echo "$out" | grep -q "Deleted: $id" || fail "rmi of the last tag did not delete: $out"
[ -z "$(dk images -q)" ] || fail "images left after rmi"
[ -z "$(ls "$DATA_ROOT/image/layers/sha256")" ] || fail "layers left after rmi"
out=$(dk load -i "$TEST_TMP/saved.tar")
[ "$out" = "Loaded image: myrepo/bb:v1" ] || fail "reload printed: $out"
[ "$(dk image inspect myrepo/bb:v1 --format '{{.Id}}')" = "$id" ] || fail "round trip changed the id"
ok "save → load round trip"

# ---- import ----
mkdir "$TEST_TMP/rootfs" && tar -C "$TEST_TMP/rootfs" -xf "$TEST_TMP/bb.tar"
layer=$(find "$TEST_TMP/rootfs" -name layer.tar)
imp=$(dk import --change 'CMD ["echo","hi"]' --change 'ENV A=1' "$layer" imp/bb:1)
[ "$(dk image inspect imp/bb:1 --format '{{.Id}}')" = "$imp" ] || fail "import id: $imp"
[ "$(dk image inspect imp/bb:1 --format '{{json .Config.Cmd}} {{json .Config.Env}}')" = '["echo","hi"] ["A=1"]' ] ||
    fail "import changes"
dk rmi imp/bb:1 >/dev/null
ok "import with --change"

# ---- hostile archives ----
python3 - "$TEST_TMP" <<'PY'
import hashlib, io, json, sys, tarfile
tmp = sys.argv[1]
def tar(entries):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for name, kind, data in entries:
            ti = tarfile.TarInfo(name)
            if kind == "sym":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                t.addfile(ti)
            else:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
    return b.getvalue()
def image(layer, name):
    diff = hashlib.sha256(layer).hexdigest()
    cfg = json.dumps({"rootfs": {"type": "layers", "diff_ids": ["sha256:" + diff]}}).encode()
    man = json.dumps([{"Config": "c.json", "RepoTags": ["evil:1"], "Layers": ["l/layer.tar"]}]).encode()
    open(f"{tmp}/{name}", "wb").write(tar([("l/layer.tar", "f", layer), ("c.json", "f", cfg), ("manifest.json", "f", man)]))
open(f"{tmp}/escape-name", "w").close()
image(tar([("../../../../../../../../.." + tmp + "/escape-dotdot", "f", b"x")]), "dotdot.tar")
image(tar([("link", "sym", tmp), ("link/escape-symlink", "f", b"x")]), "symlink.tar")
# The outer archive itself pointing outside its tree.
man = json.dumps([{"Config": "../../../../../../etc/passwd", "RepoTags": ["evil:2"], "Layers": []}]).encode()
open(f"{tmp}/outer.tar", "wb").write(tar([("manifest.json", "f", man), ("../../escape-outer", "f", b"x")]))
PY
for t in dotdot symlink outer; do
    if err=$(dk load -i "$TEST_TMP/$t.tar" 2>&1); then fail "hostile $t.tar was loaded"; fi
    echo "$err" | grep -qE "escapes|symlink|No such file" || fail "hostile $t.tar message: $err"
done
[ ! -e "$TEST_TMP/escape-dotdot" ] && [ ! -e "$TEST_TMP/escape-symlink" ] || fail "a hostile entry landed outside"
[ -z "$(find "$TEST_TMP" -name 'escape-*' ! -name escape-name)" ] || fail "escape-* written: $(find "$TEST_TMP" -name 'escape-*')"
[ -z "$(ls "$DATA_ROOT/image/tmp")" ] || fail "staging left behind"
dk images --format '{{.Repository}}' | grep -q evil && fail "a hostile image was recorded"
ok "hostile archives refused, nothing written outside"

# ---- images in use by containers ----
dk run --rm myrepo/bb:v1 cat /etc/passwd | grep -q '^root:x:0:0' || fail "run of the loaded image"
dk create --name imgc1 myrepo/bb:v1 true >/dev/null
on_exit "dk rm -f imgc1 >/dev/null 2>&1"
if err=$(dk rmi myrepo/bb:v1 2>&1); then fail "rmi of an image in use succeeded"; fi
echo "$err" | grep -q 'conflict: unable to remove repository reference "myrepo/bb:v1" (must force) - container' ||
    fail "in-use message: $err"
layers=$(ls "$DATA_ROOT/image/layers/sha256")
dk rmi -f myrepo/bb:v1 | grep -q "Deleted: $id" || fail "forced rmi"
[ "$(ls "$DATA_ROOT/image/layers/sha256")" = "$layers" ] || fail "layers of a used image were deleted"
dk rm imgc1 >/dev/null
[ -z "$(ls "$DATA_ROOT/image/layers/sha256")" ] || fail "layers not collected after the container went"
dk load -i "$TEST_TMP/saved.tar" >/dev/null
ok "in-use protection, forced rmi keeps layers until the container is gone"

# ---- docker-py ----
DOCKER_HOST=unix://$SOCK /usr/bin/python3 - "$id" <<'PY'
import sys, docker
c = docker.from_env()
tags = [t for i in c.images.list() for t in i.tags]
assert "myrepo/bb:v1" in tags, tags
img = c.images.get("myrepo/bb:v1")
assert img.id == sys.argv[1], img.id
try:
    c.images.get("nosuch:1")
    raise SystemExit("get of a missing image succeeded")
except docker.errors.ImageNotFound:
    pass
PY
ok "docker-py images.list/get"

# ---- restart keeps state ----
stop_dindd
start_dindd
[ "$(dk image inspect myrepo/bb:v1 --format '{{.Id}}')" = "$id" ] || fail "image lost across restart"
ok "state survives a restart"
