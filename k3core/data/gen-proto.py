#!/usr/bin/python3
"""Generates k3core/data/k8s-proto.c: descriptor tables for every message of the upstream
Kubernetes 1.33 generated.proto files (see README.md), for the generic protobuf decoder in
k3core/server/kpb.c. Usage: gen-proto.py [PROTO_DIR] (default /work/shared/reference/kubernetes-proto).

Each message becomes (full name, special kind, fields sorted by number); each field (number, JSON
name, type, repeated, map value type, referenced message index, flags).

JSON names and inline fields come from the OpenAPI v2 document of the same release (OPENAPI, default
/work/shared/reference/kubernetes-openapi/v2/swagger.json), since the .proto files lose two things
of the Go types:
- a Go field `Webhooks []X `json:"webhooks" protobuf:"...,name=Webhooks"`` keeps the Go name in
  proto: a proto field absent from the message's OpenAPI properties whose name matches one of them
  case-insensitively takes that JSON name;
- an embedded struct with `json:",inline"` (IngressRule.IngressRuleValue, Volume.VolumeSource,
  Probe.ProbeHandler, ConfigMapKeySelector.LocalObjectReference, ...) is an ordinary named field in
  proto, while JSON (and OpenAPI) has the embedded struct's fields at the outer level: a proto
  message field absent from the OpenAPI properties whose message's (effective) fields all are
  present there is marked KPB_F_INLINE, and the decoder merges it into the parent object.
Messages the OpenAPI document lacks (beta versions not served, extensions/v1beta1 ...) take the
decisions made for a message of the same short name and field name elsewhere (e.g.
extensions.v1beta1.IngressRule from networking.v1.IngressRule). A proto field that matches none of
these stops the generator.
"""
import json, os, re, sys, textwrap

root = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/reference/kubernetes-proto"
OPENAPI = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/reference/kubernetes-openapi/v2/swagger.json"
here = os.path.dirname(os.path.abspath(__file__))
SCALARS = {"string": "KPB_STRING", "bytes": "KPB_BYTES", "bool": "KPB_BOOL", "int32": "KPB_INT32",
           "int64": "KPB_INT64", "uint32": "KPB_UINT32", "uint64": "KPB_UINT64",
           "double": "KPB_DOUBLE", "float": "KPB_FLOAT"}
SPECIAL = {"k8s.io.apimachinery.pkg.apis.meta.v1.Time": "KPB_SP_TIME",
           "k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime": "KPB_SP_MICROTIME",
           "k8s.io.apimachinery.pkg.apis.meta.v1.Duration": "KPB_SP_DURATION",
           "k8s.io.apimachinery.pkg.api.resource.Quantity": "KPB_SP_QUANTITY",
           "k8s.io.apimachinery.pkg.util.intstr.IntOrString": "KPB_SP_INTORSTRING",
           "k8s.io.apimachinery.pkg.runtime.RawExtension": "KPB_SP_RAWJSON",
           "k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1": "KPB_SP_RAWJSON",
           "k8s.io.apimachinery.pkg.apis.meta.v1.Verbs": "KPB_SP_ITEMS"}
FIELD = re.compile(r"^\s*(optional|repeated|required)\s+([\w.]+)\s+(\w+)\s*=\s*(\d+)")
MAP = re.compile(r"^\s*map<\s*(\w+)\s*,\s*([\w.]+)\s*>\s+(\w+)\s*=\s*(\d+)")

msgs = {}  # full name -> list of (num, name, type, repeated, maptype)
for dirpath, _, files in os.walk(root):
    for f in files:
        if not f.endswith(".proto"):
            continue
        pkg, cur = None, None
        for line in open(os.path.join(dirpath, f)):
            line = line.split("//")[0]
            m = re.match(r"^package\s+([\w.]+);", line)
            if m:
                pkg = m.group(1)
            m = re.match(r"^message\s+(\w+)\s*{", line)
            if m:
                cur = pkg + "." + m.group(1)
                msgs[cur] = {"pkg": pkg, "fields": []}
                continue
            if re.match(r"^}", line):
                cur = None
                continue
            if cur is None:
                continue
            m = MAP.match(line)
            if m:
                msgs[cur]["fields"].append((int(m.group(4)), m.group(3), m.group(2), False, m.group(1)))
                continue
            m = FIELD.match(line)
            if m:
                msgs[cur]["fields"].append((int(m.group(4)), m.group(3), m.group(2), m.group(1) == "repeated", None))
            elif line.strip() and not line.strip().startswith(("option", "reserved", "}")):
                sys.exit("unparsed line in %s: %s" % (f, line))

names = sorted(msgs)
index = {n: i for i, n in enumerate(names)}

def full_type(t, pkg):
    return t[1:] if t.startswith(".") else pkg + "." + t

defs = json.load(open(OPENAPI))["definitions"]
jname = {}   # (message, proto field name) -> JSON name
inline = set()  # (message, proto field name)

def props_of(n):
    if n in SPECIAL or n.endswith(".ExtraValue"):  # not an object in JSON
        return None
    d = defs.get("io.k8s" + n[len("k8s.io"):]) if n.startswith("k8s.io.") else None
    return None if d is None else d.get("properties", {})

def json_names(n, seen=()):
    """The JSON property names message n contributes to an object it is inlined into."""
    out = set()
    for num, fname, ftype, rep, keytype in msgs[n]["fields"]:
        if (n, fname) in inline:
            out |= json_names(full_type(ftype, msgs[n]["pkg"]), seen + (n,))
        else:
            out.add(jname.get((n, fname), fname))
    return out

