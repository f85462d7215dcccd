#!/bin/sh
# Two nodes: `k3core server` (with its in-process agent, node-a) in one network namespace and
# `k3core agent` (node-b) in another, joined over a veth link with the token the server wrote
# to <data-dir>/server/token (k3s's K10<ca hash>::server:<password> form). Both nodes are Ready
# with distinct podCIDRs from 10.42.0.0/16; a pod pinned to each node runs; the pod on node-a
# fetches HTTP from the busybox httpd pod on node-b by pod IP (host-gw routes, no NAT between
# pods), a pod on node-a reaches a Service whose endpoint is on node-b (ClusterIP, and the
# NodePort on both nodes), and a deleted Node's route goes away; a wrong token and
# a token with another CA's hash are refused with no Node created. The pod on node-b's logs,
# exec (exit code, stdin) and port-forward work with kubectl 1.27 (SPDY) and 1.33 (WebSocket)
# through node-b's kubelet port, which refuses anonymous clients (401) and other identities
# (403); with node-b stopped they fail with "error dialing backend". Everything (namespaces,
# bridges, routes, rules, mounts, processes) is gone afterwards.
. "$(dirname "$0")/lib.sh"
RUN=$$
NSA=k3c-a-$RUN
NSB=k3c-b-$RUN
VA=k3va$RUN
VB=k3vb$RUN
IPA=192.168.231.1
IPB=192.168.231.2
DA=$K3CORE_TMP/a
DB=$K3CORE_TMP/b
AGENT_PID=""
WAIT_PID=""
SERVER_PID=""
PF_PID=""

cleanup() {
    rc=$?
    for p in $PF_PID $AGENT_PID $WAIT_PID $SERVER_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    ip netns del "$NSA" 2>/dev/null || true
    ip netns del "$NSB" 2>/dev/null || true
    k3core_cleanup
    exit $rc
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in server agent; do
        [ -f "$K3CORE_TMP/$f.log" ] && { echo "--- $f.log" >&2; tail -n 25 "$K3CORE_TMP/$f.log" >&2; }
    done
    exit 1
}

ina() { nsenter --net="/run/netns/$NSA" "$@"; }
inb() { nsenter --net="/run/netns/$NSB" "$@"; }

ip netns add "$NSA"
ip netns add "$NSB"
ip link add "$VA" type veth peer name "$VB"
ip link set "$VA" netns "$NSA"
ip link set "$VB" netns "$NSB"
ina ip link set lo up
inb ip link set lo up
ina ip addr add "$IPA/24" dev "$VA"
inb ip addr add "$IPB/24" dev "$VB"
ina ip link set "$VA" up
inb ip link set "$VB" up

for d in "$DA" "$DB"; do
    mkdir -p "$d/agent/images"
    sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$d/agent/images/busybox.tar" >/dev/null
done

nsenter --net="/run/netns/$NSA" "$K3CORE_BIN" server --data-dir "$DA" --node-name node-a --node-ip "$IPA" \
    --write-kubeconfig "$KUBECONFIG" --disable traefik >"$K3CORE_TMP/server.log" 2>&1 &
SERVER_PID=$!
K="ina $K133"
i=0
until ina curl -sfk "https://127.0.0.1:6443/readyz" >/dev/null 2>&1 && [ -s "$DA/server/token" ]; do
    kill -0 "$SERVER_PID" 2>/dev/null || fail "k3core server exited during start"
    i=$((i + 1))
    [ $i -lt 300 ] || fail "k3core server did not become ready"
    sleep 0.1
done
TOKEN=$(cat "$DA/server/token")
case "$TOKEN" in K10[0-9a-f]*::server:?*) ;; *) fail "token not in k3s's form: $TOKEN" ;; esac
cmp -s "$DA/server/token" "$DA/server/node-token" || fail "node-token differs from token"

