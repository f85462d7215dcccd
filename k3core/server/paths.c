/* paths.c: splits Kubernetes resource paths the way the upstream RequestInfoFactory does:
 * /api/{v}/..., /apis/{g}/{v}/..., optional /namespaces/{ns}/, then {resource}[/{name}[/{sub}]],
 * with `namespaces/{name}/status|finalize` as namespace subresources and the legacy /watch/
 * prefix; a proxy subresource may go on with a path ({resource}/{name}/proxy/...), which is
 * left out here. Anything else longer is not a resource path.
 */
#include "k3core/server/server-internal.h"

void kpath_release(struct kpath *p)
{
    free(p->group);
    free(p->version);
    free(p->ns);
    free(p->resource);
    free(p->name);
    free(p->sub);
    memset(p, 0, sizeof(*p));
}

static char **split(const char *path)
{
    char **v = NULL;
    _cleanup_free_ char *copy = dd_strdup(path);
    char *save = NULL;
    for (char *t = strtok_r(copy, "/", &save); t; t = strtok_r(NULL, "/", &save))
        v = dd_strv_push(v, t);
    return v;
}

/* Returns 0 for a resource path, 1 for /apis/{g} (group only), 2 for /api/{v} or /apis/{g}/{v},
 * -ENOENT otherwise. */
int kpath_parse(const char *path, struct kpath *p)
{
    memset(p, 0, sizeof(*p));
    _cleanup_strv_free_ char **parts = split(path);
    size_t n = dd_strv_len(parts), i;
    if (n >= 2 && !strcmp(parts[0], "api")) {
        p->group = dd_strdup("");
        p->version = dd_strdup(parts[1]);
        i = 2;
    } else if (n >= 2 && !strcmp(parts[0], "apis")) {
        p->group = dd_strdup(parts[1]);
        if (n == 2)
            return 1;
        p->version = dd_strdup(parts[2]);
        i = 3;
    } else {
        return -ENOENT;
    }
    if (i == n)
        return 2;
    if (!strcmp(parts[i], "watch")) {
        p->watch_prefix = true;
        if (++i == n)
            return -ENOENT;
    }
    if (!strcmp(parts[i], "namespaces") && n - i >= 2) {
        p->ns = dd_strdup(parts[i + 1]);
        if (n - i == 2 || !strcmp(parts[i + 2], "status") || !strcmp(parts[i + 2], "finalize")) {
            p->resource = dd_strdup("namespaces");
            p->name = dd_strdup(parts[i + 1]);
            if (n - i == 3)
                p->sub = dd_strdup(parts[i + 2]);
            free(p->ns);
            p->ns = NULL;
            return n - i > 3 ? -ENOENT : 0;
        }
        i += 2;
    }
    /* {pods,services,nodes}/{name}/proxy/{path...}: the proxy subresource with its path */
    bool proxy = n - i > 3 && !strcmp(parts[i + 2], "proxy");
    if (n - i > 3 && !proxy)
        return -ENOENT;
    p->resource = dd_strdup(parts[i]);
    if (n - i >= 2)
        p->name = dd_strdup(parts[i + 1]);
    if (n - i >= 3)
        p->sub = dd_strdup(parts[i + 2]);
    return 0;
}
