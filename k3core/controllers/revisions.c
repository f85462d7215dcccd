/* revisions.c: ControllerRevisions for StatefulSets and DaemonSets, as upstream keeps them — one
 * per distinct pod template, named `<owner>-<hash>`, labelled with the template's labels and
 * controller.kubernetes.io/hash, owned by the set, its data the strategic patch
 * {"spec":{"template":{..., "$patch":"replace"}}} that `kubectl rollout undo` applies, its
 * revision one above the others when the template (again) becomes the current one. Revisions
 * beyond spec.revisionHistoryLimit (default 10) that no pod uses are deleted, oldest first.
 */
#include <stdio.h>
#include <stdlib.h>

#include "k3core/controllers/ctl-internal.h"

static const kres_resource *cr_res(void)
{
    return kres_lookup("apps", "v1", "controllerrevisions");
}

/* The set's ControllerRevisions, by the controller reference. */
static json_t *owned(kctl *c, const json_t *owner)
{
    kobj_req req = {.res = cr_res(), .ns = kctl_ns(owner)};
    kobj_list_opts o = {0};
    kobj_status st = {0};
    json_t *l = NULL, *out = json_array(), *cr;
    if (kobj_list(c->api, &req, &o, &l, &st) < 0)
        dd_debug("controllers: listing controllerrevisions: %s", st.message);
    kobj_status_release(&st);
    size_t i;
    json_array_foreach(json_object_get(l, "items"), i, cr)
    {
        if (dd_streq(kctl_str(kctl_controller_ref(cr), "uid", NULL), kctl_uid(owner)))
            json_array_append(out, cr);
    }
    json_decref(l);
    return out;
}

static json_t *new_revision(const json_t *owner, const char *name, const char *hash, int64_t rev)
{
    const json_t *tmpl = json_object_get(json_object_get(owner, "spec"), "template");
    json_t *labels = json_deep_copy(json_object_get(json_object_get(tmpl, "metadata"), "labels"));
    if (!json_is_object(labels)) {
        json_decref(labels);
        labels = json_object();
    }
    jx_set_str(labels, "controller.kubernetes.io/hash", hash);
    json_t *t = json_deep_copy(tmpl);
    jx_set_str(t, "$patch", "replace");
    return json_pack("{s:s,s:s,s:{s:s,s:s,s:o,s:[{s:s,s:s,s:s,s:s,s:b,s:b}]},s:{s:{s:o}},s:I}",
                     "apiVersion", "apps/v1", "kind", "ControllerRevision", "metadata", "name",
                     name, "namespace", kctl_ns(owner), "labels", labels, "ownerReferences",
                     "apiVersion", "apps/v1", "kind", kctl_str(owner, "kind", NULL) ?: "", "name",
                     kctl_name(owner), "uid", kctl_uid(owner) ?: "", "controller", 1,
                     "blockOwnerDeletion", 1, "data", "spec", "template", t, "revision",
                     (json_int_t)rev);
}

static void trim(kctl *c, const json_t *owner, json_t *crs, const char *keep, const char *in_use)
{
    int64_t limit = kctl_int(json_object_get(owner, "spec"), "revisionHistoryLimit", NULL, 10);
    for (int64_t excess = (int64_t)json_array_size(crs) - limit; excess > 0; excess--) {
        json_t *oldest = NULL, *cr;
        size_t i, at = 0;
        json_array_foreach(crs, i, cr)
        {
            if (dd_streq(kctl_name(cr), keep) || dd_streq(kctl_name(cr), in_use))
                continue;
            if (!oldest ||
                kctl_int(cr, "revision", NULL, 0) < kctl_int(oldest, "revision", NULL, 0))
                oldest = cr, at = i;
        }
        if (!oldest)
            return;
        kctl_delete(c, cr_res(), kctl_ns(oldest), kctl_name(oldest), NULL);
        json_array_remove(crs, at);
    }
}

int kctl_ensure_revision(kctl *c, const json_t *owner, const char *name, const char *hash,
                         const char *in_use)
{
    json_t *crs = owned(c, owner), *cr, *mine = NULL;
    int64_t max = 0;
    size_t i;
    json_array_foreach(crs, i, cr)
    {
        if (dd_streq(kctl_name(cr), name))
            mine = cr;
        else if (kctl_int(cr, "revision", NULL, 0) > max)
            max = kctl_int(cr, "revision", NULL, 0);
    }
    int r = 0;
    if (!mine) {
        json_t *n = new_revision(owner, name, hash, max + 1);
        r = n ? kctl_create(c, cr_res(), kctl_ns(owner), n, NULL) : -EINVAL;
        json_decref(n);
    } else if (kctl_int(mine, "revision", NULL, 0) <= max) {
        json_t *upd = json_deep_copy(mine);
        jx_set_int(upd, "revision", max + 1);
        r = kctl_update(c, cr_res(), upd);
        json_decref(upd);
    }
    if (r == 0)
        trim(c, owner, crs, name, in_use);
    json_decref(crs);
    return r == -EEXIST ? 0 : r;
}
