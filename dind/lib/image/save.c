/* `docker save` as a pull-model stream. img_save_open() resolves the names and plans the archive
 * (blob files by path, small JSON documents in memory); img_save_read() then produces the tar a
 * piece at a time, so a slow client is served with backpressure and memory stays bounded. The
 * layout is what Docker 25+ writes: docker-archive (manifest.json, repositories) plus an OCI
 * image layout (oci-layout, index.json, manifests) over the same blobs/sha256/ files; dockerd
 * 20.10+ and our own img_load read it. Tar headers are written here (ustar, base-256 sizes). */
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/lib/image/image-internal.h"

#define BLOCK 512

struct item {
    char *name;
    char *path; /* file to stream, or NULL */
    char *mem;  /* in-memory content when path is NULL */
    size_t len;
    bool dir;
};

struct img_save {
    struct item *items;
    size_t n, cur;
    int fd;        /* current file, -1 when none */
    uint64_t left; /* bytes of the current file still to send */
    uint64_t pad;  /* padding after the current file */
    bool header_sent;
    bool ended;
    dd_buf out; /* bytes produced but not yet returned */
};

static void add_item(img_save *s, const char *name, char *path, char *mem, size_t len, bool dir)
{
    for (size_t i = 0; i < s->n; i++)
        if (dd_streq(s->items[i].name, name)) {
            free(path);
            free(mem);
            return;
        }
    s->items = dd_realloc(s->items, (s->n + 1) * sizeof(*s->items));
    s->items[s->n++] = (struct item){dd_strdup(name), path, mem, len, dir};
}

static void put_octal(char *field, size_t width, uint64_t v)
{
    snprintf(field, width, "%0*llo", (int)width - 1, (unsigned long long)v);
}

static void put_size(char *field, uint64_t v)
{
    if (v < 077777777777ULL) {
        put_octal(field, 12, v);
        return;
    }
    memset(field, 0, 12);
    field[0] = (char)0x80;
    for (int i = 11; i > 0 && v; i--, v >>= 8)
        field[i] = (char)(v & 0xff);
}

static void tar_header(dd_buf *b, const char *name, uint64_t size, bool dir)
{
    char h[BLOCK] = {0};
    snprintf(h, 100, "%s", name);
    put_octal(h + 100, 8, dir ? 0755 : 0644);
    put_octal(h + 108, 8, 0);
    put_octal(h + 116, 8, 0);
    put_size(h + 124, size);
    put_octal(h + 136, 12, 0);
    h[156] = dir ? '5' : '0';
    memcpy(h + 257,
           "ustar\0"
           "00",
           8);
    memcpy(h + 265, "root", 4);
    memcpy(h + 297, "root", 4);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    dd_buf_add(b, h, BLOCK);
}

static int start_item(img_save *s, dd_err *e)
{
    struct item *it = &s->items[s->cur];
    uint64_t size = it->len;
    if (it->path) {
        s->fd = open(it->path, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (s->fd < 0 || fstat(s->fd, &st) < 0)
            return dd_err_sys(e, "opening %s", it->path);
        size = st.st_size;
    }
    tar_header(&s->out, it->name, it->dir ? 0 : size, it->dir);
    if (!it->path && !it->dir)
        dd_buf_add(&s->out, it->mem, it->len);
    s->left = it->path ? size : 0;
    s->pad = (BLOCK - size % BLOCK) % BLOCK;
    if (!it->path) {
        dd_buf_grow(&s->out, s->pad);
        memset(s->out.data + s->out.len, 0, s->pad);
        s->out.len += it->dir ? 0 : s->pad;
        s->pad = 0;
    }
    s->header_sent = true;
    return 0;
}

/* Appends up to 64 KiB of the current file (and its padding at the end). */
static int pump_file(img_save *s, dd_err *e)
{
    size_t want = s->left < 65536 ? (size_t)s->left : 65536;
    dd_buf_grow(&s->out, want + BLOCK);
    ssize_t n = read(s->fd, s->out.data + s->out.len, want);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n < 0)
        return dd_err_sys(e, "reading %s", s->items[s->cur].path);
    if (n == 0)
        return dd_err_set(e, EIO, "%s shrank while being saved", s->items[s->cur].path);
    s->out.len += n;
    s->left -= n;
    if (s->left == 0) {
        memset(s->out.data + s->out.len, 0, s->pad);
        s->out.len += s->pad;
    }
    return 0;
}

static int produce(img_save *s, dd_err *e)
{
    if (s->cur < s->n && !s->header_sent)
        return start_item(s, e);
    if (s->cur < s->n && s->left > 0)
        return pump_file(s, e);
    if (s->cur < s->n) {
        if (s->fd >= 0)
            close(s->fd);
        s->fd = -1;
        s->cur++;
        s->header_sent = false;
        return 0;
    }
    if (!s->ended) {
        dd_buf_grow(&s->out, 2 * BLOCK);
        memset(s->out.data + s->out.len, 0, 2 * BLOCK);
        s->out.len += 2 * BLOCK;
        s->ended = true;
    }
    return 0;
}

