/* Registry manifests as untrusted input: Docker schema 2 and OCI image manifests, Docker manifest
 * lists and OCI indexes, parsed into one neutral form, and the platform choice dockerd makes in
 * an index (os, architecture, then variant with arm's defaults). Fetching and verifying the
 * bytes is registry.c's and pull.c's business; schema 1 (signed, deprecated) is refused. */
#include <stdio.h>
#include <sys/utsname.h>

#include "dind/lib/image/image-internal.h"

static bool is_index_type(const char *mt)
{
    return dd_streq(mt, IMG_MT_DOCKER_LIST) || dd_streq(mt, IMG_MT_OCI_INDEX);
}

static bool is_manifest_type(const char *mt)
{
    return dd_streq(mt, IMG_MT_DOCKER_MANIFEST) || dd_streq(mt, IMG_MT_OCI_MANIFEST);
}

static void desc_release(img_descriptor *d)
{
    free(d->media_type);
    free(d->os);
    free(d->arch);
    free(d->variant);
    *d = (img_descriptor){0};
}

void img_manifest_release(img_manifest *m)
{
    if (!m)
        return;
    desc_release(&m->config);
    for (size_t i = 0; i < m->n; i++)
        desc_release(&m->items[i]);
    free(m->items);
    free(m->media_type);
    *m = (img_manifest){0};
}

static char *opt_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(jx_get(o, key));
    return s ? dd_strdup(s) : NULL;
}

static int parse_desc(const json_t *o, bool platform, img_descriptor *d, dd_err *e)
{
    if (!json_is_object(o))
        return dd_err_set(e, EINVAL, "a descriptor is not an object");
    const char *digest = json_string_value(jx_get(o, "digest"));
    json_t *size = jx_get(o, "size");
    if (!digest || !img_digest_valid(digest))
        return dd_err_set(e, EINVAL, "a descriptor has no valid sha256 digest");
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return dd_err_set(e, EINVAL, "descriptor %s has no valid size", digest);
    snprintf(d->digest, sizeof(d->digest), "%s", digest);
    d->size = json_integer_value(size);
    d->media_type = opt_str(o, "mediaType");
    if (platform) {
        json_t *p = jx_get(o, "platform");
        d->os = opt_str(p, "os");
        d->arch = opt_str(p, "architecture");
        d->variant = opt_str(p, "variant");
    }
    return 0;
}

static int parse_items(const json_t *arr, bool platform, img_manifest *m, dd_err *e)
{
    if (!json_is_array(arr))
        return dd_err_set(e, EINVAL, "%s is not an array", platform ? "manifests" : "layers");
    size_t n = json_array_size(arr);
    if (n > 4096)
        return dd_err_set(e, EINVAL, "too many entries (%zu)", n);
    m->items = dd_calloc(n ? n : 1, sizeof(*m->items));
    for (size_t i = 0; i < n; i++) {
        int r = parse_desc(json_array_get(arr, i), platform, &m->items[i], e);
        m->n = i + 1;
        if (r < 0)
            return r;
    }
    return 0;
}

/* The type the document says it is: its mediaType, else the response's Content-Type, else
 * guessed from its shape (OCI allows mediaType to be absent). */
static int doc_type(const char *content_type, const json_t *doc, const char **ret, dd_err *e)
{
    const char *mt = json_string_value(jx_get(doc, "mediaType"));
    json_t *sv = jx_get(doc, "schemaVersion");
    if (json_is_integer(sv) && json_integer_value(sv) == 1)
        return dd_err_set(e, EINVAL,
                          "Docker Image manifest version 2, schema 1 is not supported; push the "
                          "image again with a current client");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2)
        return dd_err_set(e, EINVAL, "unsupported manifest schemaVersion");
    if (!mt && content_type && (is_index_type(content_type) || is_manifest_type(content_type)))
        mt = content_type;
    if (!mt)
        mt = jx_get(doc, "manifests") ? IMG_MT_OCI_INDEX : IMG_MT_OCI_MANIFEST;
    if (!is_index_type(mt) && !is_manifest_type(mt))
        return dd_err_set(e, EINVAL, "unsupported manifest media type \"%s\"", mt);
    *ret = mt;
    return 0;
}