# the CA hash in the token is the sha256 of what /cacerts serves
hash=$(inb curl -sfk "https://$IPA:6443/cacerts" | sha256sum | cut -d' ' -f1)
expect_contains "$TOKEN" "K10$hash::" "token"

# a wrong password and a token pinned to another CA are refused; no Node appears
pw=${TOKEN##*:}
if out=$(inb "$K3CORE_BIN" agent --server "https://$IPA:6443" --token "K10$hash::server:wrong$pw" \
    --node-name node-bad --data-dir "$K3CORE_TMP/bad" 2>&1); then
    fail "agent with a wrong token joined: $out"
fi
expect_contains "$out" "token is not valid" "wrong-token agent's stderr"
other=$(printf '%064d' 0)
if out=$(inb "$K3CORE_BIN" agent --server "https://$IPA:6443" --token "K10$other::server:$pw" \
    --node-name node-bad --data-dir "$K3CORE_TMP/bad" 2>&1); then
    fail "agent with another CA's hash joined: $out"
fi
expect_contains "$out" "CA certificate hash" "wrong-hash agent's stderr"
out=$($K get node node-bad 2>&1) && fail "a refused agent registered a Node: $out"
# a server that does not answer yet is waited for (k3s agents start before their server)
nsenter --net="/run/netns/$NSB" "$K3CORE_BIN" agent --server "https://$IPA:6444" --token "$TOKEN" \
    --node-name node-wait --data-dir "$K3CORE_TMP/wait" >"$K3CORE_TMP/wait.log" 2>&1 &
WAIT_PID=$!
i=0
until grep -q "waiting to join" "$K3CORE_TMP/wait.log"; do
    kill -0 "$WAIT_PID" 2>/dev/null || fail "agent gave up on an unreachable server: $(cat "$K3CORE_TMP/wait.log")"
    i=$((i + 1))
    [ $i -lt 150 ] || fail "agent did not report waiting for its server"
    sleep 0.2
done
kill "$WAIT_PID"
wait "$WAIT_PID" || fail "a waiting agent did not exit cleanly on SIGTERM"
WAIT_PID=""

nsenter --net="/run/netns/$NSB" "$K3CORE_BIN" agent --server "https://$IPA:6443" --token-file "$DA/server/token" \
    --node-name node-b --node-ip "$IPB" --data-dir "$DB" >"$K3CORE_TMP/agent.log" 2>&1 &
AGENT_PID=$!

ready() {
    [ "$($K get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ] &&
        [ -n "$($K get node "$1" -o jsonpath='{.spec.podCIDR}' 2>/dev/null)" ]
}
i=0
until ready node-a && ready node-b; do
    kill -0 "$AGENT_PID" 2>/dev/null || fail "k3core agent exited"
    i=$((i + 1))
    [ $i -lt 300 ] || fail "two Ready nodes with podCIDRs did not appear"
    sleep 0.2
done
for kc in $K133 $K127; do
    out=$(ina "$kc" get nodes --no-headers)
    [ "$(printf '%s\n' "$out" | grep -c ' Ready ')" = 2 ] || fail "$kc get nodes: $out"
done
ca=$($K get node node-a -o jsonpath='{.spec.podCIDR}')
cb=$($K get node node-b -o jsonpath='{.spec.podCIDR}')
[ "$ca" != "$cb" ] || fail "both nodes have podCIDR $ca"
for c in "$ca" "$cb"; do
    case "$c" in 10.42.*.0/24) ;; *) fail "podCIDR $c is not a /24 of 10.42.0.0/16" ;; esac
done
expect_contains "$($K get node node-b -o jsonpath='{.spec.podCIDRs}')" "$cb" "node-b podCIDRs"
ina "$K3CORE_BIN" --version >/dev/null
$K get secret -n kube-system node-b.node-password.k3s >/dev/null || fail "no node password Secret"
$K get lease -n kube-node-lease node-b >/dev/null || fail "no Lease for node-b"
user=$(openssl x509 -in "$DB/agent/client-kubelet.crt" -noout -subject)
expect_contains "$user" "system:node:node-b" "kubelet client certificate"
expect_contains "$user" "system:nodes" "kubelet client certificate"
openssl verify -CAfile "$DB/agent/server-ca.crt" "$DB/agent/serving-kubelet.crt" >/dev/null ||
    fail "serving-kubelet.crt is not signed by the server CA"
