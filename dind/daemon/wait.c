/* wait: POST /containers/{id}/wait?condition=not-running|next-exit|removed.
 *
 * The 200 headers go out at once (the CLI sends wait before start and must see them), then the
 * request parks on a container listener until the condition holds and answers
 * {"Error":null,"StatusCode":N}\n in one chunk. A client that goes away just ends the wait.
 */
#include <stdio.h>

#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "handlers.h"

enum wait_cond { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED };

struct waiter {
    http_req *req;
    struct container *c;
    struct ctr_listener *l;
    enum wait_cond cond;
};

static void waiter_finish(struct waiter *w, bool send)
{
    if (send) {
        char buf[128];
        /* Error stays null like dockerd's for an exit: the CLI would print a start failure
         * twice otherwise (the start response already carried it). */
        json_t *o = json_pack("{s:n,s:i}", "Error", "StatusCode", w->c->st.exit_code);
        char *s = jx_dump(o);
        int n = snprintf(buf, sizeof(buf), "%s\n", s);
        if (n >= (int)sizeof(buf)) {
            _cleanup_free_ char *big = dd_asprintf("%s\n", s);
            http_stream_write(w->req, big, strlen(big));
        } else {
            http_stream_write(w->req, buf, (size_t)n);
        }
        free(s);
        json_decref(o);
    }
    ctr_unlisten(w->l);
    http_stream_end(w->req);
    ctr_unref(w->c);
    free(w);
}

static void on_change(struct container *c, enum ctr_change what, void *data)
{
    struct waiter *w = data;
    if (w->cond == WAIT_REMOVED ? what == CTR_CHANGE_REMOVED
                                : what == CTR_CHANGE_EXITED || what == CTR_CHANGE_REMOVED)
        waiter_finish(w, true);
}

static void on_gone(http_req *req, void *data)
{
    waiter_finish(data, false);
}

void containers_h_wait(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    const char *cond = http_req_query(req, "condition");
    enum wait_cond wc = WAIT_NOT_RUNNING;
    if (cond && *cond && !dd_streq(cond, "not-running")) {
        if (dd_streq(cond, "next-exit"))
            wc = WAIT_NEXT_EXIT;
        else if (dd_streq(cond, "removed"))
            wc = WAIT_REMOVED;
        else {
            dindd_reply_errf(req, EINVAL, "invalid condition: \"%s\"", cond);
            return;
        }
    }
    if (ctr_lookup(dindd_from_req(req)->containers, http_req_param(req, "id"), &c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    http_stream_start(req, 200, "application/json");
    struct waiter *w = dd_calloc(1, sizeof(*w));
    w->req = req;
    w->c = ctr_ref(c);
    w->cond = wc;
    if (wc == WAIT_NOT_RUNNING && !ctr_is_running(c)) {
        waiter_finish(w, true);
        return;
    }
    w->l = ctr_listen(c, on_change, w);
    http_req_on_close(req, on_gone, w);
}
