/* impersonate.c: acting as another user (kubectl --as / --as-group / --as-uid), as upstream's
 * impersonation filter does it. The headers Impersonate-User, Impersonate-Group (repeatable),
 * Impersonate-Uid and Impersonate-Extra-<key> each need the caller's "impersonate" permission
 * on users / groups / serviceaccounts (core group) or uids / userextras (authentication.k8s.io);
 * the request then runs as the requested user alone. A "system:serviceaccount:NS:NAME" user is
 * that ServiceAccount, with its two groups unless groups are given; a non-anonymous user also
 * gets system:authenticated (system:unauthenticated for system:anonymous) unless one of them is
 * named. Extra values are authorized but not kept: nothing here reads a user's extras.
 */
#include <ctype.h>
#include <stdio.h>
#include <strings.h>

#include "k3core/server/server-internal.h"

#define EXTRA_PREFIX "Impersonate-Extra-"

static bool is_sa(const char *name, char **ret_ns, char **ret_name)
{
    static const char prefix[] = "system:serviceaccount:";
    if (strncmp(name, prefix, sizeof(prefix) - 1))
        return false;
    const char *ns = name + sizeof(prefix) - 1, *colon = strchr(ns, ':');
    if (!colon || colon == ns || !colon[1] || strchr(colon + 1, ':'))
        return false;
    *ret_ns = dd_strndup(ns, (size_t)(colon - ns));
    *ret_name = dd_strdup(colon + 1);
    return true;
}

/* Checks one impersonation; 403 Status in st like upstream's responsewriters.Forbidden. */
static int allowed(struct ksrv *s, const struct kuser *caller, const char *group,
                   const char *resource, const char *sub, const char *ns, const char *name,
                   kobj_status *st)
{
    struct kattr a = {.verb = "impersonate",
                      .group = group,
                      .resource = resource,
                      .sub = sub,
                      .ns = ns,
                      .name = name};
    if (ksrv_authorize(s, caller, &a, NULL))
        return 0;
    const char *scope = ns ? "in the namespace \"" : "at the cluster scope";
    kobj_fail(st, 403, "Forbidden",
              "%s%s%s \"%s\" is forbidden: User \"%s\" cannot impersonate resource \"%s%s%s\" "
              "in API group \"%s\" %s%s%s",
              resource, *group ? "." : "", group, name, caller->name ? caller->name : "", resource,
              sub ? "/" : "", sub ? sub : "", group, scope, ns ? ns : "", ns ? "\"" : "");
    snprintf(st->name, sizeof(st->name), "%s", name);
    snprintf(st->group, sizeof(st->group), "%s", group);
    snprintf(st->kind, sizeof(st->kind), "%s", resource);
    return -1;
}

static void add_default_groups(struct kuser *u)
{
    bool anon = dd_streq(u->name, "system:anonymous");
    if (kuser_in_group(u, "system:unauthenticated") ||
        (!anon && kuser_in_group(u, "system:authenticated")))
        return;
    u->groups = dd_strv_push(u->groups, anon ? "system:unauthenticated" : "system:authenticated");
}

int ksrv_impersonate(struct ksrv *s, http_req *req, struct kuser *u, kobj_status *st)
{
    const char *user = http_req_header(req, "Impersonate-User");
    const char *uid = http_req_header(req, "Impersonate-Uid");
    bool any_group = false, any_extra = false;
    const char *k, *v;
    for (size_t i = 0; http_req_header_at(req, i, &k, &v); i++) {
        any_group |= !strcasecmp(k, "Impersonate-Group");
        any_extra |= !strncasecmp(k, EXTRA_PREFIX, strlen(EXTRA_PREFIX));
    }
    if (user && !*user)
        user = NULL;
    if (!user && !any_group && !any_extra && !uid)
        return 0;
    if (!user)
        return kobj_fail(st, 500, "InternalError",
                         "Internal error occurred: requesting uid, groups or user-extra without "
                         "impersonating a user");
    struct kuser as = {0};
    int r = 0;
    if (is_sa(user, &as.sa_ns, &as.sa_name)) {
        r = allowed(s, u, "", "serviceaccounts", NULL, as.sa_ns, as.sa_name, st);
        if (!any_group) {
            as.groups = dd_strv_push(as.groups, "system:serviceaccounts");
            as.groups =
                dd_strv_consume(as.groups, dd_asprintf("system:serviceaccounts:%s", as.sa_ns));
        }
    } else {
        r = allowed(s, u, "", "users", NULL, NULL, user, st);
    }
    as.name = dd_strdup(user);
    for (size_t i = 0; r == 0 && http_req_header_at(req, i, &k, &v); i++) {
        if (!strcasecmp(k, "Impersonate-Group")) {
            r = allowed(s, u, "", "groups", NULL, NULL, v, st);
            if (!dd_strv_contains(as.groups, v))
                as.groups = dd_strv_push(as.groups, v);
        } else if (!strncasecmp(k, EXTRA_PREFIX, strlen(EXTRA_PREFIX))) {
            _cleanup_free_ char *key = dd_strdup(k + strlen(EXTRA_PREFIX));
            for (char *p = key; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            r = allowed(s, u, "authentication.k8s.io", "userextras", key, NULL, v, st);
        }
    }
    if (r == 0 && uid) {
        r = allowed(s, u, "authentication.k8s.io", "uids", NULL, NULL, uid, st);
        as.uid = dd_strdup(uid);
    }
    if (r < 0) {
        kuser_release(&as);
        return r;
    }
    add_default_groups(&as);
    kuser_release(u);
    *u = as;
    return 0;
}