expect_contains "$(openssl x509 -in "$DB/agent/serving-kubelet.crt" -noout -ext subjectAltName)" \
    "IP Address:$IPB" "serving-kubelet.crt SANs"
# node-b's identity may change its own Node but not node-a's (NodeRestriction)
ncurl() {
    inb curl -sS -o /dev/null -w '%{http_code}' --cacert "$DB/agent/server-ca.crt" \
        --cert "$DB/agent/client-kubelet.crt" --key "$DB/agent/client-kubelet.key" -X PATCH \
        -H 'Content-Type: application/merge-patch+json' -d '{"metadata":{"labels":{"t":"x"}}}' \
        "https://$IPA:6443/api/v1/nodes/$1"
}
[ "$(ncurl node-b)" = 200 ] || fail "node-b cannot patch its own Node"
[ "$(ncurl node-a)" = 403 ] || fail "node-b may patch node-a"
# another machine claiming node-b (its own node password) is refused
if out=$(inb "$K3CORE_BIN" agent --server "https://$IPA:6443" --token "$TOKEN" --node-name node-b \
    --data-dir "$K3CORE_TMP/dup" 2>&1); then
    fail "a second node-b with another node password joined: $out"
fi
expect_contains "$out" "Node password rejected" "duplicate node-b's stderr"

# host-gw routes: each node routes the other's podCIDR via its InternalIP
i=0
until ina ip route | grep -q "^$cb via $IPB" && inb ip route | grep -q "^$ca via $IPA"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "missing pod routes: node-a: $(ina ip route); node-b: $(inb ip route)"
    sleep 0.2
done

pin() { printf '{"spec":{"nodeSelector":{"kubernetes.io/hostname":"%s"}}}' "$1"; }
$K run web --image=busybox:latest --image-pull-policy=IfNotPresent --overrides="$(pin node-b)" -- \
    sh -c 'echo web-on-node-b; mkdir -p /w/cgi-bin && printf "#!/bin/sh\necho Content-Type: text/plain\necho\necho two-node-ok from \$REMOTE_ADDR\n" >/w/cgi-bin/ip && chmod +x /w/cgi-bin/ip && exec httpd -f -p 8080 -h /w' >/dev/null
$K wait --for=condition=Ready pod/web --timeout=90s >/dev/null || fail "web on node-b not Ready"
[ "$($K get pod web -o jsonpath='{.spec.nodeName}')" = node-b ] || fail "web not on node-b"
wip=$($K get pod web -o jsonpath='{.status.podIP}')
case "$wip" in "${cb%.0/24}".*) ;; *) fail "web podIP '$wip' not in node-b's $cb" ;; esac
# cluster DNS on node-b too: its own kubelet answers on 10.43.0.10, from the agent's service view
inb ip addr show dev k3c0 | grep -q 'inet 10.43.0.10/32' || fail "no 10.43.0.10/32 on node-b's k3c0"
out=$($K exec web -- nslookup kubernetes.default.svc.cluster.local 2>&1) || fail "DNS on node-b: $out"
expect_contains "$out" "Address: 10.43.0.1" "nslookup kubernetes.default on node-b"
$K expose pod web --name webdns --port 8080 >/dev/null
wip_svc=$($K get svc webdns -o jsonpath='{.spec.clusterIP}')
i=0
until $K exec web -- nslookup webdns.default.svc.cluster.local 2>&1 | grep -q "Address: $wip_svc"; do
    i=$((i + 1))
    [ $i -lt 50 ] || fail "webdns ($wip_svc) not in node-b's DNS: $($K exec web -- nslookup webdns.default.svc.cluster.local 2>&1)"
    sleep 0.2
