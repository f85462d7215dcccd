/* controllers: the asynchronous halves of deletion, run from the caller's loop by
 * kobj_run_controllers(): the namespace controller (a Terminating namespace's contents are
 * deleted, then its `kubernetes` finalizer is removed and it disappears), the garbage collector
 * (dependents whose owners are all gone are deleted; Foreground owners wait for their
 * dependents, then lose the foregroundDeletion finalizer), Orphan propagation, expiry of
 * Events after an hour, and store compaction. Each pass scans the store; it is meant for a timer of
 * about a second.
 */
#include <stdio.h>

#include "k3core/api/objects-internal.h"

static const kres_resource *res_of_key(const char *key, char **ret_ns, char **ret_name)
{
    /* /registry/<group>/<resource>/[<ns>/]<name> */
    if (!dd_startswith(key, "/registry/"))
        return NULL;
    _cleanup_free_ char *copy = dd_strdup(key + strlen("/registry/"));
    char *parts[4] = {0};
    int n = 0;
    char *save = NULL;
    for (char *p = strtok_r(copy, "/", &save); p && n < 4; p = strtok_r(NULL, "/", &save))
        parts[n++] = p;
    if (n < 3)
        return NULL;
    const kres_resource *r =
        kres_lookup_any_version(strcmp(parts[0], "core") == 0 ? "" : parts[0], parts[1]);
    if (!r)
        return NULL;
    bool ns = kres_namespaced(r);
    if ((ns && n != 4) || (!ns && n != 3))
        return NULL;
    *ret_ns = ns ? dd_strdup(parts[2]) : NULL;
    *ret_name = dd_strdup(parts[ns ? 3 : 2]);
    return r;
}

typedef struct snapshot {
    kst_list all;
    json_t *objs; /* array of parsed objects, index-aligned with all.items */
    json_t *uids; /* uid → true */
} snapshot;

/* What the passes read of an object: its metadata's uid, namespace, name, deletionTimestamp,
 * finalizers and owner uids, and a namespace's spec.finalizers. Keeping only these (each object
 * is parsed and dropped in turn) makes a pass over every stored object cost a fraction of the
 * parsed objects' memory. */
static json_t *slim(json_t *o)
{
    const json_t *meta = json_object_get(o, "metadata");
    json_t *m = json_object();
    static const char *const keep[] = {"uid", "namespace", "name", "deletionTimestamp",
                                       "finalizers"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(keep); i++) {
        json_t *v = json_object_get(meta, keep[i]);
        if (v)
            json_object_set(m, keep[i], v);
    }
    json_t *refs = json_object_get(meta, "ownerReferences");
    if (json_array_size(refs)) {
        json_t *slim_refs = json_array(), *ref;
        size_t i;
        json_array_foreach(refs, i, ref)
        {
            json_array_append_new(slim_refs,
                                  json_pack("{s:O?}", "uid", json_object_get(ref, "uid")));
        }
        json_object_set_new(m, "ownerReferences", slim_refs);
    }
    json_t *out = json_pack("{s:o}", "metadata", m);
    json_t *spec_fins = json_object_get(json_object_get(o, "spec"), "finalizers");
    if (spec_fins)
        json_object_set_new(out, "spec", json_pack("{s:O}", "finalizers", spec_fins));
    return out;
}

static int take_snapshot(kobj_api *api, snapshot *s, dd_err *e)
{
    int r = kst_list_prefix(api->store, "/registry/", NULL, 0, 0, &s->all, e);
    if (r < 0)
        return r;
    s->objs = json_array();
    s->uids = json_object();
    for (size_t i = 0; i < s->all.n; i++) {
        json_t *full = kobj_parse_value(s->all.items[i].value, s->all.items[i].len);
        json_t *o = full ? slim(full) : json_null();
        json_decref(full);
        const char *uid = kobj_meta_str(o, "uid");
        if (uid)
            json_object_set_new(s->uids, uid, json_true());
        json_array_append_new(s->objs, o);
        /* the raw values are not needed any more */
        free(s->all.items[i].value);
        s->all.items[i].value = NULL;
        s->all.items[i].len = 0;
    }
    return 0;
}

static void snapshot_release(snapshot *s)
{
    kst_list_release(&s->all);
    json_decref(s->objs);
    json_decref(s->uids);
}

static int delete_key(kobj_api *api, const char *key, const char *policy)
{
    _cleanup_free_ char *ns = NULL, *name = NULL;
    const kres_resource *r = res_of_key(key, &ns, &name);
    if (!r)
        return 0;
    kobj_req req = {.res = r, .ns = ns, .name = name};
    json_t *opts = json_pack("{s:s}", "propagationPolicy", policy);
    kobj_result res = {0};
    kobj_status st = {0};
    int ret = kobj_delete(api, &req, opts, &res, &st);
    json_decref(opts);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return ret >= 0 ? 1 : 0;
}

