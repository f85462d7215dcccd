/* `docker import`: a rootfs tarball becomes a one-layer image with a minimal config, optionally
 * adjusted by Dockerfile-style change instructions (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD,
 * STOPSIGNAL, USER, VOLUME, WORKDIR — the set dockerd accepts for import). The layer goes through
 * the same verified, staged ingest as `docker load`. */
#include <ctype.h>
#include <stdio.h>
#include <sys/utsname.h>

#include "dind/lib/image/image-internal.h"

static const char *go_arch(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "amd64";
    if (dd_streq(u.machine, "aarch64"))
        return "arm64";
    if (dd_streq(u.machine, "x86_64"))
        return "amd64";
    return "unknown";
}

/* JSON array form (["a","b"]) or shell form (wrapped in /bin/sh -c when shell is set). */
static int parse_argv(const char *arg, bool shell, json_t **ret, dd_err *e)
{
    if (*arg == '[') {
        json_t *v = NULL;
        if (jx_parse(arg, strlen(arg), &v, NULL) == 0 && json_is_array(v)) {
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!json_is_string(json_array_get(v, i))) {
                    json_decref(v);
                    return dd_err_set(e, EINVAL, "invalid JSON array in change \"%s\"", arg);
                }
            *ret = v;
            return 0;
        }
        json_decref(v);
    }
    json_t *a = json_array();
    if (shell) {
        json_array_append_new(a, json_string("/bin/sh"));
        json_array_append_new(a, json_string("-c"));
    }
    json_array_append_new(a, json_string(arg));
    *ret = a;
    return 0;
}

static char *unquote(const char *s, size_t n)
{
    if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0])
        return dd_strndup(s + 1, n - 2);
    return dd_strndup(s, n);
}

/* "k=v k2=\"v 2\"" or the legacy "k v" form; calls add(key, value). */
static int parse_pairs(const char *arg, void (*add)(json_t *, const char *, const char *),
                       json_t *target, dd_err *e)
{
    const char *eq = strchr(arg, '=');
    const char *sp = strpbrk(arg, " \t");
    if (!eq || (sp && sp < eq)) {
        if (!sp)
            return dd_err_set(e, EINVAL, "\"%s\" needs a key and a value", arg);
        _cleanup_free_ char *k = dd_strndup(arg, sp - arg);
        while (isspace((unsigned char)*sp))
            sp++;
        _cleanup_free_ char *v = unquote(sp, strlen(sp));
        add(target, k, v);
        return 0;
    }
    for (const char *p = arg; *p;) {
        while (isspace((unsigned char)*p))
            p++;
        const char *k = p, *q = strchr(p, '=');
        if (!*p)
            break;
        if (!q)
            return dd_err_set(e, EINVAL, "\"%s\": expected key=value", p);
        const char *v = q + 1, *end = v;
        char quote = (*v == '"' || *v == '\'') ? *v : 0;
        if (quote) {
            end = strchr(v + 1, quote);
            if (!end)
                return dd_err_set(e, EINVAL, "unterminated quote in \"%s\"", arg);
            end++;
        } else {
            while (*end && !isspace((unsigned char)*end))
                end++;
        }
        _cleanup_free_ char *key = dd_strndup(k, q - k);
        _cleanup_free_ char *val = unquote(v, end - v);
        add(target, key, val);
        p = end;
    }
    return 0;
}

static void add_env(json_t *env, const char *k, const char *v)
{
    _cleanup_free_ char *kv = dd_asprintf("%s=%s", k, v);
    size_t kl = strlen(k);
    for (size_t i = 0; i < json_array_size(env); i++) {
        const char *cur = json_string_value(json_array_get(env, i));
        if (cur && !strncmp(cur, k, kl) && cur[kl] == '=') {
            json_array_set_new(env, i, json_string(kv));
            return;
        }
    }
    json_array_append_new(env, json_string(kv));
}

static void add_label(json_t *labels, const char *k, const char *v)
{
    json_object_set_new(labels, k, json_string(v));
}

static json_t *member(json_t *cfg, const char *key, json_t *(*make)(void))
{
    json_t *v = json_object_get(cfg, key);
    if (!v || json_is_null(v)) {
        v = make();
        json_object_set_new(cfg, key, v);
    }
    return v;
}

static int apply_set(json_t *cfg, const char *kw, const char *arg, dd_err *e)
{
    if (!strcasecmp(kw, "EXPOSE") || !strcasecmp(kw, "VOLUME")) {
        bool expose = !strcasecmp(kw, "EXPOSE");
        json_t *set = member(cfg, expose ? "ExposedPorts" : "Volumes", json_object);
        json_t *list = NULL;
        if (!expose && *arg == '[' && parse_argv(arg, false, &list, NULL) == 0) {
            for (size_t i = 0; i < json_array_size(list); i++)
                json_object_set_new(set, json_string_value(json_array_get(list, i)), json_object());
            json_decref(list);
            return 0;
        }
        _cleanup_free_ char *copy = dd_strdup(arg);
        for (char *save = NULL, *t = strtok_r(copy, " \t", &save); t;
             t = strtok_r(NULL, " \t", &save)) {
            _cleanup_free_ char *k =
                expose && !strchr(t, '/') ? dd_asprintf("%s/tcp", t) : dd_strdup(t);
            json_object_set_new(set, k, json_object());
        }
        return 0;
    }
    if (!strcasecmp(kw, "ENV"))
        return parse_pairs(arg, add_env, member(cfg, "Env", json_array), e);
    return parse_pairs(arg, add_label, member(cfg, "Labels", json_object), e);
}

