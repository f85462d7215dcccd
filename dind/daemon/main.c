/* dindd's entry point: dockerd's flag names for what we support, the pidfile, the listeners, the
 * API areas' start-up and shutdown, and the loop. SIGTERM/SIGINT stop the loop; shutdown removes
 * the sockets and the pidfile. Everything else lives in the areas (daemon.h). */
#include <getopt.h>
#include <signal.h>
#include <malloc.h>
#include <stdio.h>
#include <sys/stat.h>

#include "dind/cgroup.h"
#include "dind/daemon/daemon.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: dindd [OPTIONS]\n\n"
            "A Docker Engine API %s daemon (k3d-dind).\n\n"
            "Options:\n"
            "  -H, --host list          Daemon socket(s) to listen on: unix:///path or "
            "tcp://host:port\n"
            "                           (default unix:///var/run/docker.sock; repeatable)\n"
            "      --data-root string   Root directory of persistent state (default "
            "\"/var/lib/docker\")\n"
            "      --exec-root string   Root directory for execution state (default "
            "\"/var/run/docker\")\n"
            "      --insecure-registry list  Registries that may use plain HTTP "
            "(host[:port] or CIDR)\n"
            "      --registry-mirror list    Preferred Docker registry mirror (URL)\n"
            "  -p, --pidfile string     Path to use for the daemon PID file (default "
            "\"/var/run/docker.pid\")\n"
            "  -l, --log-level string   Set the logging level (\"debug\"|\"info\"|\"warn\"|"
            "\"error\"|\"fatal\") (default \"info\")\n"
            "  -D, --debug              Enable debug mode\n"
            "  -v, --version            Print version information and quit\n"
            "  -h, --help               Print usage\n",
            DINDD_API_VERSION);
}

static int bad_flag(const char *msg, const char *arg)
{
    fprintf(stderr, "dindd: %s%s\nSee 'dindd --help'.\n", msg, arg ? arg : "");
    return -EINVAL;
}

static int check_host(const char *h)
{
    if (dd_startswith(h, "fd://"))
        return bad_flag("fd:// (systemd socket activation) is not supported: use unix:// or tcp://",
                        NULL);
    if (!dd_startswith(h, "unix://") && !dd_startswith(h, "tcp://"))
        return bad_flag("invalid --host (expected unix:///path or tcp://host:port): ", h);
    return 0;
}

/* Returns 0 to run, 1 to exit successfully (help/version), < 0 on a usage error. */
static int parse_args(int argc, char **argv, dindd_config *cfg)
{
    enum { OPT_DATA_ROOT = 256, OPT_EXEC_ROOT, OPT_INSECURE_REG, OPT_MIRROR };
    static const struct option opts[] = {
        {"host", required_argument, NULL, 'H'},
        {"data-root", required_argument, NULL, OPT_DATA_ROOT},
        {"exec-root", required_argument, NULL, OPT_EXEC_ROOT},
        {"insecure-registry", required_argument, NULL, OPT_INSECURE_REG},
        {"registry-mirror", required_argument, NULL, OPT_MIRROR},
        {"pidfile", required_argument, NULL, 'p'},
        {"log-level", required_argument, NULL, 'l'},
        {"debug", no_argument, NULL, 'D'},
        {"version", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {0},
    };
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":H:p:l:Dvh", opts, NULL)) != -1) {
        enum dd_log_level lvl;
        switch (c) {
        case 'H':
            if (check_host(optarg) < 0)
                return -EINVAL;
            cfg->hosts = dd_strv_push(cfg->hosts, optarg);
            break;
        case OPT_DATA_ROOT:
            free(cfg->data_root);
            cfg->data_root = dd_strdup(optarg);
            break;
        case OPT_EXEC_ROOT:
            free(cfg->exec_root);
            cfg->exec_root = dd_strdup(optarg);
            break;
        case OPT_INSECURE_REG:
            cfg->insecure_registries = dd_strv_push(cfg->insecure_registries, optarg);
            break;
        case OPT_MIRROR:
            if (!dd_startswith(optarg, "http://") && !dd_startswith(optarg, "https://"))
                return bad_flag("invalid --registry-mirror (expected http(s)://host[:port]): ",
                                optarg);
            /* dockerd keeps mirrors with a trailing slash (and shows them so in /info) */
            cfg->registry_mirrors =
                dd_strv_consume(cfg->registry_mirrors,
                                dd_asprintf("%s%s", optarg, dd_endswith(optarg, "/") ? "" : "/"));
            break;
        case 'p':
            free(cfg->pidfile);
            cfg->pidfile = dd_strdup(optarg);
            break;
        case 'l':
            if (dd_log_parse_level(optarg, &lvl) < 0)
                return bad_flag("invalid --log-level: ", optarg);
            dd_log_threshold = lvl;
            break;
        case 'D':
            cfg->debug = true;
            dd_log_threshold = DD_LOG_DEBUG;
            break;
        case 'v':
            printf("Docker version %s (dindd, API %s)\n", DINDD_VERSION, DINDD_API_VERSION);
            return 1;
        case 'h':
            usage(stdout);
            return 1;
        case ':':
            return bad_flag("flag needs an argument: ", argv[optind - 1]);
        default:
            return bad_flag("unknown flag: ", argv[optind - 1]);
        }
    }
    if (optind < argc)
        return bad_flag("unexpected argument: ", argv[optind]);
    return 0;
}