static bool owned_by(const json_t *o, const char *uid)
{
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(o, "metadata"), "ownerReferences"), i, ref)
    {
        if (dd_streq(json_string_value(json_object_get(ref, "uid")), uid))
            return true;
    }
    return false;
}

static bool all_owners_gone(const json_t *o, const json_t *uids)
{
    json_t *refs = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
    if (json_array_size(refs) == 0)
        return false;
    size_t i;
    json_t *ref;
    json_array_foreach(refs, i, ref)
    {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (uid && json_object_get(uids, uid))
            return false;
    }
    return true;
}

static bool has_finalizer(const json_t *o, const char *f)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(json_object_get(o, "metadata"), "finalizers"), i, v)
    {
        if (dd_streq(json_string_value(v), f))
            return true;
    }
    return false;
}

/* Rewrites an object through the update pipeline with `edit` applied to a copy. */
static int rewrite(kobj_api *api, const char *key, const json_t *o, void (*edit)(json_t *, void *),
                   void *ud)
{
    _cleanup_free_ char *ns = NULL, *name = NULL;
    const kres_resource *r = res_of_key(key, &ns, &name);
    if (!r)
        return 0;
    json_t *cur;
    int64_t rev;
    kobj_status st = {0};
    if (kobj_get_raw(api, r, ns, name, &cur, &rev, &st) < 0)
        return 0;
    (void)o;
    json_t *upd = json_deep_copy(cur);
    edit(upd, ud);
    kobj_req req = {.res = r,
                    .ns = ns,
                    .name = name,
                    .subresource = KOBJ_INTERNAL_WRITE,
                    .validation = KOBJ_VALIDATE_IGNORE,
                    .field_manager = "k3core-controllers"};
    kobj_result res = {0};
    int ret = kobj_write_update(api, &req, upd, cur, rev, true, &res, &st);
    json_decref(cur);
    kobj_result_release(&res);
    kobj_status_release(&st);
    return ret >= 0 ? 1 : 0;
}

static void drop_finalizer(json_t *o, void *ud)
{
    json_t *fins = json_object_get(json_object_get(o, "metadata"), "finalizers");
    for (size_t i = json_array_size(fins); i-- > 0;)
        if (dd_streq(json_string_value(json_array_get(fins, i)), ud))
            json_array_remove(fins, i);
}

static void drop_owner(json_t *o, void *ud)
{
    json_t *refs = json_object_get(json_object_get(o, "metadata"), "ownerReferences");
    for (size_t i = json_array_size(refs); i-- > 0;)
        if (dd_streq(json_string_value(json_object_get(json_array_get(refs, i), "uid")), ud))
            json_array_remove(refs, i);
    if (json_array_size(refs) == 0)
        json_object_del(json_object_get(o, "metadata"), "ownerReferences");
}

static int gc_pass(kobj_api *api, snapshot *s)
{
    int changed = 0;
    for (size_t i = 0; i < s->all.n; i++) {
        json_t *o = json_array_get(s->objs, i);
        const char *key = s->all.items[i].key;
        if (all_owners_gone(o, s->uids) && !kobj_meta_str(o, "deletionTimestamp")) {
            changed += delete_key(api, key, "Background");
            continue;
        }
        if (!kobj_meta_str(o, "deletionTimestamp") || !has_finalizer(o, "foregroundDeletion"))
            continue;
        const char *uid = kobj_meta_str(o, "uid");
        bool waiting = false;
        for (size_t j = 0; j < s->all.n; j++) {
            json_t *d = json_array_get(s->objs, j);
            if (!owned_by(d, uid))
                continue;
            waiting = true;
            if (!kobj_meta_str(d, "deletionTimestamp"))
                changed += delete_key(api, s->all.items[j].key, "Foreground");
        }
        if (!waiting)
            changed += rewrite(api, key, o, drop_finalizer, (void *)"foregroundDeletion");
    }
    return changed;
}

int kobj_orphan_dependents(kobj_api *api, const char *uid)
{
    snapshot s = {0};
    if (!uid || take_snapshot(api, &s, NULL) < 0)
        return 0;
    int changed = 0;
    for (size_t i = 0; i < s.all.n; i++)
        if (owned_by(json_array_get(s.objs, i), uid))
            changed += rewrite(api, s.all.items[i].key, NULL, drop_owner, (void *)uid);
    snapshot_release(&s);
    return changed;
}

static void drop_spec_finalizer(json_t *o, void *ud)
{
    json_t *fins = json_object_get(json_object_get(o, "spec"), "finalizers");
    for (size_t i = json_array_size(fins); i-- > 0;)
        if (dd_streq(json_string_value(json_array_get(fins, i)), ud))
            json_array_remove(fins, i);
}

