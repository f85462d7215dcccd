/* kpb.c: the generic protobuf wire decoder for Kubernetes request bodies (see kpb.h).
 *
 * It reads varints, fixed 32/64-bit values and length-delimited fields, looks each field number up
 * in the message's generated descriptor, and emits jansson values with Go's JSON conventions.
 * A field marked KPB_F_INLINE (a Go struct embedded with `json:",inline"`) is decoded as its
 * message and its members merged into the parent object, as Go's JSON encoding flattens it; the
 * generator checks that no inline member clashes with the parent's own fields.
 * Unknown field numbers are skipped (forward compatibility, as protobuf requires); wrong wire
 * types, truncated input, invalid UTF-8 in strings and nesting deeper than 64 levels are errors. It
 * does not encode: responses stay JSON, which every client accepts.
 */
#include "k3core/server/kpb.h"

#include <time.h>

#include "dind/json.h"
#include "k3core/pki/b64.h"

#define MAX_DEPTH 64

struct rd {
    const uint8_t *p, *end;
};

static int rd_varint(struct rd *r, uint64_t *ret)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return -EINVAL;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *ret = v;
            return 0;
        }
    }
    return -EINVAL;
}

static int rd_bytes(struct rd *r, const uint8_t **ret, size_t *ret_len)
{
    uint64_t n;
    if (rd_varint(r, &n) < 0 || n > (uint64_t)(r->end - r->p))
        return -EINVAL;
    *ret = r->p;
    *ret_len = (size_t)n;
    r->p += n;
    return 0;
}

static int rd_fixed(struct rd *r, size_t n, uint64_t *ret)
{
    if ((size_t)(r->end - r->p) < n)
        return -EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    *ret = v;
    return 0;
}

static int rd_skip(struct rd *r, unsigned wt)
{
    uint64_t v;
    const uint8_t *b;
    size_t n;
    switch (wt) {
    case 0:
        return rd_varint(r, &v);
    case 1:
        return rd_fixed(r, 8, &v);
    case 2:
        return rd_bytes(r, &b, &n);
    case 5:
        return rd_fixed(r, 4, &v);
    }
    return -EINVAL;
}

static const struct kpb_field *find_field(const struct kpb_msg *m, unsigned num)
{
    size_t lo = 0, hi = m->nfields;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->fields[mid].num == num)
            return &m->fields[mid];
        if (m->fields[mid].num < num)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

static int wire_type_of(unsigned t)
{
    switch (t) {
    case KPB_STRING:
    case KPB_BYTES:
    case KPB_MSG:
    case KPB_MAP:
        return 2;
    case KPB_DOUBLE:
        return 1;
    case KPB_FLOAT:
        return 5;
    }
    return 0;
}

static int decode_value(unsigned type, int ref, struct rd *r, int depth, json_t **ret, dd_err *e);
static int decode_msg(const struct kpb_msg *m, const uint8_t *d, size_t n, int depth, json_t **ret,
                      dd_err *e);

static int decode_scalar(unsigned type, struct rd *r, json_t **ret, dd_err *e)
{
    uint64_t v = 0;
    const uint8_t *b = NULL;
    size_t n = 0;
    int rc = type == KPB_DOUBLE        ? rd_fixed(r, 8, &v)
             : type == KPB_FLOAT       ? rd_fixed(r, 4, &v)
             : wire_type_of(type) == 2 ? rd_bytes(r, &b, &n)
                                       : rd_varint(r, &v);
    if (rc < 0)
        return dd_err_set(e, EINVAL, "truncated protobuf field");
    switch (type) {
    case KPB_STRING:
        *ret = n ? json_stringn((const char *)b, n) : NULL;
        if (n && !*ret)
            return dd_err_set(e, EINVAL, "protobuf string is not valid UTF-8");
        return 0;
    case KPB_BYTES: {
        _cleanup_free_ char *s = b64_encode(b, n, false);
        *ret = json_string(s);
        return 0;
    }
    case KPB_BOOL:
        *ret = json_boolean(v != 0);
        return 0;
    case KPB_INT32:
        *ret = json_integer((int32_t)v);
        return 0;
    case KPB_UINT32:
        *ret = json_integer((uint32_t)v);
        return 0;
    case KPB_DOUBLE: {
        double dv;
        memcpy(&dv, &v, sizeof(dv));
        *ret = json_real(dv);
        return 0;
    }
    case KPB_FLOAT: {
        float fv;
        uint32_t v32 = (uint32_t)v;
        memcpy(&fv, &v32, sizeof(fv));
        *ret = json_real(fv);
        return 0;
    }
    }
    *ret = json_integer((json_int_t)v);
    return 0;
}