done

$K run cli --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never \
    --overrides="$(pin node-a)" -- \
    sh -c "ip -4 addr show eth0; for i in \$(seq 50); do wget -q -O - http://$wip:8080/cgi-bin/ip && exit 0; sleep 0.2; done; exit 1" >/dev/null
i=0
until ph=$($K get pod cli -o jsonpath='{.status.phase}' 2>/dev/null) &&
    { [ "$ph" = Succeeded ] || [ "$ph" = Failed ]; }; do
    i=$((i + 1))
    [ $i -lt 450 ] || fail "cli did not finish (phase '$ph')"
    sleep 0.2
done
[ "$($K get pod cli -o jsonpath='{.spec.nodeName}')" = node-a ] || fail "cli not on node-a"
log=$(cat "$DA"/agent/pods/default_cli_*/cli/0.log 2>/dev/null || true)
[ "$ph" = Succeeded ] || fail "cli on node-a could not fetch http://$wip:8080/ on node-b: $log"
expect_contains "$log" "two-node-ok" "cli's wget from node-a to node-b"
# no NAT between pods: node-b's pod sees the client pod's own address
cip=$(printf '%s\n' "$log" | sed -n 's/.*inet \(10\.42\.[0-9]*\.[0-9]*\)\/24.*/\1/p' | head -n 1)
case "$cip" in "${ca%.0/24}".*) ;; *) fail "cli has no address in node-a's $ca: $log" ;; esac
from=$(printf '%s\n' "$log" | grep -o 'two-node-ok from .*')
case "$from" in *"from $cip" | *"from [::ffff:$cip]") ;; *)
    fail "web saw '$from', not the client pod's $cip (pod-to-pod traffic must not be NATed)" ;;
esac

# a Service whose only endpoint is on node-b: a pod on node-a reaches its ClusterIP, and its
# NodePort answers on both nodes (node-b's rules come from the agent's remote view)
$K expose pod web --name websvc --type NodePort --port 80 --target-port 8080 >/dev/null
svcip=$($K get svc websvc -o jsonpath='{.spec.clusterIP}')
np=$($K get svc websvc -o jsonpath='{.spec.ports[0].nodePort}')
$K run cl2 --image=busybox:latest --image-pull-policy=IfNotPresent --overrides="$(pin node-a)" -- \
    sleep 3600 >/dev/null
$K wait --for=condition=Ready pod/cl2 --timeout=60s >/dev/null || fail "cl2 on node-a not Ready"
i=0
until ina iptables -w -t nat -S | grep -q 'default/websvc' && inb iptables -w -t nat -S | grep -q 'default/websvc'; do
    i=$((i + 1))
    [ $i -lt 150 ] || fail "no rules for websvc: node-a: $(ina iptables -w -t nat -S | grep -c K3D-); node-b: $(inb iptables -w -t nat -S | grep -c K3D-)"
    sleep 0.2
done
out=$($K exec cl2 -- wget -q -O - "http://$svcip/cgi-bin/ip" 2>&1) || true
expect_contains "$out" "two-node-ok" "ClusterIP $svcip from node-a's cl2 to web on node-b"
out=$(ina curl -sS --max-time 5 "http://$IPA:$np/cgi-bin/ip" 2>&1) || true
expect_contains "$out" "two-node-ok" "NodePort $np on node-a (endpoint on node-b)"
out=$(inb curl -sS --max-time 5 "http://$IPB:$np/cgi-bin/ip" 2>&1) || true
expect_contains "$out" "two-node-ok" "NodePort $np on node-b"
$K delete svc websvc >/dev/null
i=0
while ina iptables -w -t nat -S | grep -q 'default/websvc' || inb iptables -w -t nat -S | grep -q 'default/websvc'; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "websvc's rules stayed after the Service was deleted"
    sleep 0.2
done