ssize_t img_save_read(img_save *s, void *buf, size_t len, dd_err *e)
{
    while (s->out.len == 0 && !s->ended) {
        int r = produce(s, e);
        if (r < 0)
            return r;
    }
    size_t n = s->out.len < len ? s->out.len : len;
    memcpy(buf, s->out.data, n);
    dd_buf_consume(&s->out, n);
    return (ssize_t)n;
}

void img_save_close(img_save *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].path);
        free(s->items[i].mem);
    }
    free(s->items);
    if (s->fd >= 0)
        close(s->fd);
    dd_buf_release(&s->out);
    free(s);
}

/* ---- planning ---- */

struct chosen {
    img_image *img;
    char **refs; /* fully qualified tags to record for it */
};

struct plan {
    struct chosen *c;
    size_t n;
};

static struct chosen *chosen_for(struct plan *p, img_image *img)
{
    for (size_t i = 0; i < p->n; i++)
        if (dd_streq(p->c[i].img->id, img->id)) {
            img_image_free(img);
            return &p->c[i];
        }
    p->c = dd_realloc(p->c, (p->n + 1) * sizeof(*p->c));
    p->c[p->n] = (struct chosen){img, dd_calloc(1, sizeof(char *))};
    return &p->c[p->n++];
}

static void chosen_add_ref(struct chosen *c, const char *full)
{
    if (!dd_strv_contains(c->refs, full))
        c->refs = dd_strv_push(c->refs, full);
}

/* A repository without a tag: every tag of that repository. Returns 0 when none matched. */
static int plan_repo(img_store *st, struct plan *p, const char *name, dd_err *e)
{
    img_ref r;
    if (img_ref_parse(name, IMG_REF_NAME_ONLY, &r, NULL) < 0 || r.tag || r.digest) {
        img_ref_release(&r);
        return 0;
    }
    _cleanup_free_ char *repo = img_ref_name(&r);
    img_ref_release(&r);
    _cleanup_stmt_ sqlite3_stmt *q = img_db_prepare(
        st, "SELECT name, image_id FROM refs WHERE substr(name, 1, ?) = ? ORDER BY name", e);
    if (!q)
        return -EIO;
    _cleanup_free_ char *prefix = dd_asprintf("%s:", repo);
    sqlite3_bind_int(q, 1, (int)strlen(prefix));
    sqlite3_bind_text(q, 2, prefix, -1, SQLITE_STATIC);
    int found = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        img_image *img;
        int rc = img_image_load(st, (const char *)sqlite3_column_text(q, 1), &img, e);
        if (rc < 0)
            return rc;
        chosen_add_ref(chosen_for(p, img), (const char *)sqlite3_column_text(q, 0));
        found = 1;
    }
    return found;
}

static int plan_name(img_store *st, struct plan *p, const char *name, dd_err *e)
{
    int r = plan_repo(st, p, name, e);
    if (r != 0)
        return r < 0 ? r : 0;
    img_image *img;
    r = img_lookup(st, name, &img, e);
    if (r < 0)
        return r;
    struct chosen *c = chosen_for(p, img);
    img_ref ref;
    bool by_id = dd_startswith(c->img->id, name) || dd_startswith(c->img->id + 7, name);
    if (!by_id && img_ref_parse(name, 0, &ref, NULL) == 0) {
        _cleanup_free_ char *full = img_ref_string(&ref);
        if (!ref.digest)
            chosen_add_ref(c, full);
        img_ref_release(&ref);
    }
    return 0;
}

static void plan_release(struct plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        img_image_free(p->c[i].img);
        dd_strv_free(p->c[i].refs);
    }
    free(p->c);
}

static char *blob_name(const char *digest)
{
    return dd_asprintf("blobs/sha256/%s", digest + 7);
}

static void add_json(img_save *s, const char *name, json_t *v)
{
    char *text = jx_dump(v);
    json_decref(v);
    add_item(s, name, NULL, text, strlen(text), false);
}

static int64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int64_t)st.st_size : 0;
}

static json_t *descriptor(const char *media_type, const char *digest, int64_t size)
{
    json_t *d = json_object();
    jx_set_str(d, "mediaType", media_type);
    jx_set_str(d, "digest", digest);
    jx_set_int(d, "size", size);
    return d;
}