static int decode_map_entry(const struct kpb_field *f, struct rd *r, int depth, json_t *obj,
                            dd_err *e)
{
    const uint8_t *b;
    size_t n;
    if (rd_bytes(r, &b, &n) < 0)
        return dd_err_set(e, EINVAL, "truncated protobuf map entry");
    struct rd sub = {b, b + n};
    _cleanup_free_ char *key = dd_strdup("");
    json_t *val = NULL;
    int rc = 0;
    while (rc == 0 && sub.p < sub.end) {
        uint64_t tag;
        if (rd_varint(&sub, &tag) < 0) {
            rc = dd_err_set(e, EINVAL, "malformed protobuf map entry");
            break;
        }
        if (tag == (1 << 3 | 2)) {
            const uint8_t *kb;
            size_t kn;
            if (rd_bytes(&sub, &kb, &kn) < 0 || memchr(kb, 0, kn))
                rc = dd_err_set(e, EINVAL, "malformed protobuf map key");
            else
                free(key), key = dd_strndup((const char *)kb, kn);
        } else if ((tag >> 3) == 2 && (tag & 7) == (uint64_t)wire_type_of(f->aux)) {
            json_decref(val);
            val = NULL;
            rc = decode_value(f->aux, f->ref, &sub, depth, &val, e);
        } else if (rd_skip(&sub, tag & 7) < 0) {
            rc = dd_err_set(e, EINVAL, "malformed protobuf map entry");
        }
    }
    if (rc < 0) {
        json_decref(val);
        return rc;
    }
    json_object_set_new(obj, key, val ? val : json_string(""));
    return 0;
}

static int decode_value(unsigned type, int ref, struct rd *r, int depth, json_t **ret, dd_err *e)
{
    if (type != KPB_MSG)
        return decode_scalar(type, r, ret, e);
    const uint8_t *b;
    size_t n;
    if (rd_bytes(r, &b, &n) < 0)
        return dd_err_set(e, EINVAL, "truncated protobuf message");
    return decode_msg(&kpb_msgs[ref], b, n, depth + 1, ret, e);
}

static void put(json_t *obj, const struct kpb_field *f, json_t *v)
{
    if (!f->aux) {
        if (v)
            json_object_set_new(obj, f->name, v);
        return;
    }
    json_t *arr = json_object_get(obj, f->name);
    if (!arr) {
        arr = json_array();
        json_object_set_new(obj, f->name, arr);
    }
    json_array_append_new(arr, v ? v : json_string(""));
}

static int decode_field(const struct kpb_field *f, unsigned wt, struct rd *r, int depth,
                        json_t *obj, dd_err *e)
{
    if (f->type == KPB_MAP) {
        json_t *m = json_object_get(obj, f->name);
        if (!m)
            json_object_set_new(obj, f->name, m = json_object());
        return decode_map_entry(f, r, depth, m, e);
    }
    if (f->aux && wt == 2 && wire_type_of(f->type) != 2) { /* packed repeated scalars */
        const uint8_t *b;
        size_t n;
        if (rd_bytes(r, &b, &n) < 0)
            return dd_err_set(e, EINVAL, "truncated packed field %s", f->name);
        struct rd sub = {b, b + n};
        while (sub.p < sub.end) {
            json_t *v = NULL;
            int rc = decode_scalar(f->type, &sub, &v, e);
            if (rc < 0)
                return rc;
            put(obj, f, v);
        }
        return 0;
    }
    json_t *v = NULL;
    int rc = decode_value(f->type, f->ref, r, depth, &v, e);
    if (rc < 0)
        return dd_err_wrap(e, "%s", f->name);
    if (f->flags & KPB_F_INLINE) { /* an embedded struct: its fields belong to obj */
        if (json_is_object(v))
            json_object_update(obj, v);
        json_decref(v);
        return 0;
    }
    put(obj, f, v);
    return 0;
}

/* Collects fields 1..3 as raw integers/bytes for the special (well-known) messages. */
struct special_fields {
    uint64_t num[4];
    const uint8_t *bytes[4];
    size_t len[4];
    json_t *items;
};