# a local-path volume on node-b: its directory is made by node-b's kubelet and, once the claim and
# its volume are deleted, removed by node-b's kubelet (the server only removes those on its node)
$K apply -f - >/dev/null <<EOF
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: datab}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: pvb}
spec:
  nodeSelector: {kubernetes.io/hostname: node-b}
  restartPolicy: Never
  containers:
  - {name: w, image: busybox:latest, imagePullPolicy: IfNotPresent, command: [sh, -c, "echo kept >/d/f"],
     volumeMounts: [{name: d, mountPath: /d}]}
  volumes: [{name: d, persistentVolumeClaim: {claimName: datab}}]
EOF
i=0
until [ "$($K get pod pvb -o jsonpath='{.status.phase}')" = Succeeded ]; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "pvb with a local-path volume on node-b did not succeed: $($K get pod pvb -o yaml)"
    sleep 0.2
done
pvb=$($K get pvc datab -o jsonpath='{.spec.volumeName}')
pvdir=$($K get pv "$pvb" -o jsonpath='{.spec.hostPath.path}')
[ "$($K get pv "$pvb" -o jsonpath='{.spec.nodeAffinity.required.nodeSelectorTerms[0].matchExpressions[0].values[0]}')" = node-b ] ||
    fail "local-path volume $pvb is not pinned to node-b"
[ "$(cat "$pvdir/f" 2>/dev/null)" = kept ] || fail "pvb's file not in $pvdir"
$K delete pod pvb --wait=true >/dev/null
$K delete pvc datab >/dev/null
i=0
while [ -e "$pvdir" ] || $K get pv "$pvb" >/dev/null 2>&1; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "the deleted local-path volume $pvb on node-b left $pvdir behind"
    sleep 0.2
done
[ -z "$(ls "$DB/agent/localpath" 2>/dev/null)" ] || fail "node-b kept local-path records: $(ls "$DB/agent/localpath")"

# streams of a pod on node-b: the server relays them to node-b's kubelet port (10250, published
# in the Node's status), which takes only the server's client certificate
[ "$($K get node node-b -o jsonpath='{.status.daemonEndpoints.kubeletEndpoint.Port}')" = 10250 ] ||
    fail "node-b publishes no kubelet port 10250"
kcurl() { # <expected status> <what> curl-args... : the status line of a request to node-b:10250
    want=$1 what=$2
    shift 2
    code=$(ina curl -sS -o "$K3CORE_TMP/kcurl.out" -w '%{http_code}' --cacert "$DA/server/tls/server-ca.crt" "$@") ||
        fail "$what: curl failed"
    [ "$code" = "$want" ] || fail "$what: HTTP $code, want $want: $(cat "$K3CORE_TMP/kcurl.out")"
}
KP="https://$IPB:10250/containerLogs/default/web/web"
kcurl 401 "anonymous request to the kubelet port" "$KP"
kcurl 401 "anonymous request to an unknown path of the kubelet port" "https://$IPB:10250/pods"
kcurl 403 "node-b's own certificate at the kubelet port" --cert "$DB/agent/client-kubelet.crt" \
    --key "$DB/agent/client-kubelet.key" "$KP"
kcurl 200 "the server's certificate at the kubelet port" --cert "$DA/server/tls/client-kube-apiserver.crt" \
    --key "$DA/server/tls/client-kube-apiserver.key" "$KP"
expect_contains "$(cat "$K3CORE_TMP/kcurl.out")" "web-on-node-b" "web's log from the kubelet port"
# a WebSocket exec is relayed as such (kubectl 1.33 would fall back to SPDY if it were not)
out=$(ina curl -sS -i -N --max-time 10 --cacert "$DA/server/tls/server-ca.crt" \
    --cert "$DA/server/tls/client-admin.crt" --key "$DA/server/tls/client-admin.key" \
    -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Protocol: v5.channel.k8s.io' \
    "https://127.0.0.1:6443/api/v1/namespaces/default/pods/web/exec?command=echo&command=ws-ok&stdout=true" 2>&1 |
    tr -d '\r' || true)
