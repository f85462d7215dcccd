/* calc.c: the pure arithmetic of the workload controllers — the pod-template hash, the
 * maxSurge/maxUnavailable fenceposts of a rolling update, the scale-down order of pods and pod
 * readiness/availability. No store access here, so all of it is unit-tested directly.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/controllers.h"

#define HASH_LABEL "pod-template-hash"

static uint32_t fnv1a(uint32_t h, const void *data, size_t len)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
}

void kctl_strip_nulls(json_t *v)
{
    if (json_is_object(v)) {
        const char *k;
        json_t *x;
        void *tmp;
        json_object_foreach_safe(v, tmp, k, x)
        {
            if (json_is_null(x))
                json_object_del(v, k);
            else
                kctl_strip_nulls(x);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) kctl_strip_nulls(x);
    }
}

void kctl_template_hash(const json_t *tmpl, int64_t collisions, char out[16])
{
    json_t *copy = json_deep_copy(tmpl);
    json_t *labels = json_object_get(json_object_get(copy, "metadata"), "labels");
    json_object_del(labels, HASH_LABEL);
    kctl_strip_nulls(copy);
    char *text = json_dumps(copy ? copy : json_null(), JSON_COMPACT | JSON_SORT_KEYS);
    uint32_t h = fnv1a(2166136261u, text ? text : "", text ? strlen(text) : 0);
    free(text);
    json_decref(copy);
    if (collisions > 0) {
        uint32_t c = (uint32_t)collisions;
        h = fnv1a(h, &c, sizeof(c));
    }
    /* upstream renders the decimal value through SafeEncodeString: no vowels, no look-alikes */
    static const char alphabet[] = "bcdfghjklmnpqrstvwxz2456789";
    char dec[16];
    snprintf(dec, sizeof(dec), "%u", h);
    size_t i;
    for (i = 0; dec[i] && i < 15; i++)
        out[i] = alphabet[(unsigned char)dec[i] % (sizeof(alphabet) - 1)];
    out[i] = 0;
}

int kctl_scaled_value(const json_t *v, int total, bool round_up, int *ret)
{
    if (!v || json_is_null(v)) {
        *ret = 0;
        return 0;
    }
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0 || json_integer_value(v) > 1000000)
            return -EINVAL;
        *ret = (int)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -EINVAL;
    char *end = NULL;
    errno = 0;
    long pct = strtol(s, &end, 10);
    if (errno || end == s || strcmp(end, "%") != 0 || pct < 0 || pct > 1000000)
        return -EINVAL;
    int64_t num = (int64_t)pct * total;
    *ret = (int)(round_up ? (num + 99) / 100 : num / 100);
    return 0;
}

int kctl_resolve_fenceposts(const json_t *surge, const json_t *unavailable, int total,
                            int *ret_surge, int *ret_unavailable)
{
    int s, u;
    if (kctl_scaled_value(surge, total, true, &s) < 0 ||
        kctl_scaled_value(unavailable, total, false, &u) < 0)
        return -EINVAL;
    if (s == 0 && u == 0)
        u = 1; /* otherwise a rollout could never make progress */
    *ret_surge = s;
    *ret_unavailable = u;
    return 0;
}

static const json_t *condition(const json_t *pod, const char *type)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "conditions"), i, c)
    {
        if (dd_streq(json_string_value(json_object_get(c, "type")), type))
            return c;
    }
    return NULL;
}

bool kctl_pod_ready(const json_t *pod)
{
    const json_t *c = condition(pod, "Ready");
    return c && dd_streq(json_string_value(json_object_get(c, "status")), "True");
}

static int64_t ready_since(const json_t *pod)
{
    const json_t *c = condition(pod, "Ready");
    int64_t t = 0;
    const char *s = json_string_value(json_object_get(c, "lastTransitionTime"));
    if (!s || dd_parse_rfc3339(s, &t) < 0)
        return 0;
    return t;
}

bool kctl_pod_available(const json_t *pod, int64_t min_ready, int64_t now_ns)
{
    if (!kctl_pod_ready(pod))
        return false;
    if (min_ready <= 0)
        return true;
    int64_t since = ready_since(pod);
    return since && since + min_ready * 1000000000LL <= now_ns;
}

static const char *phase(const json_t *pod)
{
    return json_string_value(json_object_get(json_object_get(pod, "status"), "phase"));
}

bool kctl_pod_terminal(const json_t *pod)
{
    const char *p = phase(pod);
    return dd_streq(p, "Succeeded") || dd_streq(p, "Failed");
}

static int phase_rank(const json_t *pod)
{
    const char *p = phase(pod);
    if (!p || dd_streq(p, "Pending"))
        return 0;
    return dd_streq(p, "Running") ? 2 : 1; /* Unknown between */
}

static int64_t restarts(const json_t *pod)
{
    int64_t n = 0, max = 0;
    size_t i;
    json_t *cs;
    json_array_foreach(json_object_get(json_object_get(pod, "status"), "containerStatuses"), i, cs)
    {
        n = json_integer_value(json_object_get(cs, "restartCount"));
        if (n > max)
            max = n;
    }
    return max;
}

static int64_t created(const json_t *pod)
{
    int64_t t = 0;
    const char *s =
        json_string_value(json_object_get(json_object_get(pod, "metadata"), "creationTimestamp"));
    if (s)
        dd_parse_rfc3339(s, &t);
    return t;
}

#define CMP(a, b) ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

int kctl_pod_cmp(const json_t *a, const json_t *b)
{
    const char *na = json_string_value(json_object_get(json_object_get(a, "spec"), "nodeName"));
    const char *nb = json_string_value(json_object_get(json_object_get(b, "spec"), "nodeName"));
    bool ua = !na || !*na, ub = !nb || !*nb;
    if (ua != ub)
        return ua ? -1 : 1;
    int r = CMP(phase_rank(a), phase_rank(b));
    if (r)
        return r;
    bool ra = kctl_pod_ready(a), rb = kctl_pod_ready(b);
    if (ra != rb)
        return ra ? 1 : -1;
    if (ra && rb) {
        /* ready for less time goes first: a later transition sorts first */
        r = CMP(ready_since(b), ready_since(a));
        if (r)
            return r;
    }
    r = CMP(restarts(b), restarts(a));
    if (r)
        return r;
    return CMP(created(b), created(a));
}

char *kctl_format_indexes(const bool *done, int64_t n)
{
    dd_buf b = DD_BUF_INIT;
    for (int64_t i = 0; i < n; i++) {
        if (!done[i])
            continue;
        int64_t j = i;
        while (j + 1 < n && done[j + 1])
            j++;
        dd_buf_addf(&b, "%s%lld", b.len ? "," : "", (long long)i);
        if (j > i)
            dd_buf_addf(&b, "-%lld", (long long)j);
        i = j;
    }
    char *out = dd_buf_detach(&b, NULL);
    return out ? out : dd_strdup("");
}

void kctl_parse_indexes(const char *s, bool *done, int64_t n)
{
    while (s && *s) {
        char *end = NULL;
        long long lo = strtoll(s, &end, 10), hi = lo;
        if (end == s)
            return;
        if (*end == '-') {
            const char *h = end + 1;
            hi = strtoll(h, &end, 10);
            if (end == h)
                return;
        }
        for (long long i = lo < 0 ? 0 : lo; i <= hi && i < n; i++)
            done[i] = true;
        if (*end != ',')
            return;
        s = end + 1;
    }
}
