/* filters: decoding of the `filters` query parameter and the container list predicates
 * (id, name, label, status, exited, ancestor, before, since, network, volume, health, is-task).
 * Each key's values are ORed; different keys are ANDed, as in dockerd. The events endpoint uses
 * the decoder and label matcher with its own predicates.
 */
#include <regex.h>
#include <stdio.h>

#include "container-internal.h"
#include "health.h"
#include "dind/image.h"
#include "dind/json.h"
#include "filters.h"

void flt_release(struct flt *f)
{
    for (size_t i = 0; i < f->n; i++) {
        free(f->v[i].key);
        dd_strv_free(f->v[i].values);
    }
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

static int add_values(struct flt_entry *ent, const char *key, json_t *v, dd_err *e)
{
    const char *k;
    json_t *x;
    if (json_is_object(v)) {
        json_object_foreach(v, k, x) ent->values = dd_strv_push(ent->values, k);
        return 0;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            x = json_array_get(v, i);
            if (!json_is_string(x))
                return dd_err_set(e, EINVAL, "invalid filter '%s': values must be strings", key);
            ent->values = dd_strv_push(ent->values, json_string_value(x));
        }
        return 0;
    }
    return dd_err_set(e, EINVAL, "invalid filter '%s': expected an object or a list", key);
}

int flt_parse(const char *text, const char *const *allowed, struct flt *ret, dd_err *e)
{
    json_t *root = NULL, *v;
    const char *key;
    int r = 0;
    memset(ret, 0, sizeof(*ret));
    if (!text || !*text)
        return 0;
    if ((r = jx_parse(text, strlen(text), &root, e)) < 0)
        return r;
    if (!json_is_object(root)) {
        json_decref(root);
        return dd_err_set(e, EINVAL, "invalid filters: expected a JSON object");
    }
    json_object_foreach(root, key, v)
    {
        if (allowed && !dd_strv_contains((char *const *)allowed, key)) {
            r = dd_err_set(e, EINVAL, "invalid filter '%s'", key);
            break;
        }
        ret->v = dd_realloc(ret->v, (ret->n + 1) * sizeof(*ret->v));
        struct flt_entry *ent = &ret->v[ret->n++];
        ent->key = dd_strdup(key);
        ent->values = dd_calloc(1, sizeof(char *));
        if ((r = add_values(ent, key, v, e)) < 0)
            break;
    }
    json_decref(root);
    if (r < 0)
        flt_release(ret);
    return r;
}

char *const *flt_get(const struct flt *f, const char *key)
{
    for (size_t i = 0; i < f->n; i++)
        if (dd_streq(f->v[i].key, key))
            return f->v[i].values;
    return NULL;
}

bool flt_label_match(const json_t *labels, const char *want)
{
    const char *eq = strchr(want, '=');
    if (!eq)
        return json_object_get(labels, want) != NULL;
    _cleanup_free_ char *k = dd_strndup(want, (size_t)(eq - want));
    const char *have = json_string_value(json_object_get(labels, k));
    return have && strcmp(have, eq + 1) == 0;
}

bool flt_regex_match(const char *pattern, const char *s)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
        return false;
    bool m = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return m;
}

static const char *const statuses[] = {"created", "restarting", "running", "removing",
                                       "paused",  "exited",     "dead",    NULL};

int flt_containers_check(struct ctr_store *s, const struct flt *f, dd_err *e)
{
    char *const *v;
    if ((v = flt_get(f, "status")))
        for (size_t i = 0; v[i]; i++)
            if (!dd_strv_contains((char *const *)statuses, v[i]))
                return dd_err_set(e, EINVAL, "Invalid filter 'status=%s'", v[i]);
    static const char *const refs[] = {"before", "since"};
    for (size_t k = 0; k < 2; k++) {
        if (!(v = flt_get(f, refs[k])))
            continue;
        for (size_t i = 0; v[i]; i++) {
            struct container *c;
            int r = ctr_lookup(s, v[i], &c, e);
            if (r < 0)
                return r;
        }
    }
    if ((v = flt_get(f, "exited")))
        for (size_t i = 0; v[i]; i++) {
            int64_t n;
            if (dd_parse_int64(v[i], &n) < 0)
                return dd_err_set(e, EINVAL, "invalid filter 'exited=%s'", v[i]);
        }
    if ((v = flt_get(f, "health")))
        for (size_t i = 0; v[i]; i++)
            if (!health_status_valid(v[i]))
                return dd_err_set(e, EINVAL, "Unrecognised filter value for health: %s", v[i]);
    return 0;
}