int img_manifest_parse(const char *content_type, const char *data, size_t len, img_manifest *ret,
                       dd_err *e)
{
    *ret = (img_manifest){0};
    if (len > IMG_MAX_MANIFEST)
        return dd_err_set(e, EINVAL, "manifest is too large (%zu bytes)", len);
    json_t *doc = NULL;
    int r = jx_parse(data, len, &doc, e);
    if (r < 0) {
        dd_err_wrap(e, "parsing the manifest");
        return r;
    }
    const char *mt = NULL;
    img_manifest m = {0};
    if (!json_is_object(doc))
        r = dd_err_set(e, EINVAL, "the manifest is not a JSON object");
    if (r >= 0)
        r = doc_type(content_type, doc, &mt, e);
    if (r >= 0) {
        m.media_type = dd_strdup(mt);
        m.is_index = is_index_type(mt);
        if (m.is_index) {
            r = parse_items(jx_get(doc, "manifests"), true, &m, e);
        } else {
            r = parse_desc(jx_get(doc, "config"), false, &m.config, e);
            if (r >= 0)
                r = parse_items(jx_get(doc, "layers"), false, &m, e);
        }
    }
    json_decref(doc);
    if (r < 0) {
        img_manifest_release(&m);
        dd_err_wrap(e, "invalid manifest");
        return r;
    }
    *ret = m;
    return 0;
}

/* ---- platforms ---- */

const char *img_host_platform(void)
{
    struct utsname u;
    if (uname(&u) < 0)
        return "linux/amd64";
    if (dd_streq(u.machine, "x86_64"))
        return "linux/amd64";
    if (dd_streq(u.machine, "aarch64") || dd_streq(u.machine, "arm64"))
        return "linux/arm64/v8";
    if (dd_startswith(u.machine, "armv7"))
        return "linux/arm/v7";
    if (dd_startswith(u.machine, "armv6"))
        return "linux/arm/v6";
    if (dd_streq(u.machine, "i686") || dd_streq(u.machine, "i386"))
        return "linux/386";
    if (dd_streq(u.machine, "s390x") || dd_streq(u.machine, "ppc64le") ||
        dd_streq(u.machine, "riscv64"))
        return dd_streq(u.machine, "s390x")     ? "linux/s390x"
               : dd_streq(u.machine, "ppc64le") ? "linux/ppc64le"
                                                : "linux/riscv64";
    return "linux/amd64";
}

/* arm64 images usually omit the variant ("v8" is implied); arm defaults to v7. */
static const char *norm_variant(const char *arch, const char *variant)
{
    if (variant && *variant)
        return variant;
    if (dd_streq(arch, "arm64"))
        return "v8";
    if (dd_streq(arch, "arm"))
        return "v7";
    return "";
}

int img_manifest_choose(const img_manifest *idx, const char *platform, size_t *ret_index, dd_err *e)
{
    if (!platform || !*platform)
        platform = img_host_platform();
    char os[32] = "", arch[32] = "", variant[32] = "";
    if (sscanf(platform, "%31[^/]/%31[^/]/%31s", os, arch, variant) < 2)
        return dd_err_set(e, EINVAL, "invalid platform \"%s\": want os/arch[/variant]", platform);
    const char *want_var = norm_variant(arch, variant);
    ssize_t loose = -1;
    for (size_t i = 0; i < idx->n; i++) {
        const img_descriptor *d = &idx->items[i];
        if (!dd_streq(d->os, os) || !dd_streq(d->arch, arch))
            continue;
        if (dd_streq(norm_variant(d->arch, d->variant), want_var)) {
            *ret_index = i;
            return 0;
        }
        /* an unspecified variant asked for takes any variant of the architecture */
        if (!*variant && loose < 0)
            loose = (ssize_t)i;
    }
    if (loose >= 0) {
        *ret_index = (size_t)loose;
        return 0;
    }
    return dd_err_set(e, ENOENT, "no matching manifest for %s/%s%s%s in the manifest list entries",
                      os, arch, *variant ? "/" : "", variant);
}
