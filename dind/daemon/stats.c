/* stats: GET /containers/{id}/stats, Docker's stats JSON from the container's cgroup.
 *
 * A sample is read with cg_stats_read() on the cgroup the runtime created (<parent>/<id>, parent
 * from HostConfig.CgroupParent or "dindd"). With stream=1 (the default) one JSON line is sent
 * per second; with stream=0 two samples one second apart give a single answer whose
 * precpu_stats is the first (what `docker stats --no-stream` shows), unless one-shot=1 asks for
 * a single sample at once. The wait is a loop timer, never a sleep. A stopped container answers
 * zeroed stats, as dockerd does.
 */
#include <stdio.h>
#include <unistd.h>

#include "container-internal.h"
#include "dind/cgroup.h"
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "handlers.h"

struct sample {
    struct cg_stats cg;
    uint64_t host_ns;
    int64_t at;
    bool valid;
};

struct stats_stream {
    http_req *req;
    struct container *c;
    ev_timer *timer;
    struct sample prev;
    bool stream, done;
};

static void sample_read(struct container *c, struct sample *s)
{
    struct cg *cg = NULL;
    const char *parent = json_string_value(json_object_get(c->host_config, "CgroupParent"));
    memset(s, 0, sizeof(*s));
    s->at = dd_now_ns();
    cg_host_cpu_ns(&s->host_ns, NULL);
    if (!ctr_is_running(c) ||
        cg_open_existing(parent && *parent ? parent : "dindd", c->id, &cg, NULL) < 0)
        return;
    s->valid = cg_stats_read(cg, &s->cg, NULL) == 0;
    cg_free(cg);
}

