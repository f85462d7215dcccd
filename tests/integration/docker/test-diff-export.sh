# docker system df (images with container counts, containers with sizes, volumes with usage),
# docker diff (A/C/D from the overlay upper dir, deletions from whiteouts), docker export (a tar of
# the container's own filesystem, volumes excluded) and docker commit (a new image with the
# container's changes and config changes, run again to see them); nothing left behind.
. "$(dirname "$0")/../lib.sh"

start_dindd
. "$(dirname "$0")/containers-lib.sh"
load_busybox

remove_all_images_volumes() {
    v=$(dk volume ls -q 2>/dev/null) || return 0
    [ -z "$v" ] || dk volume rm -f $v >/dev/null 2>&1
}
on_exit remove_all_images_volumes

# a container with an added file, a changed directory and a deleted file
dk run --name ch -v dfvol:/vol busybox sh -c \
    'echo new > /added; echo x > /etc/motd.new; rm /etc/group; mkdir -p /d/e; echo v > /vol/inside'
diff=$(dk diff ch)
for want in 'A /added' 'C /etc' 'A /etc/motd.new' 'D /etc/group' 'A /d' 'A /d/e'; do
    echo "$diff" | grep -qx "$want" || fail "docker diff lacks '$want': $diff"
done
echo "$diff" | grep -q vol/inside && fail "diff shows volume content: $diff"
ok "docker diff: A/C/D with whiteouts as D"

# export: the container's root, names relative, without the deleted file or the volume's content
dk export ch -o "$TEST_TMP/ch.tar"
list=$(tar -tf "$TEST_TMP/ch.tar")
echo "$list" | grep -qx 'added' || fail "export lacks added: $(echo "$list" | head)"
echo "$list" | grep -qx 'bin/sh' || fail "export lacks bin/sh"
echo "$list" | grep -qx 'etc/group' && fail "export has the deleted etc/group"
echo "$list" | grep -q 'vol/inside' && fail "export has volume content"
[ "$(tar -xOf "$TEST_TMP/ch.tar" added)" = new ] || fail "export content"
ok "docker export"

# system df
dk run -d --name dfrun busybox sleep 300 >/dev/null
python3 - "$SOCK" <<'PY' || fail "system df shape"
import json, sys, socket, http.client
class C(http.client.HTTPConnection):
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.connect(sys.argv[1])
c = C("localhost"); c.request("GET", "/v1.41/system/df"); r = c.getresponse()
d = json.loads(r.read())
assert r.status == 200, d
assert d["LayersSize"] > 0, d
img = [i for i in d["Images"] if "busybox:latest" in i["RepoTags"]][0]
assert img["Containers"] == 2 and img["SharedSize"] >= 0 and img["Size"] > 0, img
ctrs = {x["Names"][0]: x for x in d["Containers"]}
assert ctrs["/ch"]["SizeRw"] > 0 and ctrs["/ch"]["SizeRootFs"] > img["Size"], ctrs["/ch"]
vol = [v for v in d["Volumes"] if v["Name"] == "dfvol"][0]
assert vol["UsageData"]["RefCount"] == 1 and vol["UsageData"]["Size"] > 0, vol
assert d["BuildCache"] == [], d
PY
dk system df | grep -Eq '^Images +1 +1 ' || fail "docker system df: $(dk system df)"
dk system df | grep -Eq '^Local Volumes +1 +1 ' || fail "docker system df volumes: $(dk system df)"
ok "system df"

# commit: the new image has the container's changes as one more layer, its config and the
# changes; a running container is committed too (paused meanwhile)
layers=$(dk image inspect --format '{{len .RootFS.Layers}}' busybox)
id=$(dk commit -c 'ENV COMMITTED=yes' -c 'LABEL via=commit' -m 'a message' ch snap:v1)
[ "$(dk image inspect --format '{{len .RootFS.Layers}}' snap:v1)" = $((layers + 1)) ] ||
    fail "commit did not add one layer"
[ "$(dk image inspect --format '{{.Comment}}|{{.Config.Labels.via}}' snap:v1)" = "a message|commit" ] ||
    fail "commit config: $(dk image inspect --format '{{json .Config}}' snap:v1)"
[ "$(dk image inspect --format '{{.Id}}' snap:v1)" = "$id" ] || fail "commit Id: $id"
out=$(dk run --rm snap:v1 sh -c 'cat /added; echo $COMMITTED; test -e /etc/group || echo gone; test -d /d/e && echo dir')
[ "$out" = "new
yes
gone
dir" ] || fail "the committed image: $out"
dk exec dfrun sh -c 'echo live > /live'
dk commit dfrun snap:live >/dev/null
[ "$(dk inspect --format '{{.State.Status}}' dfrun)" = running ] || fail "commit left dfrun paused"
[ "$(dk run --rm snap:live cat /live)" = live ] || fail "commit of a running container"
# the image's Cmd survives (the container's Cmd was sleep 300)
[ "$(dk image inspect --format '{{json .Config.Cmd}}' snap:live)" = '["sleep","300"]' ] ||
    fail "commit Cmd: $(dk image inspect --format '{{json .Config.Cmd}}' snap:live)"
dk commit -c 'BOGUS x' ch snap:bad 2>&1 | grep -q 'BOGUS is not a valid change command' ||
    fail "a bad change accepted"
dk commit nosuch snap:x 2>&1 | grep -q 'No such container: nosuch' || fail "commit of nothing"
python3 - "$SOCK" <<'PY' || fail "docker-py commit"
import sys, docker
cl = docker.DockerClient(base_url="unix://" + sys.argv[1])
img = cl.containers.get("ch").commit(repository="snap", tag="py", changes=["CMD cat /added"])
assert cl.containers.run(img.id, remove=True) == b"new\n"
PY
ok "docker commit round trip"

remove_all_and_check_clean
dk rmi snap:v1 snap:live snap:py >/dev/null
ok "clean"