/* One Terminating namespace: delete its contents; when empty, finalize and remove it. */
static int finish_namespace(kobj_api *api, snapshot *s, const json_t *nso, const char *key)
{
    const char *ns = kobj_meta_str(nso, "name");
    int changed = 0;
    bool remaining = false;
    for (size_t i = 0; i < s->all.n; i++) {
        json_t *o = json_array_get(s->objs, i);
        if (!dd_streq(kobj_meta_str(o, "namespace"), ns))
            continue;
        remaining = true;
        if (!kobj_meta_str(o, "deletionTimestamp"))
            changed += delete_key(api, s->all.items[i].key, "Background");
    }
    if (remaining)
        return changed;
    json_t *spec_fins = json_object_get(json_object_get(nso, "spec"), "finalizers");
    if (json_array_size(spec_fins))
        return changed + rewrite(api, key, nso, drop_spec_finalizer, (void *)"kubernetes");
    if (json_array_size(json_object_get(json_object_get(nso, "metadata"), "finalizers")) == 0) {
        kobj_status st = {0};
        if (kobj_do_delete(api, kres_lookup("", "v1", "namespaces"), NULL, ns, &st) >= 0)
            changed++;
        kobj_status_release(&st);
    }
    return changed;
}

static int namespace_pass(kobj_api *api, snapshot *s)
{
    int changed = 0;
    for (size_t i = 0; i < s->all.n; i++) {
        const char *key = s->all.items[i].key;
        if (!dd_startswith(key, "/registry/core/namespaces/"))
            continue;
        json_t *o = json_array_get(s->objs, i);
        if (kobj_meta_str(o, "deletionTimestamp"))
            changed += finish_namespace(api, s, o, key);
    }
    return changed;
}

/* Events expire an hour after they last happened (k3s's --event-ttl default), as upstream's
 * etcd leases make them; checked once a minute. Both Event APIs store under the core key
 * (convert.c); the events.k8s.io prefix only holds Events written before that, left to expire.
 * An ongoing series (events.k8s.io's recorder updates series.lastObservedTime) keeps it. */
#define EVENT_TTL_NS (3600LL * 1000000000LL)

static int64_t event_time(const json_t *ev)
{
    static const char *const fields[] = {"lastTimestamp", "eventTime", "firstTimestamp"};
    int64_t best = 0, t;
    for (size_t i = 0; i < DD_ARRAY_SIZE(fields); i++) {
        const char *s = json_string_value(json_object_get(ev, fields[i]));
        if (s && dd_parse_rfc3339(s, &t) == 0 && t > best)
            best = t;
    }
    const char *seen =
        json_string_value(json_object_get(json_object_get(ev, "series"), "lastObservedTime"));
    if (seen && dd_parse_rfc3339(seen, &t) == 0 && t > best)
        best = t;
    const char *created = kobj_meta_str(ev, "creationTimestamp");
    if (!best && created && dd_parse_rfc3339(created, &t) == 0)
        best = t;
    return best;
}

static int expire_events(kobj_api *api)
{
    static const char *const prefixes[] = {"/registry/core/events/",
                                           "/registry/events.k8s.io/events/"};
    int64_t now = dd_now_ns();
    int changed = 0;
    for (size_t p = 0; p < DD_ARRAY_SIZE(prefixes); p++) {
        kst_list l;
        if (kst_list_prefix(api->store, prefixes[p], NULL, 0, 0, &l, NULL) < 0)
            continue;
        for (size_t i = 0; i < l.n; i++) {
            json_t *ev = kobj_parse_value(l.items[i].value, l.items[i].len);
            int64_t t = ev ? event_time(ev) : 0;
            if (t && now - t > EVENT_TTL_NS &&
                kst_delete(api->store, l.items[i].key, l.items[i].mod_rev, NULL, NULL, NULL) == 0)
                changed++;
            json_decref(ev);
        }
        kst_list_release(&l);
    }
    return changed;
}

/* Store watch callback: cheap text checks decide whether a pass is worth running. */
void kobj_note_change(void *userdata, const kst_event *ev)
{
    kobj_api *api = userdata;
    if (ev->type == KST_EV_DELETE ||
        (ev->kv->value && (strstr(ev->kv->value, "\"deletionTimestamp\"") ||
                           strstr(ev->kv->value, "\"ownerReferences\""))))
        api->dirty = true;
}

int kobj_run_controllers(kobj_api *api, dd_err *e)
{
    int changed = 0, r;
    if (api->dirty) {
        snapshot s = {0};
        r = take_snapshot(api, &s, e);
        if (r < 0)
            return r;
        api->dirty = false;
        changed = namespace_pass(api, &s);
        changed += gc_pass(api, &s);
        snapshot_release(&s);
        /* objects waiting on others (foreground owners, terminating namespaces) need another
         * look once those change; the watch sets dirty again when they do */
        if (changed)
            api->dirty = true;
    }
    int64_t mono = dd_mono_ns();
    if (!api->events_swept_ns || mono - api->events_swept_ns > 60LL * 1000000000LL) {
        api->events_swept_ns = mono;
        changed += expire_events(api);
    }
    r = kst_compact(api->store, e);
    return r < 0 ? r : changed;
}
