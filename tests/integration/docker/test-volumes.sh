# Named volumes (local driver): create/ls/inspect/rm with filters and dockerd's errors, data shared
# by two containers, auto-created volumes, copy-up of the image's content (and nocopy), anonymous
# volumes from -v /path and the image's VOLUME removed by rm -v and --rm, in-use removal refused,
# prune, volumes surviving a dindd restart, docker-py's volumes API; nothing left mounted.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

remove_all_volumes() {
    v=$(dk volume ls -q 2>/dev/null) || return 0
    [ -z "$v" ] || dk volume rm -f $v >/dev/null 2>&1
}
on_exit remove_all_volumes

# create / ls / inspect with labels; filters
[ "$(dk volume create --label team=a data1)" = data1 ] || fail "volume create"
dk volume create other >/dev/null
mp=$(dk volume inspect --format '{{.Mountpoint}}|{{.Driver}}|{{.Scope}}|{{.Labels.team}}' data1)
[ "$mp" = "$DATA_ROOT/volumes/data1/_data|local|local|a" ] || fail "volume inspect: $mp"
[ -d "$DATA_ROOT/volumes/data1/_data" ] || fail "no _data directory"
[ "$(dk volume ls -q | sort | tr '\n' ' ')" = "data1 other " ] || fail "ls: $(dk volume ls)"
[ "$(dk volume ls -q --filter label=team=a)" = data1 ] || fail "ls label filter"
[ "$(dk volume ls -q --filter name=oth)" = other ] || fail "ls name filter"
[ "$(dk volume ls -q --filter dangling=true | sort | tr '\n' ' ')" = "data1 other " ] ||
    fail "ls dangling filter"
dk volume ls --filter dangling=maybe 2>&1 | grep -q "Invalid filter 'dangling=maybe'" ||
    fail "bad dangling value accepted"
dk volume create 'bad name' 2>&1 |
    grep -q '"bad name" includes invalid characters for a local volume name, only "\[a-zA-Z0-9\]\[a-zA-Z0-9_.-\]" are allowed' ||
    fail "bad volume name accepted"
dk volume create -o type=tmpfs -o device=tmpfs x1 2>&1 | grep -q 'not supported by dindd' ||
    fail "local driver options not refused clearly"
# a bind volume: containers mount the host directory itself
mkdir "$TEST_TMP/hostdir"
echo host > "$TEST_TMP/hostdir/h"
dk volume create -o type=none -o o=bind -o device="$TEST_TMP/hostdir" bindvol >/dev/null
[ "$(dk run --rm -v bindvol:/b busybox sh -c 'cat /b/h; echo c > /b/c')" = host ] ||
    fail "bind volume content"
[ "$(cat "$TEST_TMP/hostdir/c")" = c ] || fail "bind volume writes"
dk volume create -o type=none -o o=bind -o device="$TEST_TMP/missing" badbind >/dev/null
dk run --rm -v badbind:/b busybox true 2>&1 | grep -q 'no such file or directory' ||
    fail "a missing bind device is not an error"
[ ! -e "$TEST_TMP/missing" ] || fail "the missing device was created"
dk volume rm bindvol badbind >/dev/null
[ -f "$TEST_TMP/hostdir/h" ] || fail "removing a bind volume removed the host directory"
dk volume inspect nosuch 2>&1 | grep -q 'no such volume' || fail "inspect of a missing volume"
ok "volume create/ls/inspect, filters and errors"

# data written by one container is read by the next; a second name is auto-created
since=$(date +%s)
dk run --rm -v data1:/data busybox sh -c 'echo persisted > /data/f' || fail "write to volume"
[ "$(dk run --rm -v data1:/data:ro busybox cat /data/f)" = persisted ] || fail "read from volume"
dk run --rm -v data1:/data:ro busybox sh -c 'echo x > /data/g' 2>/dev/null && fail "ro volume writable"
dk run --rm --mount type=volume,source=auto1,target=/m busybox sh -c 'echo m > /m/f'
dk volume inspect auto1 >/dev/null || fail "volume not auto-created by --mount"
[ "$(cat "$DATA_ROOT/volumes/auto1/_data/f")" = m ] || fail "--mount volume content"
ev=$(dk events --since "$since" --until "$(($(date +%s) + 1))" --filter type=volume \
    --format '{{.Action}} {{.Actor.ID}} {{.Actor.Attributes.destination}}')
echo "$ev" | grep -qx 'mount data1 /data' || fail "no mount event: $ev"
echo "$ev" | grep -qx 'unmount data1 <no value>' || fail "no unmount event: $ev"
echo "$ev" | grep -qx 'create auto1 <no value>' || fail "no create event: $ev"
ok "data persists across containers; --mount type=volume; volume events"

# copy-up: a new empty volume receives the image's content at its path; nocopy does not
[ "$(dk run --rm -v fresh:/etc busybox cat /etc/passwd | head -n 1 | cut -d: -f1)" = root ] ||
    fail "copy-up of /etc into a new volume"
[ -f "$DATA_ROOT/volumes/fresh/_data/passwd" ] || fail "copy-up did not reach the volume"
dk run --rm -v nocp:/etc:nocopy busybox test ! -e /etc/passwd || fail "nocopy volume got content"
# an existing non-empty volume is not overwritten
dk run --rm -v data1:/etc busybox true
[ ! -e "$DATA_ROOT/volumes/data1/_data/passwd" ] || fail "copy-up into a non-empty volume"
ok "copy-up into new volumes, nocopy honoured"