static void config_defaults(dindd_config *cfg)
{
    if (!cfg->hosts)
        cfg->hosts = dd_strv_push(NULL, "unix:///var/run/docker.sock");
    if (!cfg->data_root)
        cfg->data_root = dd_strdup("/var/lib/docker");
    if (!cfg->exec_root)
        cfg->exec_root = dd_strdup("/var/run/docker");
    if (!cfg->pidfile)
        cfg->pidfile = dd_strdup("/var/run/docker.pid");
}

static void config_release(dindd_config *cfg)
{
    dd_strv_free(cfg->hosts);
    free(cfg->data_root);
    free(cfg->exec_root);
    free(cfg->pidfile);
    dd_strv_free(cfg->insecure_registries);
    dd_strv_free(cfg->registry_mirrors);
}

/* dockerd's rule: refuse to start over the pidfile of a live daemon. */
static int write_pidfile(const char *path, dd_err *e)
{
    _cleanup_free_ char *old = NULL;
    if (dd_read_file(path, 64, &old, NULL, NULL) == 0) {
        int pid = atoi(old);
        _cleanup_free_ char *proc = dd_asprintf("/proc/%d", pid);
        if (pid > 0 && pid != getpid() && access(proc, F_OK) == 0)
            return dd_err_set(e, EEXIST,
                              "pid file found, ensure docker is not running or delete %s", path);
    }
    _cleanup_free_ char *dir = dd_strdup(path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        if (dd_mkdir_p(dir, 0755, e) < 0)
            return -e->code;
    }
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%d", (int)getpid());
    return dd_write_file_atomic(path, buf, (size_t)n, 0644, e);
}

static void on_stop_signal(ev_signal *s, int signo, void *data)
{
    dindd_ctx *d = data;
    dd_info("Processing signal '%s'", strsignal(signo));
    ev_stop(d->loop);
}

/* After a burst of requests (an image load, many container starts), malloc keeps the freed
 * memory in its free lists; give it back once the daemon has been quiet for a second. */
static void on_idle(void *data)
{
    malloc_trim(0);
}

static int start_http(dindd_ctx *d, dd_err *e)
{
    http_server_opts opts = {
        .prefix = dindd_api_prefix,
        .error = dindd_api_error,
        .headers = dindd_api_headers,
        .trace = dindd_api_trace,
        .data = d,
    };
    _cleanup_free_ char *spool = dd_path_join(d->cfg.data_root, "tmp");
    if (dd_mkdir_p(spool, 0700, e) < 0)
        return -e->code;
    opts.spool_dir = spool;
    d->http = http_server_new(d->loop, &opts);
    for (size_t i = 0; dindd_areas[i]; i++)
        http_server_add_routes(d->http, dindd_areas[i]->routes, dindd_areas[i]->nroutes);
    for (size_t i = 0; d->cfg.hosts[i]; i++) {
        if (http_server_listen(d->http, d->cfg.hosts[i], NULL, e) < 0)
            return dd_err_wrap(e, "listening on %s", d->cfg.hosts[i]);
        if (dd_startswith(d->cfg.hosts[i], "tcp://"))
            dd_warn("API listening on %s without TLS: anyone who can reach it is root",
                    d->cfg.hosts[i]);
        dd_info("API listen on %s", d->cfg.hosts[i]);
    }
    return 0;
}

static int start(dindd_ctx *d, size_t *ret_inited, bool *ret_pidfile, dd_err *e)
{
    if (dd_mkdir_p(d->cfg.data_root, 0711, e) < 0 || dd_mkdir_p(d->cfg.exec_root, 0700, e) < 0)
        return -e->code;
    if (write_pidfile(d->cfg.pidfile, e) < 0)
        return -e->code;
    *ret_pidfile = true;
    for (*ret_inited = 0; dindd_areas[*ret_inited]; (*ret_inited)++) {
        const dindd_area *a = dindd_areas[*ret_inited];
        if (a->init && a->init(d, e) < 0)
            return dd_err_wrap(e, "starting %s", a->name);
    }
    if (ev_signal_add(d->loop, SIGTERM, on_stop_signal, d, e) == NULL ||
        ev_signal_add(d->loop, SIGINT, on_stop_signal, d, e) == NULL)
        return -e->code;
    return start_http(d, e);
}

int main(int argc, char **argv)
{
    dindd_ctx d = {0};
    int r = parse_args(argc, argv, &d.cfg);
    if (r != 0) {
        config_release(&d.cfg);
        return r > 0 ? 0 : 1;
    }
    config_defaults(&d.cfg);
    umask(0022);
    dd_err e = {0};
    size_t inited = 0;
    bool pid_written = false;
    d.loop = ev_loop_new(&e);
    if (d.loop) {
        r = start(&d, &inited, &pid_written, &e);
    } else {
        r = -e.code;
    }
    if (r == 0) {
        dd_info("Daemon has completed initialization (dindd %s, API %s)", DINDD_VERSION,
                DINDD_API_VERSION);
        ev_set_idle(d.loop, 1000, on_idle, NULL);
        r = ev_run(d.loop);
    } else {
        dd_error("failed to start daemon: %s", e.msg);
    }
    http_server_free(d.http);
    while (inited > 0)
        if (dindd_areas[--inited]->fini)
            dindd_areas[inited]->fini(&d);
    /* Containers outlive the daemon, but the empty "dindd" parent cgroups it created must not:
     * removes only directories that are empty (a running container keeps its parent). */
    cg_prune("dindd", NULL);
    if (pid_written)
        unlink(d.cfg.pidfile);
    ev_loop_free(d.loop);
    config_release(&d.cfg);
    return r == 0 ? 0 : 1;
}