# Pass 1: messages with an OpenAPI definition. Inner messages are decided first where they are
# inlined themselves (RuleWithOperations.rule before NamedRuleWithOperations.ruleWithOperations),
# so loop until nothing changes.
pairs = {}  # (short message name, proto field name) -> ("name", json) | ("inline", None)
pending = [(n, f) for n in sorted(msgs) if props_of(n) is not None for f in msgs[n]["fields"]
           if f[1] not in props_of(n)]
while pending:
    left = []
    for n, (num, fname, ftype, rep, keytype) in pending:
        props = props_of(n)
        low = {p.lower(): p for p in props}
        ft = full_type(ftype, msgs[n]["pkg"])
        if fname.lower() in low:
            jname[(n, fname)] = low[fname.lower()]
            pairs[(n.rsplit(".", 1)[1], fname)] = ("name", low[fname.lower()])
        elif ft in msgs and not rep and not keytype and msgs[ft]["fields"] and \
                json_names(ft) <= set(props):
            inline.add((n, fname))
            pairs[(n.rsplit(".", 1)[1], fname)] = ("inline", None)
        else:
            left.append((n, (num, fname, ftype, rep, keytype)))
    if len(left) == len(pending):
        sys.exit("no JSON name for proto fields: %s" % ", ".join("%s.%s" % (n, f[1]) for n, f in left))
    pending = left
# Pass 2: messages OpenAPI lacks follow the same short message and field name.
for n in sorted(msgs):
    if props_of(n) is not None:
        continue
    for num, fname, ftype, rep, keytype in msgs[n]["fields"]:
        kind, name = pairs.get((n.rsplit(".", 1)[1], fname), (None, None))
        if kind == "name":
            jname[(n, fname)] = name
        elif kind == "inline":
            inline.add((n, fname))
for n, fname in sorted(inline):
    f = [x for x in msgs[n]["fields"] if x[1] == fname][0]
    ft = full_type(f[2], msgs[n]["pkg"])
    if ft not in msgs or f[3] or f[4] or ft in SPECIAL:
        sys.exit("inline field %s.%s is not a plain message" % (n, fname))
    own = {jname.get((n, x[1]), x[1]) for x in msgs[n]["fields"] if (n, x[1]) not in inline}
    if own & json_names(ft):
        sys.exit("inline field %s.%s clashes with %s" % (n, fname, own & json_names(ft)))

def resolve(t, pkg):
    if t in SCALARS:
        return SCALARS[t], -1
    full = full_type(t, pkg)
    if full not in index:
        sys.exit("unknown type %s in %s" % (t, pkg))
    return "KPB_MSG", index[full]

out = ["/* k8s-proto.inc: GENERATED by k3core/data/gen-proto.py from the upstream Kubernetes 1.33",
       " * generated.proto files (kubernetes/api v0.33.0, kubernetes/apimachinery v0.33.0), with JSON",
       " * names and inline fields (KPB_F_INLINE) from the 1.33 OpenAPI v2 document; do not edit.",
       " * Message descriptors for k3core/server/kpb.c, included by k8s-proto.c (one line per message;",
       " * not clang-formatted). Inline fields (%d), named k8s.io.api.<group>.<version>.<message>.<field>:" % len(inline)]
out += [" *   " + l for l in textwrap.wrap(", ".join(
    "%s.%s" % (n[len("k8s.io.api."):] if n.startswith("k8s.io.api.") else n, f) for n, f in sorted(inline)), 95)]
out += [" * Renamed fields (proto name -> JSON name): " + ", ".join(
    sorted({"%s -> %s" % (f, j) for (n, f), j in jname.items()})) + " */"]
for i, n in enumerate(names):
    rows = []
    for num, fname, ftype, rep, keytype in sorted(msgs[n]["fields"]):
        if keytype:
            vt, ref = resolve(ftype, msgs[n]["pkg"])
            rows.append('{%d, "%s", KPB_MAP, %s, %d},' % (num, jname.get((n, fname), fname), vt, ref))
        else:
            t, ref = resolve(ftype, msgs[n]["pkg"])
            rows.append('{%d, "%s", %s, %d, %d%s},' % (num, jname.get((n, fname), fname), t, 1 if rep else 0,
                                                       ref, ", KPB_F_INLINE" if (n, fname) in inline else ""))
    if rows:
        out.append("static const struct kpb_field f%d[] = {%s};" % (i, " ".join(rows)))
special = lambda n: SPECIAL.get(n, "KPB_SP_ITEMS" if n.endswith(".ExtraValue") else "KPB_SP_NONE")
out.append("const struct kpb_msg kpb_msgs[] = {")
ents = []
for i, n in enumerate(names):
    nf = len(msgs[n]["fields"])
    ents.append('{"%s", %s, %d, %s},' % (n, special(n), nf, "f%d" % i if nf else "NULL"))
for i in range(0, len(ents), 4):
    out.append(" ".join(ents[i:i + 4]))
out += ["};", "const size_t kpb_nmsgs = sizeof(kpb_msgs) / sizeof(kpb_msgs[0]);", ""]
path = os.path.join(here, "k8s-proto.inc")
with open(path, "w") as fh:
    fh.write("\n".join(out))
print("%d messages, %d renamed fields, %d inline fields" % (len(names), len(jname), len(inline)))
