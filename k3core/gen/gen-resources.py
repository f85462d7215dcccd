#!/usr/bin/env python3
"""Generates k3core/api/resources-gen.c from the Kubernetes 1.33 OpenAPI v3 documents.

Input: the per-group-version documents under shared/reference/kubernetes-openapi/v3/ (upstream
kubernetes/kubernetes api/openapi-spec/v3 of release-1.33; provenance in that folder's README).
Output: a C file with
  - one kres_resource per (group, version, resource): kind, scope, verbs and subresources derived
    from the paths and their x-kubernetes-action / x-kubernetes-group-version-kind;
  - shortNames and categories from the small hand-kept table below (upstream keeps them in Go
    code, not in the OpenAPI documents);
  - a compact JSON of the component schemas (only what pruning, defaulting and strategic merge
    need), embedded as bytes, so the binary never reads the documents at run time.

Usage: k3core/gen/gen-resources.py <openapi-v3-dir> k3core/api
writes k3core/api/resources-gen.c and k3core/api/schemas.json (the schema blob, embedded into
the binary by k3core/api/schema-blob.c with .incbin). Python 3 standard library only.
"""
import json
import os
import re
import sys

SHORT_NAMES = {
    ("", "pods"): ["po"], ("", "services"): ["svc"], ("", "namespaces"): ["ns"],
    ("", "configmaps"): ["cm"], ("", "nodes"): ["no"], ("", "serviceaccounts"): ["sa"],
    ("", "persistentvolumeclaims"): ["pvc"], ("", "persistentvolumes"): ["pv"],
    ("", "endpoints"): ["ep"], ("", "events"): ["ev"], ("", "replicationcontrollers"): ["rc"],
    ("", "limitranges"): ["limits"], ("", "resourcequotas"): ["quota"],
    ("", "componentstatuses"): ["cs"],
    ("apps", "deployments"): ["deploy"], ("apps", "replicasets"): ["rs"],
    ("apps", "daemonsets"): ["ds"], ("apps", "statefulsets"): ["sts"],
    ("batch", "cronjobs"): ["cj"], ("networking.k8s.io", "ingresses"): ["ing"],
    ("networking.k8s.io", "networkpolicies"): ["netpol"],
    ("apiextensions.k8s.io", "customresourcedefinitions"): ["crd", "crds"],
    ("policy", "poddisruptionbudgets"): ["pdb"], ("storage.k8s.io", "storageclasses"): ["sc"],
    ("autoscaling", "horizontalpodautoscalers"): ["hpa"],
    ("certificates.k8s.io", "certificatesigningrequests"): ["csr"],
    ("scheduling.k8s.io", "priorityclasses"): ["pc"], ("events.k8s.io", "events"): ["ev"],
}
ALL = ["all"]
API_EXT = ["api-extensions"]
CATEGORIES = {
    ("", "pods"): ALL, ("", "services"): ALL, ("", "replicationcontrollers"): ALL,
    ("apps", "deployments"): ALL, ("apps", "replicasets"): ALL, ("apps", "daemonsets"): ALL,
    ("apps", "statefulsets"): ALL, ("batch", "jobs"): ALL, ("batch", "cronjobs"): ALL,
    ("autoscaling", "horizontalpodautoscalers"): ALL,
    ("apiextensions.k8s.io", "customresourcedefinitions"): API_EXT,
    ("apiregistration.k8s.io", "apiservices"): API_EXT,
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): API_EXT,
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): API_EXT,
    ("admissionregistration.k8s.io", "validatingadmissionpolicies"): API_EXT,
    ("admissionregistration.k8s.io", "validatingadmissionpolicybindings"): API_EXT,
    ("admissionregistration.k8s.io", "mutatingadmissionpolicies"): API_EXT,
    ("admissionregistration.k8s.io", "mutatingadmissionpolicybindings"): API_EXT,
}
# Upstream's group order in /apis (kube-apiserver's priority list).
GROUP_ORDER = ["", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
               "authorization.k8s.io", "autoscaling", "batch", "certificates.k8s.io",
               "networking.k8s.io", "policy", "rbac.authorization.k8s.io", "storage.k8s.io",
               "admissionregistration.k8s.io", "apiextensions.k8s.io", "scheduling.k8s.io",
               "coordination.k8s.io", "node.k8s.io", "discovery.k8s.io",
               "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "resource.k8s.io",
               "storagemigration.k8s.io"]
VERB_BITS = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
ACTION_VERB = {"get": "get", "list": "list", "watch": "watch", "watchlist": "watch",
               "post": "create", "put": "update", "patch": "patch", "delete": "delete",
               "deletecollection": "deletecollection", "connect": None}
