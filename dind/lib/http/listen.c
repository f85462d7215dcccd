/* Listening sockets from dockerd-style addresses: "unix:///path" (parent directories created, a
 * stale socket replaced, a live one refused) and "tcp://host:port" (optionally with TLS). */
#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "http-internal.h"

/* Refuses to steal the socket of a running daemon; removes a stale one. */
static int clear_stale_socket(const char *path, dd_err *e)
{
    struct stat st;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : dd_err_sys(e, "stat %s", path);
    if (!S_ISSOCK(st.st_mode))
        return dd_err_set(e, EEXIST, "%s exists and is not a socket", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    strcpy(sa.sun_path, path);
    int r = fd >= 0 ? connect(fd, (struct sockaddr *)&sa, sizeof(sa)) : -1;
    if (fd >= 0)
        close(fd);
    if (r == 0)
        return dd_err_set(e, EADDRINUSE, "another daemon is listening on %s", path);
    if (unlink(path) < 0 && errno != ENOENT)
        return dd_err_sys(e, "removing stale socket %s", path);
    return 0;
}

static int listen_unix(const char *path, dd_err *e)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (path[0] != '/' || strlen(path) >= sizeof(sa.sun_path))
        return dd_err_set(e, EINVAL, "invalid socket path '%s'", path);
    _cleanup_free_ char *dir = dd_strdup(path);
    *strrchr(dir, '/') = '\0';
    if (dir[0] && dd_mkdir_p(dir, 0755, e) < 0)
        return -e->code;
    if (clear_stale_socket(path, e) < 0)
        return -e->code;
    strcpy(sa.sun_path, path);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return dd_err_sys(e, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return dd_err_sys(e, "binding %s", path);
    if (chmod(path, 0660) < 0 || listen(fd, SOMAXCONN) < 0) {
        int r = dd_err_sys(e, "listening on %s", path);
        unlink(path);
        return r;
    }
    return TAKE_FD(fd);
}

/* Splits "host:port" or "[v6]:port"; host may be empty (all addresses). */
static int split_host_port(const char *hp, char **ret_host, char **ret_port, dd_err *e)
{
    const char *colon;
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':')
            return dd_err_set(e, EINVAL, "invalid address '%s'", hp);
        *ret_host = dd_strndup(hp + 1, (size_t)(close - hp - 1));
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon)
            return dd_err_set(e, EINVAL, "address '%s' has no port", hp);
        *ret_host = dd_strndup(hp, (size_t)(colon - hp));
    }
    *ret_port = dd_strdup(colon + 1);
    if (!**ret_port) {
        free(*ret_host);
        free(*ret_port);
        return dd_err_set(e, EINVAL, "address '%s' has no port", hp);
    }
    return 0;
}

static int listen_tcp(const char *hp, int *ret_port, dd_err *e)
{
    _cleanup_free_ char *host = NULL, *port = NULL;
    if (split_host_port(hp, &host, &port, e) < 0)
        return -e->code;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (g != 0)
        return dd_err_set(e, EINVAL, "resolving '%s': %s", hp, gai_strerror(g));
    int fd = -1;
    dd_err_set(e, EADDRNOTAVAIL, "no usable address for '%s'", hp);
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0) {
            dd_err_sys(e, "listening on %s", hp);
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        return -e->code;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    dd_err_clear(e);
    return fd;
}

int http_server_listen(http_server *srv, const char *addr, SSL_CTX *tls, dd_err *e)
{
    dd_err local = {0};
    if (!e)
        e = &local;
    int fd, port = 0;
    const char *unix_path = NULL;
    if (dd_startswith(addr, "unix://")) {
        if (tls)
            return dd_err_set(e, EINVAL, "TLS is only supported on tcp:// listeners");
        unix_path = addr + strlen("unix://");
        fd = listen_unix(unix_path, e);
    } else if (dd_startswith(addr, "tcp://")) {
        fd = listen_tcp(addr + strlen("tcp://"), &port, e);
    } else {
        return dd_err_set(e, EINVAL,
                          "unsupported address '%s' (use unix:///path or tcp://host:port)", addr);
    }
    if (fd < 0)
        return fd;
    if (tls)
        SSL_CTX_set_alpn_select_cb(tls, http_alpn_select, NULL);
    struct http_listener *l = dd_calloc(1, sizeof(*l));
    *l = (struct http_listener){.srv = srv, .fd = fd, .tls = tls, .port = port};
    l->io = ev_io_add(srv->loop, fd, srv->paused_accept ? 0 : EV_READ, http_on_accept, l, e);
    if (!l->io) {
        close(fd);
        if (unix_path)
            unlink(unix_path);
        free(l);
        return -e->code;
    }
    l->unix_path = unix_path ? dd_strdup(unix_path) : NULL;
    srv->listeners = dd_realloc(srv->listeners, (srv->nlisteners + 1) * sizeof(*srv->listeners));
    srv->listeners[srv->nlisteners] = l;
    return (int)srv->nlisteners++;
}

int http_server_port(http_server *srv, int idx)
{
    if (idx < 0 || (size_t)idx >= srv->nlisteners || !srv->listeners[idx]->port)
        return -EINVAL;
    return srv->listeners[idx]->port;
}
