#!/bin/sh
# Pod networking on one node: every pod gets its own address from the node's pod CIDR
# (10.42.0.0/24) on bridge k3c0, status.podIP/podIPs report it, a pod reaches another pod's
# HTTP server over that address; the node reaches a pod that reuses a freed address at once (MAC
# from IP); hostPorts; Services through the node's service proxy (ClusterIP, NodePort, hairpin,
# REJECT without endpoints); stopping the server removes the bridge and our iptables rules (tagged
# k3d-dind-net:) and chains (K3D-).
. "$(dirname "$0")/lib.sh"
K=$K133
mkdir -p "$K3CORE_DATA/agent/images"
sh "$ROOT/tests/fixtures/mkimage-busybox.sh" "$K3CORE_DATA/agent/images/busybox.tar" >/dev/null
k3core_start


$K run web --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'mkdir -p /w && echo pod-net-ok > /w/index.html && exec httpd -f -p 8080 -h /w' >/dev/null
$K wait --for=condition=Ready pod/web --timeout=60s >/dev/null || fail "web did not become Ready"
wip=$(jp web '{.status.podIP}')
case "$wip" in 10.42.0.*) ;; *) fail "web podIP '$wip' is not in 10.42.0.0/24" ;; esac
is web '{.status.podIPs[0].ip}' "$wip" || fail "podIPs does not match podIP"

$K run cli --image=busybox:latest --image-pull-policy=IfNotPresent --restart=Never -- \
    sh -c "ip -4 addr show eth0; for i in \$(seq 50); do wget -q -O - http://$wip:8080/ && exit 0; sleep 0.2; done; exit 1" >/dev/null
wait_for "cli to finish" sh -c "$K get pod cli -o jsonpath='{.status.phase}' | grep -qE 'Succeeded|Failed'"
log=$(cat "$K3CORE_DATA"/agent/pods/default_cli_*/cli/0.log)
is cli '{.status.phase}' Succeeded || fail "cli could not reach web at $wip: $log"
expect_contains "$log" "pod-net-ok" "cli's wget of http://$wip:8080/"
# the client's own eth0 address (from its log: the pod may be torn down once it has finished)
cip=$(printf '%s\n' "$log" | sed -n 's/.*inet \(10\.42\.0\.[0-9]*\)\/24.*/\1/p' | head -n 1)
[ -n "$cip" ] || fail "cli has no 10.42.0.x/24 address on eth0: $log"
[ "$cip" != "$wip" ] || fail "two pods share $wip"

ip link show k3c0 >/dev/null 2>&1 || fail "no bridge k3c0 while pods run"
iptables -w -S FORWARD | grep -q 'k3d-dind-net:k3c0' || fail "no FORWARD rule for k3c0"

# hostPort: the node's port 18080 (here on the bridge address, a local one) reaches the pod's
# 8080; a second pod asking for the same host port is not scheduled; deletion drops the rules
$K apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Pod
metadata: {name: hp}
spec:
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sh, -c, 'mkdir -p /w && echo host-port-ok > /w/index.html && exec httpd -f -p 8080 -h /w']
    ports: [{containerPort: 8080, hostPort: 18080}]
---
apiVersion: v1
kind: Pod
metadata: {name: hp2}
spec:
  containers:
  - name: c
    image: busybox:latest
    imagePullPolicy: IfNotPresent
    command: [sleep, '3600']
    ports: [{containerPort: 9090, hostPort: 18080}]