int img_config_apply_change(json_t *cfg, const char *change, dd_err *e)
{
    while (isspace((unsigned char)*change))
        change++;
    size_t kl = strcspn(change, " \t");
    _cleanup_free_ char *kw = dd_strndup(change, kl);
    const char *arg = change + kl;
    while (isspace((unsigned char)*arg))
        arg++;
    static const char *const strings[][2] = {
        {"USER", "User"}, {"WORKDIR", "WorkingDir"}, {"STOPSIGNAL", "StopSignal"}};
    for (size_t i = 0; i < DD_ARRAY_SIZE(strings); i++)
        if (!strcasecmp(kw, strings[i][0])) {
            jx_set_str(cfg, strings[i][1], arg);
            return 0;
        }
    if (!strcasecmp(kw, "CMD") || !strcasecmp(kw, "ENTRYPOINT")) {
        json_t *v;
        int r = parse_argv(arg, true, &v, e);
        if (r >= 0)
            json_object_set_new(cfg, !strcasecmp(kw, "CMD") ? "Cmd" : "Entrypoint", v);
        return r;
    }
    if (!strcasecmp(kw, "ONBUILD")) {
        json_array_append_new(member(cfg, "OnBuild", json_array), json_string(arg));
        return 0;
    }
    if (!strcasecmp(kw, "ENV") || !strcasecmp(kw, "LABEL") || !strcasecmp(kw, "EXPOSE") ||
        !strcasecmp(kw, "VOLUME"))
        return apply_set(cfg, kw, arg, e);
    return dd_err_set(e, EINVAL, "%s is not a valid change command", kw);
}

static int build_config(const char *diff_id, char *const *changes, const char *message, char **ret,
                        size_t *ret_len, dd_err *e)
{
    char now[64];
    dd_format_rfc3339nano(dd_now_ns(), now, sizeof(now));
    json_t *cfg = json_object();
    for (size_t i = 0; changes && changes[i]; i++) {
        int r = img_config_apply_change(cfg, changes[i], e);
        if (r < 0) {
            json_decref(cfg);
            return r;
        }
    }
    json_t *root = json_object(), *rootfs = json_object(), *hist = json_object();
    jx_set_str(root, "architecture", go_arch());
    jx_set_str(root, "os", "linux");
    jx_set_str(root, "created", now);
    jx_set_str(root, "comment", message);
    jx_set_new(root, "config", cfg);
    jx_set_str(rootfs, "type", "layers");
    jx_set_new(rootfs, "diff_ids", json_pack("[s]", diff_id));
    jx_set_new(root, "rootfs", rootfs);
    jx_set_str(hist, "created", now);
    jx_set_str(hist, "comment", message);
    jx_set_new(root, "history", json_pack("[o]", hist));
    *ret = jx_dump(root);
    *ret_len = strlen(*ret);
    json_decref(root);
    return 0;
}

int img_tags_for_ref(const char *ref, const char *digest_refusal, char ***tags, dd_err *e)
{
    *tags = dd_calloc(1, sizeof(char *));
    if (!ref || !*ref)
        return 0;
    img_ref r;
    int rc = img_ref_parse(ref, 0, &r, e);
    if (rc < 0)
        return rc;
    if (r.digest) {
        img_ref_release(&r);
        return dd_err_set(e, EINVAL, "%s", digest_refusal);
    }
    *tags = dd_strv_consume(*tags, img_ref_string(&r));
    img_ref_release(&r);
    return 0;
}

int img_import(img_store *st, int fd, const char *ref, char *const *changes, const char *message,
               img_load_result *ret, dd_err *e)
{
    if (st->readonly)
        return dd_err_set(e, EROFS, "the image store is read-only");
    img_pending p = {0};
    p.n_layers = 1;
    p.layers = dd_calloc(1, sizeof(*p.layers));
    _cleanup_free_ char *stage = NULL;
    int r = img_tags_for_ref(ref, "cannot import digest reference", &p.tags, e);
    if (r >= 0) /* check the changes before reading a byte */
        r = build_config("sha256:0", changes, "", &p.config, &p.config_len, e);
    free(p.config);
    p.config = NULL;
    if (r >= 0)
        r = img_stage_dir(st, "import", &stage, e);
    if (r >= 0)
        r = img_layer_ingest(st, stage, fd, NULL, NULL, &p.layers[0], e);
    if (r >= 0)
        r = build_config(p.layers[0].diff_id, changes,
                         message && *message ? message : "Imported from -", &p.config,
                         &p.config_len, e);
    if (r >= 0) {
        img_sha256_str(p.config, p.config_len, p.id);
        r = img_commit(st, &p, 1, ret, e);
    }
    img_pending_release(&p);
    if (stage)
        (void)dd_rm_rf(stage, NULL);
    return r < 0 ? dd_err_wrap(e, "importing") : 0;
}