METHOD_CONNECT = {"get": "get", "post": "create", "put": "update", "patch": "patch",
                  "delete": "delete"}


def version_key(v):
    """kube's version priority: GA > beta > alpha, then the higher number first."""
    m = re.match(r"v(\d+)(?:(alpha|beta)(\d+))?$", v)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    return ({None: 2, "beta": 1, "alpha": 0}[stage], major, minor)


def parse_path(path, group, version):
    """→ (resource, namespaced, is_item, subresource) or None for paths we do not model."""
    prefix = "/api/v1/" if group == "" else "/apis/%s/%s/" % (group, version)
    if not path.startswith(prefix):
        return None
    parts = path[len(prefix):].strip("/").split("/")
    if parts and parts[0] == "watch":
        parts = parts[1:]
    namespaced = False
    if len(parts) >= 3 and parts[0] == "namespaces" and parts[1] == "{namespace}":
        namespaced = True
        parts = parts[2:]
    if not parts or parts[0] in ("", "{name}") or "{path}" in parts:
        return None
    res = parts[0]
    if len(parts) == 1:
        return res, namespaced, False, None
    if parts[1] != "{name}":
        return None
    return res, namespaced, True, parts[2] if len(parts) >= 3 else None


class Res:
    def __init__(self, group, version, resource):
        self.group, self.version, self.resource = group, version, resource
        self.kind = None
        self.namespaced = False
        self.verbs = set()
        self.subs = {}  # name → [group, version, kind, verbs]


def collect(doc, group, version, table):
    for path, item in sorted(doc["paths"].items()):
        p = parse_path(path, group, version)
        if not p:
            continue
        res, namespaced, is_item, sub = p
        for method, op in item.items():
            if method not in METHOD_CONNECT or not isinstance(op, dict):
                continue
            gvk = op.get("x-kubernetes-group-version-kind")
            action = op.get("x-kubernetes-action")
            if not gvk or not action:
                continue
            r = table.setdefault((group, version, res), Res(group, version, res))
            verb = ACTION_VERB.get(action)
            if action == "connect":
                verb = METHOD_CONNECT[method]
            if sub:
                s = r.subs.setdefault(sub, [gvk["group"], gvk["version"], gvk["kind"], set()])
                s[3].add(verb)
                continue
            r.namespaced = r.namespaced or namespaced
            if action in ("get", "put", "patch", "delete", "post", "list", "deletecollection"):
                if r.kind is None or action in ("get", "list"):
                    r.kind = gvk["kind"]
            r.verbs.add(verb)


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def compact_schema(node):
    """Keeps the parts of an OpenAPI schema node pruning/patching need, with short keys."""
    if not isinstance(node, dict):
        return {}
    out = {}
    ref = node.get("$ref")
    if not ref and isinstance(node.get("allOf"), list) and len(node["allOf"]) == 1:
        ref = node["allOf"][0].get("$ref")
    if ref:
        out["r"] = ref.split("/")[-1]
    if "type" in node:
        out["t"] = node["type"]
    if "format" in node and node["format"] == "int-or-string":
        out["t"] = "int-or-string"
    if node.get("x-kubernetes-int-or-string"):
        out["t"] = "int-or-string"
    if isinstance(node.get("properties"), dict):
        out["p"] = {k: compact_schema(v) for k, v in sorted(node["properties"].items())}
    if isinstance(node.get("items"), dict):
        out["i"] = compact_schema(node["items"])
    ap = node.get("additionalProperties")
    if isinstance(ap, dict):
        out["a"] = compact_schema(ap)
    elif ap is True:
        out["a"] = {}
    if node.get("required"):
        out["q"] = node["required"]
    for src, dst in (("x-kubernetes-patch-strategy", "ms"), ("x-kubernetes-patch-merge-key", "mk"),
                     ("x-kubernetes-list-type", "lt"), ("x-kubernetes-list-map-keys", "lk"),
                     ("x-kubernetes-map-type", "mt")):
        if src in node:
            out[dst] = node[src]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        out["u"] = True
    if node.get("x-kubernetes-embedded-resource"):
        out["e"] = True
    return out


def main():
    root, outdir = sys.argv[1], sys.argv[2]
    table, schemas = {}, {}
    for dirpath, _, files in os.walk(root):
        for f in sorted(files):
            if not f.endswith(".json"):
                continue
            full = os.path.join(dirpath, f)
            rel = os.path.relpath(full, root)
            version = f[:-5]
            group = "" if rel.startswith("api" + os.sep) else os.path.basename(dirpath)
            doc = json.load(open(full))
            collect(doc, group, version, table)
            for name, s in doc.get("components", {}).get("schemas", {}).items():
                schemas.setdefault(name, compact_schema(s))
    with open(os.path.join(outdir, "resources-gen.c"), "w") as f:
        emit(table, schemas, f.write)
    with open(os.path.join(outdir, "schemas.json"), "w") as f:
        f.write(json.dumps(schemas, separators=(",", ":"), sort_keys=True))