expect_contains "$out" "HTTP/1.1 101" "WebSocket exec through the server"
expect_contains "$out" "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" "WebSocket exec through the server"
expect_contains "$out" "ws-ok" "WebSocket exec through the server"
$K run att --image=busybox:latest --image-pull-policy=IfNotPresent --overrides="$(pin node-b)" -- \
    sh -c 'while sleep 0.2; do echo tick; done' >/dev/null
$K wait --for=condition=Ready pod/att --timeout=60s >/dev/null || fail "att on node-b not Ready"
# megabytes through the relay's queues: a download through port-forward
websum=$($K exec web -- sh -c 'head -c 4000000 /dev/urandom >/w/big && md5sum </w/big') ||
    fail "cannot write /w/big in web: $websum"
websum=${websum%% *}
head -c 3000000 /dev/urandom >"$K3CORE_TMP/up.bin"
upsum=$(md5sum <"$K3CORE_TMP/up.bin" | cut -d' ' -f1)
lport=18080
for kc in $K127 $K133; do
    k="ina $kc"
    out=$($k logs web 2>&1) || fail "$kc logs of web on node-b: $out"
    expect_contains "$out" "web-on-node-b" "$kc logs web"
    out=$(ina timeout 20 "$kc" logs -f --tail=1 att 2>&1 | head -n 3 || true)
    [ "$(printf '%s\n' "$out" | grep -c tick)" = 3 ] || fail "$kc logs -f of att on node-b: $out"
    out=$(ina timeout 20 "$kc" attach att 2>/dev/null | head -n 2 || true)
    expect_contains "$out" "tick" "$kc attach to att on node-b"
    rc=0
    out=$($k exec web -- sh -c 'echo out-$(hostname); echo err >&2; exit 3' 2>&1) || rc=$?
    [ $rc = 3 ] || fail "$kc exec on node-b exited $rc, want 3: $out"
    expect_contains "$out" "out-web" "$kc exec on node-b"
    expect_contains "$out" "err" "$kc exec stderr on node-b"
    out=$(seq 1 20000 | $k exec -i web -- sh -c 'tr 0-9 a-j | tail -n 1' 2>&1) ||
        fail "$kc exec -i on node-b: $out"
    expect_contains "$out" "caaaa" "$kc exec -i stdin on node-b"
    # megabytes of stdin: the relay's queue toward node-b grows (and moves) while TLS writes wait
    out=$($k exec -i web -- md5sum <"$K3CORE_TMP/up.bin" 2>&1) || fail "$kc exec -i of 3 MB on node-b: $out"
    expect_contains "$out" "$upsum" "$kc exec -i of 3 MB on node-b"
    lport=$((lport + 1))
    $k port-forward pod/web "$lport:8080" >"$K3CORE_TMP/pf.log" 2>&1 &
    PF_PID=$!
    i=0
    until grep -q "Forwarding from 127.0.0.1:$lport" "$K3CORE_TMP/pf.log"; do
        kill -0 $PF_PID 2>/dev/null || fail "$kc port-forward to node-b exited: $(cat "$K3CORE_TMP/pf.log")"
        i=$((i + 1))
        [ $i -lt 150 ] || fail "$kc port-forward to node-b not ready"
        sleep 0.2
    done
    out=$(ina curl -sS --max-time 10 "http://127.0.0.1:$lport/cgi-bin/ip" 2>&1) || out="curl failed: $out"
    sum=$(ina curl -sS --max-time 30 "http://127.0.0.1:$lport/big" | md5sum | cut -d' ' -f1)
    [ "$sum" = "$websum" ] || fail "$kc port-forward download of 4 MB from node-b: md5 $sum, want $websum"
    kill $PF_PID 2>/dev/null || true
    wait $PF_PID 2>/dev/null || true
    expect_contains "$out" "two-node-ok" "$kc port-forward GET to web on node-b"