static int read_special(const uint8_t *d, size_t n, struct special_fields *s, dd_err *e)
{
    struct rd r = {d, d + n};
    while (r.p < r.end) {
        uint64_t tag;
        if (rd_varint(&r, &tag) < 0)
            return dd_err_set(e, EINVAL, "malformed protobuf");
        unsigned num = (unsigned)(tag >> 3), wt = tag & 7;
        int rc;
        if (num >= 1 && num <= 3 && wt == 0)
            rc = rd_varint(&r, &s->num[num]);
        else if (num >= 1 && num <= 3 && wt == 2)
            rc = rd_bytes(&r, &s->bytes[num], &s->len[num]);
        else
            rc = rd_skip(&r, wt);
        if (rc < 0)
            return dd_err_set(e, EINVAL, "malformed protobuf");
        if (num == 1 && wt == 2 && s->items) {
            json_t *str = json_stringn((const char *)s->bytes[1], s->len[1]);
            if (!str)
                return dd_err_set(e, EINVAL, "protobuf string is not valid UTF-8");
            json_array_append_new(s->items, str);
        }
    }
    return 0;
}

static json_t *format_time(int64_t sec, int64_t nanos, bool micro)
{
    if (!sec && !nanos)
        return NULL;
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm))
        return NULL;
    char buf[64];
    size_t k = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    if (micro)
        snprintf(buf + k, sizeof(buf) - k, ".%06dZ", (int)((nanos / 1000) % 1000000));
    else
        snprintf(buf + k, sizeof(buf) - k, "Z");
    return json_string(buf);
}

/* Go's time.Duration.String() for whole units; fractions of a second print as seconds. */
static json_t *format_duration(int64_t ns)
{
    dd_buf b = DD_BUF_INIT;
    uint64_t u = ns < 0 ? (uint64_t)-ns : (uint64_t)ns;
    if (ns < 0)
        dd_buf_addc(&b, '-');
    uint64_t h = u / 3600000000000ULL, m = u / 60000000000ULL % 60, s = u / 1000000000ULL % 60;
    uint64_t frac = u % 1000000000ULL;
    if (h)
        dd_buf_addf(&b, "%luh", (unsigned long)h);
    if (h || m)
        dd_buf_addf(&b, "%lum", (unsigned long)m);
    dd_buf_addf(&b, "%lu", (unsigned long)s);
    if (frac) {
        char f[16];
        snprintf(f, sizeof(f), ".%09lu", (unsigned long)frac);
        for (size_t i = strlen(f) - 1; f[i] == '0'; i--)
            f[i] = '\0';
        dd_buf_adds(&b, f);
    }
    dd_buf_addc(&b, 's');
    json_t *j = json_string(b.data);
    dd_buf_release(&b);
    return j;
}

static int decode_rawjson(const uint8_t *b, size_t n, int depth, json_t **ret, dd_err *e)
{
    if (!n)
        return *ret = NULL, 0;
    if (n >= 4 && !memcmp(b, "k8s\0", 4)) {
        if (depth > MAX_DEPTH)
            return dd_err_set(e, EINVAL, "protobuf nesting too deep");
        return kpb_decode(b, n, ret, e);
    }
    int rc = jx_parse((const char *)b, n, ret, e);
    return rc < 0 ? dd_err_wrap(e, "embedded raw object") : 0;
}

static int decode_special(const struct kpb_msg *m, const uint8_t *d, size_t n, int depth,
                          json_t **ret, dd_err *e)
{
    struct special_fields s = {0};
    if (m->special == KPB_SP_ITEMS)
        s.items = json_array();
    int rc = read_special(d, n, &s, e);
    if (rc < 0) {
        json_decref(s.items);
        return rc;
    }
    switch (m->special) {
    case KPB_SP_ITEMS:
        *ret = s.items;
        return 0;
    case KPB_SP_TIME:
    case KPB_SP_MICROTIME:
        *ret = format_time((int64_t)s.num[1], (int32_t)s.num[2], m->special == KPB_SP_MICROTIME);
        return 0;
    case KPB_SP_DURATION:
        *ret = format_duration((int64_t)s.num[1]);
        return 0;
    case KPB_SP_QUANTITY:
        *ret = json_stringn(s.len[1] ? (const char *)s.bytes[1] : "0", s.len[1] ? s.len[1] : 1);
        return *ret ? 0 : dd_err_set(e, EINVAL, "quantity is not valid UTF-8");
    case KPB_SP_INTORSTRING:
        if (s.num[1] == 1)
            *ret = json_stringn(s.bytes[3] ? (const char *)s.bytes[3] : "", s.len[3]);
        else
            *ret = json_integer((int32_t)s.num[2]);
        return *ret ? 0 : dd_err_set(e, EINVAL, "intstr is not valid UTF-8");
    case KPB_SP_RAWJSON:
        return decode_rawjson(s.bytes[1], s.len[1], depth, ret, e);
    }
    return dd_err_set(e, EINVAL, "unsupported special message %s", m->name);
}

