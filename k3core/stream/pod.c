/* pod.c: a pod's streams served by the kubelet running it in this process: the server's own node
 * (pods/log, exec, attach, portforward) and a joined agent's kubelet port alike. It asks the
 * kubelet for the container's rt state directory and log file (or the pod's network namespace),
 * maps the kubelet's errors to Status replies (400 for an ambiguous or waiting container) and
 * hands the request to log.c, exec.c or portforward.c. It does not look the pod up in the API
 * (the server answers 404 before coming here) nor authenticate anyone.
 */
#include <strings.h>

#include "k3core/stream/stream-internal.h"

int kstream_kind_of(const char *sub)
{
    static const char *const names[] = {
        [KSTREAM_LOG] = "log",
        [KSTREAM_EXEC] = "exec",
        [KSTREAM_ATTACH] = "attach",
        [KSTREAM_PORTFORWARD] = "portforward",
    };
    for (size_t i = 0; sub && i < DD_ARRAY_SIZE(names); i++)
        if (!strcmp(sub, names[i]))
            return (int)i;
    return -EINVAL;
}

static int resolve(kubelet *k, const char *ns, const char *pod, const char *container,
                   char **ret_dir, char **ret_log, kobj_status *st)
{
    if (!k)
        return kobj_fail(st, 400, "BadRequest", "pod %s is not running on a node of this server",
                         pod);
    dd_err e = {0};
    int r = kubelet_container_ref(k, ns, pod, container, NULL, ret_dir, ret_log, &e);
    if (r == -EAGAIN)
        return kobj_fail(st, 400, "BadRequest", "%s: ContainerCreating", e.msg);
    if (r < 0)
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    return 0;
}

static int serve_log(ev_loop *loop, kubelet *k, http_req *req, const char *ns, const char *pod,
                     const char *container, kobj_status *st)
{
    struct kstream_log_opts o;
    if (kstream_log_opts_parse(req, dd_now_ns(), &o, st) < 0)
        return -1;
    if (container) {
        free(o.container);
        o.container = dd_strdup(container);
    }
    _cleanup_free_ char *dir = NULL, *log = NULL;
    int r = resolve(k, ns, pod, o.container, &dir, &log, st);
    if (r >= 0 && o.previous) {
        free(log);
        log = NULL;
        dd_err e = {0};
        if (kubelet_previous_log(k, ns, pod, o.container, &log, &e) < 0)
            r = kobj_fail(st, 400, "BadRequest", "%s", e.msg);
        o.follow = false;
    }
    if (r >= 0 && !log)
        r = kobj_fail(st, 400, "BadRequest", "container in pod %s has no log yet", pod);
    if (r >= 0)
        r = kstream_log_serve(loop, req, log, dir, &o, st);
    kstream_log_opts_release(&o);
    return r;
}

/* A boolean of the pods/exec query ("stdin"), or upstream kubelet's name for it ("input"). */
static bool qbool(http_req *req, const char *key, const char *kubelet_key)
{
    const char *v = http_req_query(req, key);
    if (!v)
        v = http_req_query(req, kubelet_key);
    if (!v)
        return false;
    return !*v || !strcasecmp(v, "true") || !strcmp(v, "1") || !strcasecmp(v, "t");
}

static int serve_exec(ev_loop *loop, kubelet *k, http_req *req, const char *ns, const char *pod,
                      const char *container, bool attach, kobj_status *st)
{
    _cleanup_free_ char *dir = NULL;
    if (resolve(k, ns, pod, container ? container : http_req_query(req, "container"), &dir, NULL,
                st) < 0)
        return -1;
    if (!dir)
        return kobj_fail(st, 400, "BadRequest", "container in pod %s is not running", pod);
    _cleanup_strv_free_ char **argv = attach ? NULL : http_req_query_all(req, "command");
    if (!attach && !argv[0])
        return kobj_fail(st, 400, "BadRequest", "you must specify at least 1 command");
    struct kstream_exec_opts o = {.argv = argv,
                                  .in = qbool(req, "stdin", "input"),
                                  .out = qbool(req, "stdout", "output"),
                                  .err = qbool(req, "stderr", "error"),
                                  .tty = qbool(req, "tty", "tty")};
    if (!o.in && !o.out && !o.err)
        return kobj_fail(st, 400, "BadRequest",
                         "you must specify at least 1 of stdin, stdout, stderr");
    dd_err e = {0};
    if (!attach && kubelet_container_process(
                       k, ns, pod, container ? container : http_req_query(req, "container"), &o.env,
                       &o.user, &o.cwd, &e) < 0)
        return kobj_fail(st, 400, "BadRequest", "%s", e.msg);
    int r = kstream_exec_serve(loop, req, dir, &o, st);
    dd_strv_free(o.env);
    free(o.user);
    free(o.cwd);
    return r;
}

int kstream_pod_serve(ev_loop *loop, kubelet *k, http_req *req, enum kstream_kind kind,
                      const char *ns, const char *pod, const char *container, kobj_status *st)
{
    if (kind == KSTREAM_LOG)
        return serve_log(loop, k, req, ns, pod, container, st);
    if (kind == KSTREAM_EXEC || kind == KSTREAM_ATTACH)
        return serve_exec(loop, k, req, ns, pod, container, kind == KSTREAM_ATTACH, st);
    _cleanup_free_ char *netns = NULL;
    dd_err e = {0};
    if (!k || kubelet_pod_netns(k, ns, pod, &netns, &e) < 0)
        return kobj_fail(st, 400, "BadRequest", "%s",
                         k ? e.msg : "pod is not running on a node of this server");
    return kstream_portforward_serve(loop, req, netns, pod, st);
}