def schema_name_for(r, schemas):
    g = r.group or "core"
    cands = [n for n in schemas if n.endswith("." + r.version + "." + r.kind)]
    for n in cands:
        parts = n.split(".")
        if g.split(".")[0] in parts or (g == "core" and ".api.core." in n):
            return n
    return cands[0] if cands else ""


def emit(table, schemas, out):
    out("/* resources-gen.c: GENERATED by k3core/gen/gen-resources.py from the Kubernetes 1.33\n"
        " * OpenAPI v3 documents (upstream kubernetes/kubernetes api/openapi-spec/v3, branch\n"
        " * release-1.33, as vendored by kubernetes-sigs/kubectl-validate at a97ccfaca20b; see\n"
        " * shared/reference/README.md). Do not edit; run `k3core/gen/gen-resources.py DIR\n"
        " * k3core/api` and `make format`. Holds the built-in resource table; the compact schemas\n"
        " * are in schemas.json next to it (keys: r=$ref t=type p=properties i=items\n"
        " * a=additionalProperties q=required ms/mk=patch strategy/merge key lt/lk=list type/map\n"
        " * keys mt=map type u=preserve-unknown-fields e=embedded-resource). */\n")
    out('#include "k3core/api/resources-internal.h"\n\n')
    rows = []
    groups = {}
    for key in sorted(table, key=lambda k: (GROUP_ORDER.index(k[0]) if k[0] in GROUP_ORDER
                                            else 99, k[0], tuple(-x for x in version_key(k[1])),
                                            k[2])):
        r = table[key]
        if r.kind is None:
            continue
        groups.setdefault(r.group, [])
        if r.version not in groups[r.group]:
            groups[r.group].append(r.version)
        rows.append(r)
    for i, r in enumerate(rows):
        sn = SHORT_NAMES.get((r.group, r.resource))
        cat = CATEGORIES.get((r.group, r.resource))
        if sn:
            out("static const char *const sn_%d[] = {%s, NULL};\n" % (i, ", ".join(map(c_str, sn))))
        if cat:
            out("static const char *const cat_%d[] = {%s, NULL};\n" % (i, ", ".join(map(c_str, cat))))
        if r.subs:
            out("static const kres_subresource sub_%d[] = {\n" % i)
            for name, (g, v, k, verbs) in sorted(r.subs.items()):
                out("    {%s, %s, %s, %s, %s},\n" % (c_str(name), c_str(g), c_str(v), c_str(k),
                                                     verb_mask(verbs)))
            out("};\n")
    out("\nconst kres_resource kres_builtin[] = {\n")
    for i, r in enumerate(rows):
        flags = ["KRES_NAMESPACED"] if r.namespaced else []
        if storage_version(r, rows) == r.version:
            flags.append("KRES_STORAGE_VERSION")
        if "get" not in r.verbs and "list" not in r.verbs:
            flags.append("KRES_VIRTUAL")
        if version_key(r.version)[0] != 2:
            flags.append("KRES_PRERELEASE")
        sn = "sn_%d" % i if SHORT_NAMES.get((r.group, r.resource)) else "NULL"
        cat = "cat_%d" % i if CATEGORIES.get((r.group, r.resource)) else "NULL"
        subs = ("sub_%d, DD_ARRAY_SIZE(sub_%d)" % (i, i)) if r.subs else "NULL, 0"
        out("    {%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s},\n" % (
            c_str(r.group), c_str(r.version), c_str(r.kind), c_str(r.kind + "List"),
            c_str(r.resource), c_str(r.kind.lower()), " | ".join(flags) or "0",
            verb_mask(r.verbs), sn, cat, subs, c_str(schema_name_for(r, schemas))))
    out("};\nconst size_t kres_builtin_count = DD_ARRAY_SIZE(kres_builtin);\n\n")
    out("const char *const kres_builtin_groups[] = {\n")
    for g in groups:
        out("    %s,\n" % c_str(g))
    out("    NULL,\n};\n\n")
    out("/* schemas.json: %d schemas */\n" % len(schemas))


def storage_version(r, rows):
    """The stored version is the most preferred version that serves this resource."""
    vs = [x.version for x in rows if x.group == r.group and x.resource == r.resource]
    return sorted(vs, key=version_key, reverse=True)[0]


def verb_mask(verbs):
    bits = ["KRES_" + v.upper() for v in VERB_BITS if v in verbs]
    return " | ".join(bits) or "0"


if __name__ == "__main__":
    main()