/* Go writes every non-pointer scalar field to protobuf, zero or not, but leaves a zero one out of
 * JSON when its tag says omitempty; a pointer field's zero is a value (replicas: 0). The proto
 * files do not tell them apart, so these are the non-pointer omitempty scalars of the workload
 * kinds kubectl 1.33 creates over protobuf (k8s.io/api 1.33 types.go), whose zeros are dropped
 * as upstream's JSON drops them: stored `stdin: false` or `generation: 0` in a template made a
 * `rollout undo` see a different template than the ReplicaSet's and start a new one. */
static const struct {
    const char *msg, *field;
} zero_omitted[] = {
    {"k8s.io.apimachinery.pkg.apis.meta.v1.ObjectMeta", "generation"},
    {"k8s.io.api.core.v1.Container", "stdin"},
    {"k8s.io.api.core.v1.Container", "stdinOnce"},
    {"k8s.io.api.core.v1.Container", "tty"},
    {"k8s.io.api.core.v1.EphemeralContainerCommon", "stdin"},
    {"k8s.io.api.core.v1.EphemeralContainerCommon", "stdinOnce"},
    {"k8s.io.api.core.v1.EphemeralContainerCommon", "tty"},
    {"k8s.io.api.core.v1.ContainerPort", "hostPort"},
    {"k8s.io.api.core.v1.VolumeMount", "readOnly"},
    {"k8s.io.api.core.v1.Probe", "initialDelaySeconds"},
    {"k8s.io.api.core.v1.Probe", "timeoutSeconds"},
    {"k8s.io.api.core.v1.Probe", "periodSeconds"},
    {"k8s.io.api.core.v1.Probe", "successThreshold"},
    {"k8s.io.api.core.v1.Probe", "failureThreshold"},
    {"k8s.io.api.core.v1.PodSpec", "hostNetwork"},
    {"k8s.io.api.core.v1.PodSpec", "hostPID"},
    {"k8s.io.api.core.v1.PodSpec", "hostIPC"},
    {"k8s.io.api.core.v1.ServicePort", "nodePort"},
    {"k8s.io.api.core.v1.ServiceSpec", "publishNotReadyAddresses"},
    {"k8s.io.api.core.v1.ServiceSpec", "healthCheckNodePort"},
    {"k8s.io.api.apps.v1.DeploymentSpec", "minReadySeconds"},
    {"k8s.io.api.apps.v1.DeploymentSpec", "paused"},
    {"k8s.io.api.apps.v1.ReplicaSetSpec", "minReadySeconds"},
    {"k8s.io.api.apps.v1.StatefulSetSpec", "minReadySeconds"},
    {"k8s.io.api.apps.v1.DaemonSetSpec", "minReadySeconds"},
};

static void drop_zero_scalars(const struct kpb_msg *m, json_t *obj)
{
    for (size_t i = 0; i < DD_ARRAY_SIZE(zero_omitted); i++) {
        if (strcmp(m->name, zero_omitted[i].msg))
            continue;
        const json_t *v = json_object_get(obj, zero_omitted[i].field);
        if (json_is_false(v) || (json_is_integer(v) && json_integer_value(v) == 0))
            json_object_del(obj, zero_omitted[i].field);
    }
}

static int decode_msg(const struct kpb_msg *m, const uint8_t *d, size_t n, int depth, json_t **ret,
                      dd_err *e)
{
    if (depth > MAX_DEPTH)
        return dd_err_set(e, EINVAL, "protobuf nesting too deep");
    if (m->special != KPB_SP_NONE)
        return decode_special(m, d, n, depth, ret, e);
    json_t *obj = json_object();
    struct rd r = {d, d + n};
    while (r.p < r.end) {
        uint64_t tag = 0;
        int rc = rd_varint(&r, &tag) < 0 ? dd_err_set(e, EINVAL, "malformed protobuf tag") : 0;
        unsigned num = (unsigned)(tag >> 3), wt = tag & 7;
        const struct kpb_field *f = rc ? NULL : find_field(m, num);
        if (rc == 0 && !f)
            rc = rd_skip(&r, wt) < 0 ? dd_err_set(e, EINVAL, "malformed protobuf field") : 0;
        else if (rc == 0 && (int)wt != wire_type_of(f->type) &&
                 !(f->aux && f->type != KPB_MAP && wt == 2))
            rc = dd_err_set(e, EINVAL, "field %s: wrong protobuf wire type %u", f->name, wt);
        else if (rc == 0)
            rc = decode_field(f, wt, &r, depth, obj, e);
        if (rc < 0) {
            json_decref(obj);
            return rc;
        }
    }
    drop_zero_scalars(m, obj);
    *ret = obj;
    return 0;
}

