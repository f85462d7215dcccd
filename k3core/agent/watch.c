/* watch.c: change notifications from the server for the agent's kubelet. Each watch is one
 * thread holding a streaming `GET ...?watch=true` (its own libcurl handle, client certificate,
 * CA) that writes a byte to a pipe for every chunk of events; the loop side reads the pipe and
 * calls the owner's callback, which then lists what it needs (the kubelet's sync is level-based,
 * so a notification only says "look now"). The thread reconnects after 1 s when the stream
 * ends or fails, and once more after 5 minutes so that a stale stream cannot linger. Nothing in
 * the thread touches the loop or the kubelet.
 */
#include <curl/curl.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "dind/ev.h"
#include "k3core/agent/agent.h"

struct kag_watch {
    pthread_t thread;
    bool started;
    atomic_bool stop;
    int notify[2]; /* thread → loop: "something changed" */
    int wake[2];   /* loop → thread: stop now */
    ev_io *io;
    char *url, *ca_file, *cert_file, *key_file;
    void (*fn)(void *);
    void *ud;
};

static size_t on_chunk(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    struct kag_watch *w = ud;
    ssize_t r = write(w->notify[1], "x", 1); /* full pipe = a notice is already pending */
    (void)r;
    return size * n;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d)
{
    (void)a, (void)b, (void)c, (void)d;
    struct kag_watch *w = ud;
    return atomic_load(&w->stop) ? 1 : 0;
}

static void stream_once(struct kag_watch *w)
{
    CURL *c = curl_easy_init();
    if (!c)
        return;
    curl_easy_setopt(c, CURLOPT_URL, w->url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 300L);
    curl_easy_setopt(c, CURLOPT_CAINFO, w->ca_file);
    curl_easy_setopt(c, CURLOPT_SSLCERT, w->cert_file);
    curl_easy_setopt(c, CURLOPT_SSLKEY, w->key_file);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_chunk);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, w);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, w);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (!atomic_load(&w->stop))
        dd_debug("watch %s ended: %s (HTTP %ld)", w->url, curl_easy_strerror(rc), code);
    curl_easy_cleanup(c);
}

static void *watch_main(void *data)
{
    struct kag_watch *w = data;
    while (!atomic_load(&w->stop)) {
        stream_once(w);
        ssize_t r = write(w->notify[1], "x", 1); /* a reconnect may have missed events */
        (void)r;
        struct pollfd p = {.fd = w->wake[0], .events = POLLIN};
        if (!atomic_load(&w->stop))
            poll(&p, 1, 1000);
    }
    return NULL;
}

static void on_notify(ev_io *io, int fd, unsigned events, void *data)
{
    (void)io, (void)events;
    struct kag_watch *w = data;
    char buf[256];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    w->fn(w->ud);
}

int kag_watch_start(ev_loop *loop, const char *url, const struct kag_http_opts *o,
                    void (*fn)(void *), void *ud, kag_watch **ret, dd_err *e)
{
    struct kag_watch *w = dd_calloc(1, sizeof(*w));
    w->notify[0] = w->notify[1] = w->wake[0] = w->wake[1] = -1;
    w->url = dd_strdup(url);
    w->ca_file = dd_strdup(o->ca_file);
    w->cert_file = dd_strdup(o->cert_file);
    w->key_file = dd_strdup(o->key_file);
    w->fn = fn;
    w->ud = ud;
    if (pipe2(w->notify, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(w->wake, O_CLOEXEC) < 0) {
        kag_watch_stop(w);
        return dd_err_sys(e, "watch pipe");
    }
    if (!(w->io = ev_io_add(loop, w->notify[0], EV_READ, on_notify, w, e))) {
        kag_watch_stop(w);
        return -EIO;
    }
    int r = pthread_create(&w->thread, NULL, watch_main, w);
    if (r != 0) {
        kag_watch_stop(w);
        return dd_err_set(e, r, "watch thread: %s", strerror(r));
    }
    w->started = true;
    *ret = w;
    return 0;
}

void kag_watch_stop(kag_watch *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    if (w->started) {
        ssize_t r = write(w->wake[1], "x", 1);
        (void)r;
        pthread_join(w->thread, NULL);
    }
    ev_io_del(w->io);
    for (int i = 0; i < 2; i++) {
        if (w->notify[i] >= 0)
            close(w->notify[i]);
        if (w->wake[i] >= 0)
            close(w->wake[i]);
    }
    free(w->url), free(w->ca_file), free(w->cert_file), free(w->key_file);
    free(w);
}