/* Adds the blobs of one image, its OCI manifest, and returns its manifest.json entry. */
static json_t *plan_image(img_store *st, img_save *s, struct chosen *c, json_t *index)
{
    img_image *img = c->img;
    json_t *entry = json_object(), *layers = json_array(), *olayers = json_array();
    _cleanup_free_ char *cname = blob_name(img->id);
    _cleanup_free_ char *cpath = img_blob_path(st, img->id);
    int64_t csize = file_size(cpath);
    add_item(s, cname, dd_strdup(cpath), NULL, 0, false);
    jx_set_str(entry, "Config", cname);
    for (size_t i = 0; i < img->n_layers; i++) {
        char *lname = blob_name(img->diff_ids[i]);
        char *lpath = img_blob_path(st, img->diff_ids[i]);
        json_array_append_new(olayers, descriptor("application/vnd.oci.image.layer.v1.tar",
                                                  img->diff_ids[i], file_size(lpath)));
        json_array_append_new(layers, json_string(lname));
        add_item(s, lname, lpath, NULL, 0, false);
        free(lname);
    }
    json_t *tags = json_array();
    for (size_t i = 0; c->refs[i]; i++) {
        _cleanup_free_ char *fam = img_familiar(c->refs[i]);
        json_array_append_new(tags, json_string(fam));
    }
    jx_set_new(entry, "RepoTags", tags);
    jx_set_new(entry, "Layers", layers);
    json_t *m = json_object();
    jx_set_int(m, "schemaVersion", 2);
    jx_set_str(m, "mediaType", "application/vnd.oci.image.manifest.v1+json");
    jx_set_new(m, "config", descriptor("application/vnd.oci.image.config.v1+json", img->id, csize));
    jx_set_new(m, "layers", olayers);
    char *mtext = jx_dump(m);
    json_decref(m);
    char mdigest[72];
    img_sha256_str(mtext, strlen(mtext), mdigest);
    _cleanup_free_ char *mname = blob_name(mdigest);
    size_t mlen = strlen(mtext);
    add_item(s, mname, NULL, mtext, mlen, false);
    if (!c->refs[0])
        json_array_append_new(
            index, descriptor("application/vnd.oci.image.manifest.v1+json", mdigest, mlen));
    for (size_t i = 0; c->refs[i]; i++) {
        json_t *d = descriptor("application/vnd.oci.image.manifest.v1+json", mdigest, mlen);
        json_t *ann = json_object();
        img_ref r;
        jx_set_str(ann, "io.containerd.image.name", c->refs[i]);
        if (img_ref_parse(c->refs[i], 0, &r, NULL) == 0 && r.tag)
            jx_set_str(ann, "org.opencontainers.image.ref.name", r.tag);
        img_ref_release(&r);
        jx_set_new(d, "annotations", ann);
        json_array_append_new(index, d);
    }
    return entry;
}

static void add_repositories(img_save *s, const struct plan *p)
{
    json_t *repos = json_object();
    for (size_t i = 0; i < p->n; i++) {
        const img_image *img = p->c[i].img;
        for (size_t j = 0; p->c[i].refs[j] && img->n_layers; j++) {
            img_ref r;
            if (img_ref_parse(p->c[i].refs[j], 0, &r, NULL) < 0)
                continue;
            _cleanup_free_ char *repo = img_ref_familiar_name(&r);
            json_t *tags = json_object_get(repos, repo);
            if (!tags)
                json_object_set_new(repos, repo, tags = json_object());
            jx_set_str(tags, r.tag, img->diff_ids[img->n_layers - 1] + 7);
            img_ref_release(&r);
        }
    }
    add_json(s, "repositories", repos);
}

int img_save_open(img_store *st, char *const *names, img_save **ret, dd_err *e)
{
    struct plan p = {0};
    for (size_t i = 0; names && names[i]; i++) {
        int r = plan_name(st, &p, names[i], e);
        if (r < 0) {
            plan_release(&p);
            return r;
        }
    }
    if (p.n == 0)
        return dd_err_set(e, EINVAL, "no image names given");
    img_save *s = dd_calloc(1, sizeof(*s));
    s->fd = -1;
    add_item(s, "blobs/", NULL, NULL, 0, true);
    add_item(s, "blobs/sha256/", NULL, NULL, 0, true);
    json_t *manifest = json_array(), *index = json_array();
    for (size_t i = 0; i < p.n; i++)
        json_array_append_new(manifest, plan_image(st, s, &p.c[i], index));
    json_t *idx = json_object();
    jx_set_int(idx, "schemaVersion", 2);
    jx_set_str(idx, "mediaType", "application/vnd.oci.image.index.v1+json");
    jx_set_new(idx, "manifests", index);
    add_json(s, "index.json", idx);
    add_json(s, "manifest.json", manifest);
    const char *layout = "{\"imageLayoutVersion\":\"1.0.0\"}";
    add_item(s, "oci-layout", NULL, dd_strdup(layout), strlen(layout), false);
    add_repositories(s, &p);
    plan_release(&p);
    *ret = s;
    return 0;
}

int img_save_fd(img_store *st, char *const *names, int fd, dd_err *e)
{
    img_save *s;
    int r = img_save_open(st, names, &s, e);
    if (r < 0)
        return r;
    char buf[65536];
    for (;;) {
        ssize_t n = img_save_read(s, buf, sizeof(buf), e);
        if (n <= 0) {
            r = (int)n;
            break;
        }
        r = dd_write_all(fd, buf, n);
        if (r < 0) {
            r = dd_err_set(e, -r, "writing the archive: %s", strerror(-r));
            break;
        }
    }
    img_save_close(s);
    return r;
}