YAML
$K wait --for=condition=Ready pod/hp --timeout=60s >/dev/null || fail "hp did not become Ready"
out=""
for i in $(seq 50); do
    out=$(curl -s --max-time 3 http://10.42.0.1:18080/) && break
    sleep 0.2
done
[ "$out" = host-port-ok ] || fail "hostPort 18080 did not reach the pod ($(jp hp '{.status.podIP}')): '$out';
direct: $(curl -s --max-time 3 "http://$(jp hp '{.status.podIP}'):8080/");
$(iptables -w -t nat -S)"
iptables -w -t nat -S PREROUTING | grep -q 'k3d-dind-net:k3c0/hp/' || fail "no hostPort DNAT rule"
# from the node's own loopback (route_localnet + masquerade, as the portmap plugin), and from the
# pod itself through the node's address (hairpin)
out=$(curl -s --max-time 3 http://127.0.0.1:18080/ 2>&1) || true
[ "$out" = host-port-ok ] || fail "hostPort 18080 via 127.0.0.1: '$out'"
out=$($K exec hp -- wget -q -O - http://10.42.0.1:18080/ 2>&1) || true
[ "$out" = host-port-ok ] || fail "hostPort 18080 from its own pod (hairpin): '$out'"
# route_localnet on the bridge comes with kube-proxy's guard: pods cannot reach the node's 127.0.0.1
iptables -w -S INPUT | grep -- '-i k3c0' | grep -- '-d 127.0.0.0/8' | grep -q DROP || fail "no 127.0.0.0/8 guard for k3c0"
wait_for "hp2 FailedScheduling" sh -c "$K get events --field-selector involvedObject.name=hp2,reason=FailedScheduling -o jsonpath='{.items[*].message}' | grep -q \"didn't have free ports for the requested pod ports\""
is hp2 '{.status.phase}' Pending || fail "hp2 not Pending"
$K delete pod hp --grace-period=1 >/dev/null
if iptables -w -t nat -S | grep -q 'k3d-dind-net:k3c0/hp/'; then fail "hostPort rules left after the pod"; fi
i=0
until is hp2 '{.status.phase}' Running; do
    i=$((i + 1))
    [ $i -lt 300 ] || fail "hp2 not Running once the port is free: $($K describe pod hp2)"
    sleep 0.2
done

# Services (the node's service proxy, kube-proxy's iptables mode). The service CIDR gets a route
# to an absent neighbour, as a node's default route would: a ClusterIP that is not DNATed fails
# late with "no route to host", so only the REJECT of a service without endpoints is "refused"
# at once. The route goes with the bridge.
ip route add 10.43.0.0/16 via 10.42.0.254 dev k3c0
$K apply -f - >/dev/null <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo}
spec:
  replicas: 2
  selector: {matchLabels: {app: echo}}
  template:
    metadata: {labels: {app: echo}}
    spec:
      containers:
      - name: c
        image: busybox:latest
        imagePullPolicy: IfNotPresent
        command: [sh, -c, 'mkdir -p /w && hostname > /w/index.html && exec httpd -f -p 8080 -h /w']
        ports: [{name: web, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-np}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: echo}
  ports: [{port: 8081, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: echo-sticky}
spec:
  selector: {app: echo}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: empty}
spec:
  type: NodePort
  selector: {app: nothing}
  ports: [{port: 80, nodePort: 30081}]
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  selector: {app: echo}
  ports: [{port: 80, targetPort: 8080}]
YAML
$K rollout status deployment/echo --timeout=90s >/dev/null || fail "deployment echo not ready"
cip=$($K get svc echo -o jsonpath='{.spec.clusterIP}')
eip=$($K get svc empty -o jsonpath='{.spec.clusterIP}')
pods=$($K get pods -l app=echo -o jsonpath='{.items[*].metadata.name}')
# from another pod: ClusterIP:80 reaches both backends (named targetPort "web" → 8080), chosen at
# random per connection
wait_for "rules for echo" sh -c "iptables -w -t nat -S | grep -q 'default/echo:http'"
out=$($K exec web -- sh -c "for i in \$(seq 20); do timeout 5 wget -q -O - http://$cip/ || echo FAILED; done" 2>&1) || true
expect_not_contains "$out" FAILED "wget of the ClusterIP $cip from pod web"
for p in $pods; do expect_contains "$out" "$p" "answers through ClusterIP $cip"; done
# sessionAffinity ClientIP: every connection of one client goes to the same backend
sip=$($K get svc echo-sticky -o jsonpath='{.spec.clusterIP}')
wait_for "rules for echo-sticky" sh -c "iptables -w -t nat -S | grep -q 'default/echo-sticky:.*-j K3D-'"
out=$($K exec web -- sh -c "for i in \$(seq 10); do timeout 5 wget -q -O - http://$sip/ || echo FAILED; done" 2>&1) || true
expect_not_contains "$out" FAILED "wget of the ClientIP-affine $sip"
[ "$(printf '%s\n' "$out" | sort -u | wc -l)" = 1 ] || fail "ClientIP affinity of $sip: answers from several backends: $out"
# from the node: the NodePort on the bridge address and on 127.0.0.1 (externalTrafficPolicy
# Local: the node's own connections are served as cluster traffic); the ClusterIP itself
for a in 10.42.0.1 127.0.0.1; do
    out=$(curl -s --max-time 3 "http://$a:30080/") || true
    case " $pods " in *" $out "*) ;; *) fail "NodePort 30080 via $a: '$out'" ;; esac
