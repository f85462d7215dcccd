"""python-kubernetes EventsV1Api against k3core: a watch on events.k8s.io/v1 sees a core/v1
Event created afterwards (converted field names); deleting through one API removes the Event
from the other. Usage: events-v1.py NAMESPACE (an empty one: python-kubernetes 22.6 cannot
deserialise events.k8s.io Events without eventTime, so every Event here carries one). Exits non-zero on the first failed check."""
import sys
import threading

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

ns = sys.argv[1]
config.load_kube_config()
core = client.CoreV1Api()
ev = client.EventsV1Api()


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


rv = ev.list_namespaced_event(ns).metadata.resource_version
seen = []


def watcher():
    w = watch.Watch()
    for e in w.stream(ev.list_namespaced_event, ns, resource_version=rv, timeout_seconds=60):
        if e["object"].metadata.name == "w1":
            seen.append(e)
            w.stop()


t = threading.Thread(target=watcher)
t.start()
core.create_namespaced_event(ns, {
    "metadata": {"name": "w1"}, "involvedObject": {"kind": "Pod", "name": "p2", "namespace": ns},
    "reason": "Pulled", "message": "image pulled", "type": "Normal",
    "source": {"component": "kubelet"}, "eventTime": "2026-01-01T00:00:00.000000Z",
    "action": "Pull", "reportingComponent": "kubelet", "reportingInstance": "node1"})
t.join(90)
check(seen, "events.k8s.io watch sees the core Event")
obj = seen[0]["object"]
check(seen[0]["type"] == "ADDED", "event type ADDED, got %s" % seen[0]["type"])
check(obj.note == "image pulled" and obj.regarding.name == "p2", "watch object converted: %s" % obj)
check(obj.deprecated_source.component == "kubelet", "deprecatedSource: %s" % obj)

# delete through events.k8s.io removes the core Event, and the other way round
ev.delete_namespaced_event("w1", ns)
try:
    core.read_namespaced_event("w1", ns)
    check(False, "core Event still there after events.k8s.io delete")
except ApiException as e:
    check(e.status == 404, "core read after delete: 404, got %d" % e.status)
ev.create_namespaced_event(ns, client.EventsV1Event(
    metadata=client.V1ObjectMeta(name="e2"), event_time="2026-01-01T00:00:00.000000Z",
    reporting_controller="example.com/op", reporting_instance="op-0", action="Sync",
    reason="Synced", type="Warning", note="from EventsV1Api",
    regarding=client.V1ObjectReference(kind="Pod", name="p3", namespace=ns)))
got = core.read_namespaced_event("e2", ns)
check(got.message == "from EventsV1Api" and got.involved_object.name == "p3" and
      got.reporting_component == "example.com/op", "core read of an EventsV1Api Event: %s" % got)
core.delete_namespaced_event("e2", ns)
try:
    ev.read_namespaced_event("e2", ns)
    check(False, "events.k8s.io Event still there after core delete")
except ApiException as e:
    check(e.status == 404, "events.k8s.io read after delete: 404, got %d" % e.status)
print("events-v1: ok")