# inspect Mounts; in-use removal is refused (also for a stopped container)
dk create --name user1 -v data1:/data busybox true >/dev/null
m=$(dk inspect --format '{{range .Mounts}}{{.Type}}|{{.Name}}|{{.Source}}|{{.Destination}}|{{.Driver}}|{{.RW}}{{end}}' user1)
[ "$m" = "volume|data1|$DATA_ROOT/volumes/data1/_data|/data|local|true" ] || fail "Mounts: $m"
[ "$(dk ps -a --filter volume=data1 --format '{{.Names}}')" = user1 ] || fail "ps volume filter"
err=$(dk volume rm data1 2>&1) && fail "in-use volume removed"
id=$(dk inspect --format '{{.Id}}' user1)
echo "$err" | grep -q "remove data1: volume is in use - \[$id\]" || fail "in-use text: $err"
[ "$(dk volume ls -q --filter dangling=false)" = data1 ] || fail "dangling=false"
dk rm user1 >/dev/null
dk volume rm data1 >/dev/null || fail "volume rm"
[ ! -e "$DATA_ROOT/volumes/data1" ] || fail "volume directory left"
dk volume rm -f data1 >/dev/null || fail "rm -f of a missing volume"
ok "inspect Mounts, in-use refusal, rm"

# anonymous volumes: -v /path and the image's VOLUME; rm -v and --rm remove them, rm keeps them
dk run --name anon1 -v /scratch busybox sh -c 'echo a > /scratch/f' || fail "anonymous volume"
anon=$(dk inspect --format '{{range .Mounts}}{{.Name}}{{end}}' anon1)
[ ${#anon} = 64 ] || fail "anonymous volume name: $anon"
dk volume inspect "$anon" >/dev/null || fail "anonymous volume not listed"
dk rm -v anon1 >/dev/null
dk volume inspect "$anon" >/dev/null 2>&1 && fail "rm -v kept the anonymous volume"
dk run --name anon2 -v /scratch busybox true
anon=$(dk inspect --format '{{range .Mounts}}{{.Name}}{{end}}' anon2)
dk rm anon2 >/dev/null
dk volume inspect "$anon" >/dev/null || fail "rm without -v removed the volume"
dk volume rm "$anon" >/dev/null
before=$(dk volume ls -q | wc -l)
dk run --rm -v /scratch -v keepme:/k busybox true
i=0
while [ "$(dk ps -aq | wc -l)" != 0 ]; do i=$((i + 1)); [ $i -lt 100 ] || fail "--rm"; sleep 0.1; done
[ "$(dk volume ls -q | wc -l)" = $((before + 1)) ] || fail "--rm: $(dk volume ls -q)"
dk volume inspect keepme >/dev/null || fail "--rm removed a named volume"
ok "anonymous volumes go with rm -v and --rm; named ones stay"

# the image's VOLUME (through the API, the image config is merged like Config.Volumes)
id=$(api POST /containers/create -H 'Content-Type: application/json' \
    -d '{"Image":"busybox","Cmd":["ls","/var/spool"],"Volumes":{"/var/spool":{}}}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Id"])')
anon=$(dk inspect --format '{{range .Mounts}}{{.Name}}{{end}}' "$id")
[ -n "$anon" ] && dk volume inspect "$anon" >/dev/null || fail "Config.Volumes: no volume"
dk rm -v "$id" >/dev/null
dk volume inspect "$anon" >/dev/null 2>&1 && fail "Config.Volumes volume kept by rm -v"
ok "Config.Volumes become anonymous volumes"

# volumes survive a dindd restart; prune removes the unused ones
dk volume create survivor >/dev/null
echo s > "$DATA_ROOT/volumes/survivor/_data/f"
stop_dindd
start_dindd
[ "$(dk volume inspect --format '{{.Name}}' survivor)" = survivor ] || fail "volume lost on restart"
[ "$(dk run --rm -v survivor:/s busybox cat /s/f)" = s ] || fail "content lost on restart"
dk create --name holder -v keepme:/k busybox true >/dev/null
dk volume prune -f >/dev/null
[ "$(dk volume ls -q)" = keepme ] || fail "prune left: $(dk volume ls -q)"
dk rm holder >/dev/null
ok "volumes survive a restart; prune"

python3 - "$SOCK" <<'PY' || fail "docker-py volumes"
import sys, docker
cl = docker.DockerClient(base_url="unix://" + sys.argv[1])
v = cl.volumes.create("pyvol", labels={"k": "v"})
assert v.attrs["Labels"] == {"k": "v"}, v.attrs
out = cl.containers.run("busybox", "sh -c 'echo py > /v/f; cat /v/f'", volumes={"pyvol": {"bind": "/v", "mode": "rw"}}, remove=True)
assert out == b"py\n", out
assert [x.name for x in cl.volumes.list(filters={"label": "k=v"})] == ["pyvol"]
c = cl.containers.create("busybox", "true", volumes=["pyvol:/v"])
try:
    v.remove()
    raise SystemExit("in-use volume removed")
except docker.errors.APIError as e:
    assert e.status_code == 409, e
c.remove()
v.remove()
assert "pyvol" not in [x.name for x in cl.volumes.list()]
PY
ok "docker-py volumes"

remove_all_and_check_clean
remove_all_volumes
[ -z "$(ls "$DATA_ROOT/volumes")" ] || fail "volume directories left: $(ls "$DATA_ROOT/volumes")"
ok "clean"