static json_t *cpu_json(const struct sample *s)
{
    json_t *usage = json_pack("{s:I,s:I,s:I}", "total_usage", (json_int_t)s->cg.cpu_total_ns,
                              "usage_in_kernelmode", (json_int_t)s->cg.cpu_system_ns,
                              "usage_in_usermode", (json_int_t)s->cg.cpu_user_ns);
    if (s->cg.cpu_percpu_ns) {
        json_t *pc = json_array();
        for (size_t i = 0; i < s->cg.n_percpu; i++)
            json_array_append_new(pc, json_integer((json_int_t)s->cg.cpu_percpu_ns[i]));
        jx_set_new(usage, "percpu_usage", pc);
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    json_t *o = json_pack("{s:o,s:I,s:i}", "cpu_usage", usage, "system_cpu_usage",
                          (json_int_t)s->host_ns, "online_cpus", (int)(ncpu > 0 ? ncpu : 1));
    jx_set_new(o, "throttling_data",
               json_pack("{s:I,s:I,s:I}", "periods", (json_int_t)s->cg.cpu_periods,
                         "throttled_periods", (json_int_t)s->cg.cpu_throttled_periods,
                         "throttled_time", (json_int_t)s->cg.cpu_throttled_ns));
    return o;
}

static json_t *memory_json(const struct sample *s)
{
    if (!s->valid)
        return json_object();
    json_t *st =
        json_pack("{s:I,s:I,s:I,s:I,s:I}", "cache", (json_int_t)s->cg.mem_cache, "rss",
                  (json_int_t)s->cg.mem_rss, "inactive_file", (json_int_t)s->cg.mem_inactive_file,
                  "total_inactive_file", (json_int_t)s->cg.mem_inactive_file, "total_rss",
                  (json_int_t)s->cg.mem_rss);
    return json_pack("{s:I,s:I,s:o,s:I,s:I}", "usage", (json_int_t)s->cg.mem_usage, "max_usage",
                     (json_int_t)s->cg.mem_max_usage, "stats", st, "failcnt",
                     (json_int_t)s->cg.mem_failcnt, "limit", (json_int_t)s->cg.mem_limit);
}

static json_t *blkio_json(const struct sample *s)
{
    json_t *o = json_object();
    json_t *ios = json_null();
    if (s->valid && s->cg.has_blkio)
        ios = json_pack("[{s:i,s:i,s:s,s:I},{s:i,s:i,s:s,s:I}]", "major", 0, "minor", 0, "op",
                        "read", "value", (json_int_t)s->cg.blk_read_bytes, "major", 0, "minor", 0,
                        "op", "write", "value", (json_int_t)s->cg.blk_write_bytes);
    jx_set_new(o, "io_service_bytes_recursive", ios);
    static const char *const empty[] = {"io_serviced_recursive",     "io_queue_recursive",
                                        "io_service_time_recursive", "io_wait_time_recursive",
                                        "io_merged_recursive",       "io_time_recursive",
                                        "sectors_recursive"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(empty); i++)
        jx_set_new(o, empty[i], json_null());
    return o;
}

static json_t *stats_json(struct container *c, const struct sample *cur, const struct sample *prev)
{
    char now[64], pre[64] = "0001-01-01T00:00:00Z";
    dd_format_rfc3339nano(cur->at, now, sizeof(now));
    if (prev && prev->at)
        dd_format_rfc3339nano(prev->at, pre, sizeof(pre));
    json_t *o = json_object();
    jx_set_str(o, "read", now);
    jx_set_str(o, "preread", pre);
    jx_set_new(o, "pids_stats", json_pack("{s:I}", "current", (json_int_t)cur->cg.pids_current));
    if (cur->cg.pids_limit)
        jx_set_int(json_object_get(o, "pids_stats"), "limit", (int64_t)cur->cg.pids_limit);
    jx_set_new(o, "blkio_stats", blkio_json(cur));
    jx_set_int(o, "num_procs", 0);
    jx_set_new(o, "storage_stats", json_object());
    jx_set_new(o, "cpu_stats", cpu_json(cur));
    struct sample zero = {0};
    jx_set_new(o, "precpu_stats", cpu_json(prev ? prev : &zero));
    jx_set_new(o, "memory_stats", memory_json(cur));
    jx_set_str(o, "name", c->name);
    jx_set_str(o, "id", c->id);
    return o;
}

static void ss_end(struct stats_stream *ss)
{
    if (ss->done)
        return;
    ss->done = true;
    ev_timer_del(ss->timer);
    cg_stats_release(&ss->prev.cg);
    http_stream_end(ss->req);
    ctr_unref(ss->c);
    free(ss);
}

/* Takes a sample, sends it against the previous one, keeps it as the next previous. */
static int ss_emit(struct stats_stream *ss)
{
    struct sample cur;
    sample_read(ss->c, &cur);
    json_t *o = stats_json(ss->c, &cur, ss->prev.at ? &ss->prev : NULL);
    char *text = jx_dump(o);
    json_decref(o);
    size_t n = strlen(text);
    text = dd_realloc(text, n + 2);
    text[n] = '\n';
    int r = http_stream_write(ss->req, text, n + 1);
    free(text);
    cg_stats_release(&ss->prev.cg);
    ss->prev = cur;
    return r;
}

static void on_tick(ev_timer *t, void *data)
{
    struct stats_stream *ss = data;
    if (ss_emit(ss) < 0 || !ss->stream || ss->c->removed)
        ss_end(ss);
}

static void on_gone(http_req *req, void *data)
{
    ss_end(data);
}

void containers_h_stats(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    if (ctr_lookup(dindd_from_req(req)->containers, http_req_param(req, "id"), &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    struct stats_stream *ss = dd_calloc(1, sizeof(*ss));
    ss->req = req;
    ss->c = ctr_ref(c);
    ss->stream = dindd_query_bool(req, "stream", true);
    bool one_shot = dindd_query_bool(req, "one-shot", false);
    http_stream_start(req, 200, "application/json");
    http_req_on_close(req, on_gone, ss);
    if (ss->stream || one_shot) {
        if (ss_emit(ss) < 0 || one_shot) {
            ss_end(ss);
            return;
        }
    } else {
        sample_read(c, &ss->prev);
    }
    ss->timer = ev_timer_add(dindd_from_req(req)->loop, 1000, 1000, on_tick, ss);
}