int kpb_decode_msg(const struct kpb_msg *m, const uint8_t *data, size_t len, json_t **ret,
                   dd_err *e)
{
    json_t *v = NULL;
    int rc = decode_msg(m, data, len, 0, &v, e);
    if (rc < 0)
        return rc;
    *ret = v ? v : json_object();
    return 0;
}

static int cmp_name(const void *key, const void *elem)
{
    return strcmp(key, ((const struct kpb_msg *)elem)->name);
}

const struct kpb_msg *kpb_find(const char *full_name)
{
    return bsearch(full_name, kpb_msgs, kpb_nmsgs, sizeof(kpb_msgs[0]), cmp_name);
}

const struct kpb_msg *kpb_find_kind(const char *api_version, const char *kind)
{
    const char *slash = strchr(api_version, '/');
    const char *version = slash ? slash + 1 : api_version;
    _cleanup_free_ char *pkg = NULL;
    if (!slash)
        pkg = dd_strdup("core");
    else if (!strncmp(api_version, "internal.apiserver.k8s.io/", 26))
        pkg = dd_strdup("apiserverinternal");
    else
        pkg = dd_strndup(api_version, strcspn(api_version, "./"));
    _cleanup_free_ char *name = dd_asprintf("k8s.io.api.%s.%s.%s", pkg, version, kind);
    const struct kpb_msg *m = kpb_find(name);
    if (m)
        return m;
    free(name);
    name = dd_asprintf("k8s.io.apimachinery.pkg.apis.meta.v1.%s", kind);
    return kpb_find(name);
}

/* runtime.Unknown: 1 typeMeta{1 apiVersion, 2 kind}, 2 raw, 3 contentEncoding, 4 contentType. */
struct unknown {
    const uint8_t *tm, *raw;
    size_t tmlen, rawlen, enclen;
};

static int read_unknown(const uint8_t *d, size_t n, struct unknown *u, dd_err *e)
{
    struct rd r = {d, d + n};
    while (r.p < r.end) {
        uint64_t tag;
        const uint8_t *b = NULL;
        size_t len = 0;
        if (rd_varint(&r, &tag) < 0)
            return dd_err_set(e, EINVAL, "malformed protobuf envelope");
        int rc = (tag & 7) == 2 ? rd_bytes(&r, &b, &len) : rd_skip(&r, tag & 7);
        if (rc < 0)
            return dd_err_set(e, EINVAL, "truncated protobuf envelope");
        if (tag == (1 << 3 | 2))
            u->tm = b, u->tmlen = len;
        else if (tag == (2 << 3 | 2))
            u->raw = b, u->rawlen = len;
        else if (tag == (3 << 3 | 2))
            u->enclen = len;
    }
    return 0;
}

int kpb_decode(const void *data, size_t len, json_t **ret, dd_err *e)
{
    const uint8_t *d = data;
    if (len < 4 || memcmp(d, "k8s\0", 4))
        return dd_err_set(e, EINVAL, "protobuf body lacks the k8s envelope");
    struct unknown u = {0};
    int rc = read_unknown(d + 4, len - 4, &u, e);
    if (rc < 0)
        return rc;
    if (u.enclen)
        return dd_err_set(e, EINVAL, "protobuf contentEncoding is not supported");
    const struct kpb_msg *tm = kpb_find("k8s.io.apimachinery.pkg.runtime.TypeMeta");
    json_t *typemeta = NULL;
    if (!tm || kpb_decode_msg(tm, u.tm ? u.tm : d, u.tmlen, &typemeta, e) < 0)
        return dd_err_set(e, EINVAL, "malformed protobuf typeMeta");
    const char *api = json_string_value(json_object_get(typemeta, "apiVersion"));
    const char *kind = json_string_value(json_object_get(typemeta, "kind"));
    const struct kpb_msg *m = api && kind ? kpb_find_kind(api, kind) : NULL;
    if (!m) {
        rc = dd_err_set(e, EINVAL, "protobuf body of unknown kind %s/%s", api ? api : "",
                        kind ? kind : "");
        json_decref(typemeta);
        return rc;
    }
    json_t *obj = NULL;
    rc = kpb_decode_msg(m, u.raw ? u.raw : d, u.rawlen, &obj, e);
    if (rc < 0) {
        dd_err_wrap(e, "decoding %s", kind);
        json_decref(typemeta);
        return rc;
    }
    json_object_update(typemeta, obj);
    json_decref(obj);
    *ret = typemeta;
    return 0;
}
