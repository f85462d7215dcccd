"""python-kubernetes (Debian 22.6.0) against k3core: CRUD, list by label, watch from a
resourceVersion, delete_collection and utils.create_from_yaml. Usage: pyclient.py FIXTURE_DIR.
Exits non-zero with a message on the first failed expectation."""
import sys

from kubernetes import client, config, utils, watch
from kubernetes.client.rest import ApiException

fix = sys.argv[1]
config.load_kube_config()
core = client.CoreV1Api()
apps = client.AppsV1Api()
ns = "pytest"


def check(cond, what):
    if not cond:
        sys.exit("FAIL: " + what)


core.create_namespace({"metadata": {"name": ns}})
# CRUD
cm = core.create_namespaced_config_map(ns, {"metadata": {"name": "c1", "labels": {"app": "py"}},
                                            "data": {"a": "1"}})
check(cm.metadata.resource_version, "create returns a resourceVersion")
got = core.read_namespaced_config_map("c1", ns)
check(got.data == {"a": "1"}, "read returns the data")
core.patch_namespaced_config_map("c1", ns, {"data": {"b": "2"}})
got = core.read_namespaced_config_map("c1", ns)
check(got.data == {"a": "1", "b": "2"}, "strategic merge patch adds a key")
got.data = {"a": "3"}
core.replace_namespaced_config_map("c1", ns, got)
check(core.read_namespaced_config_map("c1", ns).data == {"a": "3"}, "replace wins")
try:
    core.replace_namespaced_config_map("c1", ns, got)  # stale resourceVersion
    check(False, "stale replace must fail")
except ApiException as e:
    check(e.status == 409, "stale replace is 409, got %d" % e.status)
core.create_namespaced_config_map(ns, {"metadata": {"name": "c2", "labels": {"app": "other"}}})
names = [i.metadata.name for i in core.list_namespaced_config_map(ns, label_selector="app=py").items]
check(names == ["c1"], "list by label: %s" % names)

# watch from a resourceVersion: only changes after it
rv = core.list_namespaced_config_map(ns).metadata.resource_version
core.create_namespaced_config_map(ns, {"metadata": {"name": "c3", "labels": {"app": "py"}}})
core.delete_namespaced_config_map("c2", ns)
events = []
w = watch.Watch()
for ev in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=2):
    events.append((ev["type"], ev["object"].metadata.name))
    if len(events) == 2:
        w.stop()
check(events == [("ADDED", "c3"), ("DELETED", "c2")], "watch events: %s" % events)

# delete_collection by label
core.delete_collection_namespaced_config_map(ns, label_selector="app=py")
left = sorted(i.metadata.name for i in core.list_namespaced_config_map(ns).items)
check("c1" not in left and "c3" not in left, "delete_collection left %s" % left)

# create_from_yaml: a Deployment and a Service from one file
utils.create_from_yaml(client.ApiClient(), fix + "/app.yaml", namespace=ns)
d = apps.read_namespaced_deployment("web", ns)
check(d.spec.replicas == 2, "deployment from yaml")
check(core.read_namespaced_service("web", ns).spec.cluster_ip, "service got a cluster IP")
try:
    core.read_namespaced_config_map("nope", ns)
    check(False, "missing object must 404")
except ApiException as e:
    check(e.status == 404, "404 for a missing object")
core.delete_namespace(ns)
print("python-kubernetes: ok")
