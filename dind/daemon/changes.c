/* changes: `docker diff` (GET /containers/{id}/changes). The container's writable layer is its
 * overlay upper dir (<dir>/upper); every entry there is a change: a whiteout (a 0:0 character
 * device) is a deletion (D), a path the lower layers also have is a modification (C), anything
 * else an addition (A) — dockerd's overlay2 rules. The lower layers are the ones the runtime
 * mounted (the saved spec), searched top-down; a whiteout or a non-directory in a higher layer
 * hides what lies below it. The walk never follows symlinks. Kinds are Docker's numbers: 0 = C,
 * 1 = A, 2 = D; the list is sorted by path.
 */
#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "changes.h"
#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "dind/rt.h"
#include "handlers.h"

bool chg_is_whiteout(const struct stat *st)
{
    return S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0);
}

enum chg_kind chg_kind_of(bool upper_whiteout, bool in_lower)
{
    if (upper_whiteout)
        return CHG_DELETE;
    return in_lower ? CHG_MODIFY : CHG_ADD;
}

/* Whether path (relative, no leading '/') exists in the union of lowers (top layer first). */
bool chg_in_lower(char *const *lowers, const char *path)
{
    for (size_t i = 0; lowers && lowers[i]; i++) {
        struct stat st;
        _cleanup_free_ char *p = dd_asprintf("%s/%s", lowers[i], path);
        if (lstat(p, &st) == 0)
            return !chg_is_whiteout(&st);
        /* a parent replaced by a file or whited out in this layer hides the lower ones */
        _cleanup_free_ char *parent = dd_strdup(path);
        for (char *slash = strrchr(parent, '/'); slash; slash = strrchr(parent, '/')) {
            *slash = '\0';
            _cleanup_free_ char *pp = dd_asprintf("%s/%s", lowers[i], parent);
            if (lstat(pp, &st) == 0) {
                if (!S_ISDIR(st.st_mode))
                    return false;
                break;
            }
        }
    }
    return false;
}

static json_t *chg_acc;
static char *const *chg_lowers;
static size_t chg_root_len;

static int visit(const char *fpath, const struct stat *st, int flag, struct FTW *ftw)
{
    if (ftw->level == 0)
        return 0;
    const char *rel = fpath + chg_root_len + 1;
    bool wh = chg_is_whiteout(st);
    enum chg_kind k = chg_kind_of(wh, !wh && chg_in_lower(chg_lowers, rel));
    json_t *o = json_object();
    jx_set_new(o, "Path", json_sprintf("/%s", rel));
    jx_set_int(o, "Kind", k);
    json_array_append_new(chg_acc, o);
    return 0;
}

static int by_path(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a, "Path")),
                  json_string_value(json_object_get(*(json_t *const *)b, "Path")));
}

int chg_compute(const char *upper, char *const *lowers, json_t **ret, dd_err *e)
{
    chg_acc = json_array();
    chg_lowers = lowers;
    chg_root_len = strlen(upper);
    if (nftw(upper, visit, 32, FTW_PHYS | FTW_MOUNT) < 0) {
        int r = dd_err_sys(e, "walking %s", upper);
        json_decref(chg_acc);
        return r;
    }
    size_t n = json_array_size(chg_acc);
    json_t **v = dd_calloc(n + 1, sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(chg_acc, i));
    qsort(v, n, sizeof(*v), by_path);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    json_decref(chg_acc);
    *ret = out;
    return 0;
}

void containers_h_changes(http_req *req)
{
    dd_err e = {0};
    struct container *c = NULL;
    struct rt_spec spec = {0};
    json_t *out = NULL;
    if (ctr_lookup(dindd_from_req(req)->containers, http_req_param(req, "id"), &c, &e) < 0 ||
        rt_spec_load(c->state_dir, &spec, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    _cleanup_free_ char *upper = dd_path_join(c->dir, "upper");
    int r = chg_compute(upper, spec.lower_dirs, &out, &e);
    rt_spec_release(&spec);
    if (r < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    http_reply_json(req, 200, out);
    json_decref(out);
}
