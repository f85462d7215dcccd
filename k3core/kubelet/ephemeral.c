/* ephemeral.c: ephemeral containers (`kubectl debug`), added to a running pod through the
 * pods/ephemeralcontainers subresource. Each new name in spec.ephemeralContainers becomes a
 * container of the pod that is started once in the pod's namespaces (and, with
 * targetContainerName, in the process namespace of that container), is never restarted, has no
 * probes or hooks (the API refuses them), is stopped with the pod, and is reported in
 * status.ephemeralContainerStatuses.
 */
#include <stdio.h>

#include "k3core/kubelet/kubelet-internal.h"

static struct kl_ctr *find_eph(struct kl_pod *p, const char *name)
{
    for (size_t i = 0; i < p->n_eph; i++)
        if (dd_streq(p->eph[i]->name, name))
            return p->eph[i];
    return NULL;
}

/* Records the ephemeral containers new in the spec (they are only ever added). */
static void add_new(struct kl_pod *p)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(json_object_get(p->obj, "spec"), "ephemeralContainers"), i,
                       c)
    {
        if (find_eph(p, kl_str(c, "name", NULL) ?: ""))
            continue;
        struct kl_ctr *x = dd_malloc(sizeof(*x));
        kl_ctr_init(p, x, c, false);
        x->ephemeral = true;
        p->eph = dd_realloc(p->eph, (p->n_eph + 1) * sizeof(*p->eph));
        p->eph[p->n_eph++] = x;
    }
}

void kl_eph_sync(struct kl_pod *p)
{
    add_new(p);
    for (size_t i = 0; i < p->n_eph; i++) {
        struct kl_ctr *c = p->eph[i];
        if (c->rt_id)
            kl_ctr_check(c);
        else if (!json_object_get(c->state, "terminated"))
            kl_ctr_start(c); /* a failed start stays waiting and is tried again next sync */
    }
}

json_t *kl_eph_statuses(struct kl_pod *p)
{
    if (!p->n_eph)
        return NULL;
    json_t *a = json_array();
    for (size_t i = 0; i < p->n_eph; i++)
        json_array_append_new(a, kl_ctr_status(p->eph[i]));
    return a;
}

int kl_eph_target_pidns(struct kl_ctr *c, char **ret, dd_err *e)
{
    const char *target = kl_str(c->spec, "targetContainerName", NULL);
    *ret = NULL;
    if (!target || !*target)
        return 0;
    struct kl_pod *p = c->pod;
    struct kl_ctr *t = NULL;
    for (size_t i = 0; i < p->n_ctrs && !t; i++)
        if (dd_streq(p->ctrs[i].name, target))
            t = &p->ctrs[i];
    if (!t)
        return dd_err_set(e, ENOENT, "target container \"%s\" is not a container of pod %s", target,
                          p->name);
    struct rt_state s = {0};
    int r = t->rt_id ? rt_state(t->state_dir, &s, e) : 0;
    if (r >= 0 && (s.status != RT_RUNNING || s.pid <= 0))
        r = dd_err_set(e, ESRCH, "target container \"%s\" is not running", target);
    if (r >= 0)
        *ret = dd_asprintf("/proc/%d/ns/pid", (int)s.pid);
    rt_state_release(&s);
    return r;
}
