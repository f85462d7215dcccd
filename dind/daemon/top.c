/* top: GET /containers/{id}/top, `ps -ef` columns (UID PID PPID C STIME TTY TIME CMD) read from
 * /proc for the pids the runtime reports in the container. ps_args other than the default "-ef"
 * are refused with a clear error rather than silently ignored. */
#include <pwd.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>

#include "container-internal.h"
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "dind/rt.h"
#include "handlers.h"

static void fmt_time(int64_t secs, char *out, size_t len)
{
    snprintf(out, len, "%02lld:%02lld:%02lld", (long long)(secs / 3600),
             (long long)(secs / 60 % 60), (long long)(secs % 60));
}

static json_t *proc_row(pid_t pid, long hz, int64_t boot_s)
{
    char path[64], stime[32] = "?", cputime[32];
    _cleanup_free_ char *statl = NULL, *cmdline = NULL;
    size_t cl = 0;
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (dd_read_file(path, 1 << 16, &statl, NULL, NULL) < 0)
        return NULL;
    char *rp = strrchr(statl, ')');
    if (!rp)
        return NULL;
    int ppid = 0;
    unsigned long long ut = 0, st = 0, start = 0;
    sscanf(rp + 2,
           "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu",
           &ppid, &ut, &st, &start);
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    dd_read_file(path, 1 << 16, &cmdline, &cl, NULL);
    for (size_t i = 0; cmdline && i + 1 < cl; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    if (!cmdline || !*cmdline) {
        char *lp = strchr(statl, '(');
        free(cmdline);
        cmdline = lp ? dd_asprintf("[%.*s]", (int)(rp - lp - 1), lp + 1) : dd_strdup("?");
    }
    struct stat sb;
    snprintf(path, sizeof(path), "/proc/%d", (int)pid);
    uid_t uid = stat(path, &sb) == 0 ? sb.st_uid : 0;
    struct passwd *pw = getpwuid(uid);
    time_t started = (time_t)(boot_s + (int64_t)(start / (unsigned long long)hz));
    struct tm tm;
    if (localtime_r(&started, &tm))
        strftime(stime, sizeof(stime), "%H:%M", &tm);
    fmt_time((int64_t)((ut + st) / (unsigned long long)hz), cputime, sizeof(cputime));
    json_t *row = json_array();
    json_array_append_new(row, pw ? json_string(pw->pw_name) : json_sprintf("%u", uid));
    json_array_append_new(row, json_sprintf("%d", (int)pid));
    json_array_append_new(row, json_sprintf("%d", ppid));
    json_array_append_new(row, json_string("0"));
    json_array_append_new(row, json_string(stime));
    json_array_append_new(row, json_string("?"));
    json_array_append_new(row, json_string(cputime));
    json_array_append_new(row, json_string(cmdline));
    return row;
}

static int64_t boot_time(void)
{
    _cleanup_free_ char *s = NULL;
    if (dd_read_file("/proc/stat", 1 << 20, &s, NULL, NULL) < 0)
        return 0;
    const char *b = strstr(s, "\nbtime ");
    return b ? strtoll(b + 7, NULL, 10) : 0;
}

void containers_h_top(http_req *req)
{
    struct container *c = NULL;
    dd_err e = {0};
    pid_t *pids = NULL;
    size_t n = 0;
    const char *args = http_req_query(req, "ps_args");
    if (ctr_lookup(dindd_from_req(req)->containers, http_req_param(req, "id"), &c, &e) < 0 ||
        ctr_check_running(c, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    if (args && *args && !dd_streq(args, "-ef") && !dd_streq(args, "ef")) {
        dindd_reply_errf(req, EINVAL,
                         "ps_args \"%s\" is not supported; only the default -ef "
                         "columns are",
                         args);
        return;
    }
    if (rt_top(c->state_dir, &pids, &n, &e) < 0) {
        dindd_reply_err(req, &e);
        return;
    }
    long hz = sysconf(_SC_CLK_TCK);
    int64_t boot = boot_time();
    json_t *procs = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *row = proc_row(pids[i], hz > 0 ? hz : 100, boot);
        if (row)
            json_array_append_new(procs, row);
    }
    free(pids);
    json_t *o = json_pack("{s:[ssssssss],s:o}", "Titles", "UID", "PID", "PPID", "C", "STIME", "TTY",
                          "TIME", "CMD", "Processes", procs);
    http_reply_json(req, 200, o);
    json_decref(o);
}