done
$K delete pod cli att cl2 --grace-period=1 >/dev/null

# the agent's shutdown removes its bridge, rules and routes; then the server's
kill "$AGENT_PID"
wait "$AGENT_PID" || fail "k3core agent did not exit cleanly on SIGTERM"
AGENT_PID=""
if inb ip link show k3c0 >/dev/null 2>&1; then fail "the stopped agent left k3c0"; fi
if inb iptables -w -t nat -S | grep -q K3D-; then fail "the stopped agent left its service chains"; fi
# with node-b down its pods' streams fail clearly, as upstream's "error dialing backend"
out=$($K logs web 2>&1) && fail "logs of a pod on a stopped node-b pretended to work: $out"
expect_contains "$out" "error dialing backend: dial tcp $IPB:10250: connect: Connection refused" \
    "kubectl logs of a pod on stopped node-b"
out=$($K exec web -- true 2>&1) && fail "exec in a pod on a stopped node-b pretended to work: $out"
expect_contains "$out" "error dialing backend" "kubectl exec in a pod on stopped node-b"
$K delete pod web --grace-period=0 --force >/dev/null 2>&1 || fail "cannot force-delete web"

# a restarted agent rejoins with its stored node password and keeps its podCIDR (this time
# through K3S_URL and K3S_TOKEN, with the short token form: the bare password)
K3S_URL="https://$IPA:6443" K3S_TOKEN="$pw" nsenter --net="/run/netns/$NSB" "$K3CORE_BIN" agent \
    --node-name node-b --node-ip "$IPB" --data-dir "$DB" >>"$K3CORE_TMP/agent.log" 2>&1 &
AGENT_PID=$!
i=0
until inb ip route | grep -q "^$ca via $IPA"; do
    kill -0 "$AGENT_PID" 2>/dev/null || fail "the restarted agent exited"
    i=$((i + 1))
    [ $i -lt 150 ] || fail "the restarted agent did not set up its routes"
    sleep 0.2
done
[ "$($K get node node-b -o jsonpath='{.spec.podCIDR}')" = "$cb" ] || fail "node-b's podCIDR changed"
kill "$AGENT_PID"
wait "$AGENT_PID" || fail "the restarted k3core agent did not exit cleanly on SIGTERM"
AGENT_PID=""
# a Node that goes away takes its route with it
$K delete node node-b >/dev/null
i=0
while ina ip route | grep -q "^$cb via"; do
    i=$((i + 1))
    [ $i -lt 100 ] || fail "node-a kept the route to deleted node-b's $cb"
    sleep 0.2
done
kill "$SERVER_PID"
wait "$SERVER_PID" || fail "k3core server did not exit cleanly on SIGTERM"
SERVER_PID=""
for ns in "$NSA" "$NSB"; do
    if nsenter --net="/run/netns/$ns" ip link show k3c0 >/dev/null 2>&1; then fail "k3c0 left in $ns"; fi
    if nsenter --net="/run/netns/$ns" ip route | grep -q '^10\.42\.'; then
        fail "pod routes left in $ns: $(nsenter --net="/run/netns/$ns" ip route)"
    fi
    if nsenter --net="/run/netns/$ns" iptables -w -S | grep -q k3d-dind-net; then fail "rules left in $ns"; fi
    for t in filter nat; do
        if nsenter --net="/run/netns/$ns" iptables -w -t $t -S | grep -q -e k3d-dind-net -e K3D-; then
            fail "$t rules or chains left in $ns: $(nsenter --net="/run/netns/$ns" iptables -w -t $t -S)"
        fi
    done
done
if grep -q " $K3CORE_TMP/" /proc/self/mountinfo; then fail "mounts left under $K3CORE_TMP"; fi
left=$(pgrep -af "$K3CORE_TMP" || true)
[ -z "$left" ] || fail "processes left behind: $left"
echo "ok twonode"