done
out=$(curl -s --max-time 3 "http://$cip/") || true
case " $pods " in *" $out "*) ;; *) fail "ClusterIP $cip from the node: '$out'" ;; esac
# hairpin: a backend reaching its own Service gets answers from itself too
first=${pods%% *}
out=$($K exec "$first" -- sh -c "for i in \$(seq 12); do timeout 5 wget -q -O - http://$cip/ || echo FAILED; done" 2>&1) || true
expect_not_contains "$out" FAILED "wget of $cip from its own backend $first"
expect_contains "$out" "$first" "hairpin answers of $cip to $first"
# no endpoints: refused at once, from a pod (ClusterIP) and from the node (NodePort)
t0=$(date +%s)
out=$($K exec web -- timeout 10 wget -q -O - "http://$eip/" 2>&1) && fail "service without endpoints answered: $out"
expect_contains "$out" "refused" "wget of endpoint-less $eip"
[ $(($(date +%s) - t0)) -lt 5 ] || fail "endpoint-less $eip was not refused quickly"
iptables -w -S | grep -q 'default/empty:.*REJECT' || fail "no REJECT rule for default/empty"
# headless services and the cluster DNS address get no rules
hip=$($K get svc headless -o jsonpath='{.spec.clusterIP}')
[ "$hip" = None ] || fail "headless clusterIP: $hip"
if iptables -w -t nat -S | grep -q 'default/headless'; then fail "rules for a headless service"; fi
if iptables -w -t nat -S | grep -q -- '-d 10.43.0.10/32'; then fail "rules for the cluster DNS IP"; fi
# the kubernetes Service routes to the API server's advertise address and port
iptables -w -t nat -S | grep -q -- "DNAT --to-destination .*:$K3CORE_PORT" || fail "no DNAT for default/kubernetes"
# deleting the Deployment turns echo into a REJECT; deleting the Services removes their rules
$K delete deployment echo --wait=true >/dev/null
wait_for "echo to lose its endpoints" sh -c "iptables -w -S | grep -q 'default/echo:http:no-endpoints'"
$K delete svc echo echo-np echo-sticky empty headless >/dev/null
wait_for "service rules to go" sh -c "! iptables -w -S | grep -q 'default/e' && ! iptables -w -t nat -S | grep -q 'default/e'"
iptables -w -t nat -S | grep -q 'default/kubernetes' || fail "kubernetes service rules gone too"

# a pod's MAC derives from its IP (0a:58:<ip>), so the node reaches a new pod that got a freed
# address at once: its neighbour entry for the IP stays right (it named the old pod's MAC)
web_mac() { $K exec "$1" -- cat /sys/class/net/eth0/address; }
[ "$(web_mac web)" = "$(printf '0a:58:%02x:%02x:%02x:%02x' $(echo "$wip" | tr . ' '))" ] ||
    fail "web's MAC $(web_mac web) does not derive from $wip"
curl -sf "http://$wip:8080/" >/dev/null || fail "the node cannot reach web at $wip"
$K delete pod web --grace-period=0 --force >/dev/null 2>&1
wait_for "web gone" sh -c "! $K get pod web"
$K run web2 --image=busybox:latest --image-pull-policy=IfNotPresent -- \
    sh -c 'mkdir -p /w && echo pod-net-again > /w/index.html && exec httpd -f -p 8080 -h /w' >/dev/null
wait_for "web2 running" is web2 '{.status.phase}' Running
w2ip=$(jp web2 '{.status.podIP}')
i=0
until [ "$(curl -s --max-time 1 "http://$w2ip:8080/")" = pod-net-again ]; do
    i=$((i + 1))
    [ $i -lt 15 ] || fail "the node cannot reach web2 at $w2ip (web had $wip) within 3 s"
    sleep 0.2
done

$K delete pod web2 cli hp2 --grace-period=1 >/dev/null
k3core_stop
if ip link show k3c0 >/dev/null 2>&1; then fail "bridge k3c0 left behind"; fi
if iptables -w -S | grep -q k3d-dind-net; then fail "filter rules left behind"; fi
if iptables -w -t nat -S | grep -q k3d-dind-net; then fail "nat rules left behind"; fi
if iptables -w -S | grep -q K3D-; then fail "filter chains left behind"; fi
if iptables -w -t nat -S | grep -q K3D-; then fail "nat chains left behind"; fi
echo "ok podnet"