static bool any_of(char *const *vals, bool (*pred)(const struct container *, const char *),
                   const struct container *c)
{
    if (!vals || !vals[0])
        return true;
    for (size_t i = 0; vals[i]; i++)
        if (pred(c, vals[i]))
            return true;
    return false;
}

static bool p_id(const struct container *c, const char *v)
{
    return dd_startswith(c->id, v) || flt_regex_match(v, c->id);
}

static bool p_name(const struct container *c, const char *v)
{
    return flt_regex_match(v, c->name) || flt_regex_match(v, c->name + 1);
}

static bool p_status(const struct container *c, const char *v)
{
    return dd_streq(ctr_status_name(c->st.status), v);
}

static bool p_exited(const struct container *c, const char *v)
{
    int64_t n = -1;
    dd_parse_int64(v, &n);
    return c->st.status == CTR_EXITED && c->st.exit_code == n;
}

static bool p_network(const struct container *c, const char *v)
{
    const char *m = dd_streq(c->network_mode, "default") ? "bridge" : c->network_mode;
    return dd_streq(m, v);
}

static bool p_volume(const struct container *c, const char *v)
{
    json_t *binds = json_object_get(c->host_config, "Binds");
    for (size_t i = 0; i < json_array_size(binds); i++) {
        const char *b = json_string_value(json_array_get(binds, i));
        size_t n = strcspn(b, ":");
        if ((strlen(v) == n && strncmp(b, v, n) == 0) || strstr(b, v))
            return true;
    }
    for (size_t i = 0; i < json_array_size(c->volumes); i++) { /* named and anonymous volumes */
        json_t *m = json_array_get(c->volumes, i);
        if (dd_streq(json_string_value(json_object_get(m, "Name")), v) ||
            dd_streq(json_string_value(json_object_get(m, "Destination")), v))
            return true;
    }
    return false;
}

static bool p_health(const struct container *c, const char *v)
{
    return dd_streq(v, health_status(c->health));
}

static bool p_is_task(const struct container *c, const char *v)
{
    return !dd_parse_bool(v);
}

static bool ancestor_match(struct ctr_store *s, const struct container *c, char *const *vals)
{
    if (!vals || !vals[0])
        return true;
    for (size_t i = 0; vals[i]; i++) {
        img_image *img = NULL;
        if (dd_streq(c->image, vals[i]))
            return true;
        if (img_lookup(ctr_store_images(s), vals[i], &img, NULL) == 0) {
            bool m = dd_streq(img->id, c->image_id);
            img_image_free(img);
            if (m)
                return true;
        }
    }
    return false;
}

static bool time_bound(struct ctr_store *s, const struct container *c, char *const *vals,
                       bool before)
{
    for (size_t i = 0; vals && vals[i]; i++) {
        struct container *ref = NULL;
        if (ctr_lookup(s, vals[i], &ref, NULL) < 0)
            return false;
        if (before ? c->created_ns >= ref->created_ns : c->created_ns <= ref->created_ns)
            return false;
    }
    return true;
}

bool flt_container_match(struct ctr_store *s, const struct flt *f, const struct container *c)
{
    char *const *labels = flt_get(f, "label");
    for (size_t i = 0; labels && labels[i]; i++)
        if (!flt_label_match(json_object_get(c->config, "Labels"), labels[i]))
            return false;
    return any_of(flt_get(f, "id"), p_id, c) && any_of(flt_get(f, "name"), p_name, c) &&
           any_of(flt_get(f, "status"), p_status, c) && any_of(flt_get(f, "exited"), p_exited, c) &&
           any_of(flt_get(f, "network"), p_network, c) &&
           any_of(flt_get(f, "volume"), p_volume, c) && any_of(flt_get(f, "health"), p_health, c) &&
           any_of(flt_get(f, "is-task"), p_is_task, c) &&
           ancestor_match(s, c, flt_get(f, "ancestor")) &&
           time_bound(s, c, flt_get(f, "before"), true) &&
           time_bound(s, c, flt_get(f, "since"), false);
}
