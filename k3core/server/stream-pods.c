/* stream-pods.c: routes the streaming subresources of pods (log, exec, attach) from the generic
 * resource endpoint to k3core/stream: it checks that the pod exists (404 as upstream), asks the
 * in-process kubelet for the container's rt state directory and log file, maps the kubelet's
 * errors to Status replies (400 for an ambiguous or waiting container) and hands the request
 * over; port-forward gets the pod's network namespace instead.
 */
#include "k3core/kubelet/kubelet.h"
#include "k3core/server/server-internal.h"
#include "k3core/stream/stream.h"

/* Gets the pod; fails clearly when it runs on another node (a joined `k3core agent`), whose
 * kubelet this server does not reach for streams. */
static int local_pod(struct ksrv *s, const kobj_req *kr, kobj_status *st)
{
    json_t *pod = NULL;
    if (kobj_get(s->api, kr, &pod, st) < 0)
        return -1;
    const char *node = json_string_value(json_object_get(json_object_get(pod, "spec"), "nodeName"));
    int r = 0;
    if (node && !dd_streq(node, s->cfg->node_name))
        r = kobj_fail(st, 400, "BadRequest",
                      "pod %s runs on node %s: logs, exec, attach and port-forward reach only "
                      "pods on the server's own node in this version",
                      kr->name, node);
    json_decref(pod);
    return r;
}

static int resolve(struct ksrv *s, const kobj_req *kr, const char *container, char **ret_dir,
                   char **ret_log, kobj_status *st)
{
    if (local_pod(s, kr, st) < 0)
        return -1;
    if (!s->kubelet)
        return kobj_fail(st, 400, "BadRequest", "pod %s is not running on a node of this server",
                         kr->name);
    dd_err e = {0};
    int r =
        kubelet_container_ref(s->kubelet, kr->ns, kr->name, container, NULL, ret_dir, ret_log, &e);
    if (r == -EAGAIN)
        return kobj_fail(st, 400, "BadRequest", "%s: ContainerCreating", e.msg);
    if (r < 0)
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    return 0;
}

static int serve_log(struct ksrv *s, http_req *req, const kobj_req *kr, kobj_status *st)
{
    struct kstream_log_opts o;
    if (kstream_log_opts_parse(req, dd_now_ns(), &o, st) < 0)
        return -1;
    _cleanup_free_ char *dir = NULL, *log = NULL;
    int r = resolve(s, kr, o.container, &dir, &log, st);
    if (r >= 0 && o.previous) {
        free(log);
        log = NULL;
        dd_err e = {0};
        if (kubelet_previous_log(s->kubelet, kr->ns, kr->name, o.container, &log, &e) < 0)
            r = kobj_fail(st, 400, "BadRequest", "%s", e.msg);
        o.follow = false;
    }
    if (r >= 0 && !log)
        r = kobj_fail(st, 400, "BadRequest", "container in pod %s has no log yet", kr->name);
    if (r >= 0)
        r = kstream_log_serve(s->loop, req, log, dir, &o, st);
    kstream_log_opts_release(&o);
    return r;
}

static bool qbool(http_req *req, const char *k)
{
    return ksrv_query_bool(req, k, false);
}

static int serve_exec(struct ksrv *s, http_req *req, const kobj_req *kr, bool attach,
                      kobj_status *st)
{
    _cleanup_free_ char *dir = NULL;
    if (resolve(s, kr, http_req_query(req, "container"), &dir, NULL, st) < 0)
        return -1;
    if (!dir)
        return kobj_fail(st, 400, "BadRequest", "container in pod %s is not running", kr->name);
    _cleanup_strv_free_ char **argv = attach ? NULL : http_req_query_all(req, "command");
    if (!attach && !argv[0])
        return kobj_fail(st, 400, "BadRequest", "you must specify at least 1 command");
    struct kstream_exec_opts o = {.argv = argv,
                                  .in = qbool(req, "stdin"),
                                  .out = qbool(req, "stdout"),
                                  .err = qbool(req, "stderr"),
                                  .tty = qbool(req, "tty")};
    if (!o.in && !o.out && !o.err)
        return kobj_fail(st, 400, "BadRequest",
                         "you must specify at least 1 of stdin, stdout, stderr");
    return kstream_exec_serve(s->loop, req, dir, &o, st);
}

bool ksrv_is_pod_stream(const kres_resource *r, const char *sub)
{
    return sub && !r->group[0] && !strcmp(r->resource, "pods") &&
           (!strcmp(sub, "log") || !strcmp(sub, "exec") || !strcmp(sub, "attach") ||
            !strcmp(sub, "portforward"));
}

int ksrv_handle_pod_stream(struct ksrv *s, http_req *req, const kobj_req *kr, kobj_status *st)
{
    const char *sub = kr->subresource;
    if (!strcmp(sub, "log"))
        return serve_log(s, req, kr, st);
    if (!strcmp(sub, "exec") || !strcmp(sub, "attach"))
        return serve_exec(s, req, kr, !strcmp(sub, "attach"), st);
    if (local_pod(s, kr, st) < 0)
        return -1;
    _cleanup_free_ char *netns = NULL;
    dd_err e = {0};
    if (!s->kubelet || kubelet_pod_netns(s->kubelet, kr->ns, kr->name, &netns, &e) < 0)
        return kobj_fail(st, 400, "BadRequest", "%s",
                         s->kubelet ? e.msg : "pod is not running on a node of this server");
    return kstream_portforward_serve(s->loop, req, netns, kr->name, st);
}
