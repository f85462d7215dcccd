/* net/iptables: the packet-filter rules a node bridge needs, through the iptables binary
 * (posix_spawn + waitpid on that child only; nft or legacy backend, whichever `iptables` is).
 * libnftables is not installed on our machines, and the iptables CLI works with both kernels'
 * backends we meet, so this is the one implementation. Every rule carries the comment
 * "k3d-dind-net:<bridge>" and is added only after `iptables -C` says it is missing, so setup is
 * idempotent; removal lists the chains with -S and deletes exactly the rules with our tag.
 * Chain sets (a service proxy's rules) are chains of our own, "K3D-<bridge>-*", rewritten
 * wholesale by one `iptables-restore --noflush` (declaring a chain flushes it; chains of the set
 * the new text leaves out are deleted in the same transaction), entered by tagged jump rules;
 * the bridge's teardown removes the jumps and then the chains. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "dind/net.h"
#include "net-internal.h"

extern char **environ;

#define OUT_MAX (1 << 20)

static const char *iptables_path(void)
{
    static const char *const cands[] = {"/usr/sbin/iptables", "/sbin/iptables", "/usr/bin/iptables",
                                        "/bin/iptables"};
    for (size_t i = 0; i < DD_ARRAY_SIZE(cands); i++)
        if (access(cands[i], X_OK) == 0)
            return cands[i];
    return "iptables";
}

/* iptables-restore next to the iptables binary we use. */
static char *restore_path(void)
{
    const char *ipt = iptables_path();
    const char *slash = strrchr(ipt, '/');
    return slash ? dd_asprintf("%.*s/iptables-restore", (int)(slash - ipt), ipt)
                 : dd_strdup("iptables-restore");
}

/* Runs path (iptables or iptables-restore) with argv; stdin is input_fd (-1: /dev/null); stdout
 * and stderr go to *out (may be NULL). Returns the exit status (>= 0) or -errno if it could not
 * run. */
static int run_tool(const char *path, char **argv, int input_fd, dd_buf *out, dd_err *e)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return dd_err_sys(e, "running iptables: pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (input_fd >= 0)
        posix_spawn_file_actions_adddup2(&fa, input_fd, 0);
    else
        posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    posix_spawn_file_actions_adddup2(&fa, p[1], 2);
    pid_t pid;
    int r = posix_spawnp(&pid, path, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    if (r != 0) {
        close(p[0]);
        return dd_err_set(e, r, "running %s: %s", path, strerror(r));
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(p[0], buf, sizeof(buf))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (out && out->len < OUT_MAX)
            dd_buf_add(out, buf, (size_t)n);
    }
    close(p[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return dd_err_sys(e, "waiting for iptables");
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* Runs iptables with argv (argv[0] is "iptables"); see run_tool. */
static int run_iptables(char **argv, dd_buf *out, dd_err *e)
{
    return run_tool(iptables_path(), argv, -1, out, e);
}

/* Builds "iptables -w -t TABLE OP CHAIN rule..." into a NULL-terminated vector. */
static char **rule_argv(const char *table, const char *op, const char *chain,
                        const char *const *rule)
{
    char **v = dd_strv_push(NULL, "iptables");
    v = dd_strv_push(v, "-w");
    v = dd_strv_push(v, "-t");
    v = dd_strv_push(v, table);
    v = dd_strv_push(v, op);
    v = dd_strv_push(v, chain);
    for (size_t i = 0; rule && rule[i]; i++)
        v = dd_strv_push(v, rule[i]);
    return v;
}

static void chomp(dd_buf *b)
{
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
        b->data[--b->len] = '\0';
}

/* Adds the rule unless present (-C); op is "-I" (first) or "-A". */
static int rule_ensure(const char *table, const char *chain, const char *op,
                       const char *const *rule, dd_err *e)
{
    _cleanup_strv_free_ char **check = rule_argv(table, "-C", chain, rule);
    int r = run_iptables(check, NULL, e);
    if (r <= 0)
        return r;
    _cleanup_strv_free_ char **add = rule_argv(table, op, chain, rule);
    dd_buf out = DD_BUF_INIT;
    r = run_iptables(add, &out, e);
    if (r > 0) {
        chomp(&out);
        r = dd_err_set(e, EIO, "iptables -t %s %s %s: exit %d: %s", table, op, chain, r,
                       out.data ? out.data : "");
    }
    dd_buf_release(&out);
    return r;
}

int net_rules_ensure(const char *bridge, const struct net_cidr *cidr, bool masquerade,
                     const struct net_cidr *masq_exclude, dd_err *e)
{
    char tag[64], net[NET_IP_STRLEN + 4], ip[NET_IP_STRLEN], excl[NET_IP_STRLEN + 4];
    snprintf(tag, sizeof(tag), NET_RULE_TAG "%s", bridge);
    snprintf(net, sizeof(net), "%s/%d", net_ip_format(net_cidr_network(cidr), ip), cidr->prefix);
    const char *in[] = {"-i", bridge, "-m", "comment", "--comment", tag, "-j", "ACCEPT", NULL};
    const char *out[] = {"-o", bridge, "-m", "comment", "--comment", tag, "-j", "ACCEPT", NULL};
    const char *masq[] = {"-s",      net,         "!", "-o", bridge,       "-m",
                          "comment", "--comment", tag, "-j", "MASQUERADE", NULL};
    const char *masq_ex[] = {"-s", net,       "!",         "-d", excl, "!",          "-o", bridge,
                             "-m", "comment", "--comment", tag,  "-j", "MASQUERADE", NULL};
    if (masq_exclude)
        snprintf(excl, sizeof(excl), "%s/%d", net_ip_format(net_cidr_network(masq_exclude), ip),
                 masq_exclude->prefix);
    int r = rule_ensure("filter", "FORWARD", "-I", in, e);
    if (r >= 0)
        r = rule_ensure("filter", "FORWARD", "-I", out, e);
    if (r >= 0 && masquerade)
        r = rule_ensure("nat", "POSTROUTING", "-A", masq_exclude ? masq_ex : masq, e);
    return r < 0 ? dd_err_wrap(e, "installing iptables rules for %s", bridge) : 0;
}

/* Splits one "-A CHAIN ..." line of `iptables -S` into arguments (our rules never contain
 * spaces inside an argument; iptables quotes comments, so quotes are stripped). */
static char **split_rule(char *line)
{
    char **v = NULL;
    for (char *tok = strtok(line, " "); tok; tok = strtok(NULL, " ")) {
        size_t n = strlen(tok);
        if (n >= 2 && tok[0] == '"' && tok[n - 1] == '"') {
            tok[n - 1] = '\0';
            tok++;
        }
        v = dd_strv_push(v, tok);
    }
    return v;
}

/* True if the rule's comment is our tag (for bridge, or any of ours if bridge is NULL). */
static bool rule_is_ours(char *const *v, const char *bridge)
{
    for (size_t i = 0; v[i] && v[i + 1]; i++) {
        if (strcmp(v[i], "--comment") != 0 || !dd_startswith(v[i + 1], NET_RULE_TAG))
            continue;
        /* "<bridge>" or a pod's "<bridge>/hp/<owner>" (host ports) */
        const char *rest = v[i + 1] + strlen(NET_RULE_TAG);
        size_t n = bridge ? strlen(bridge) : 0;
        return !bridge || (strncmp(rest, bridge, n) == 0 && (rest[n] == '\0' || rest[n] == '/'));
    }
    return false;
}

static int delete_line(const char *table, char *line, const char *bridge, dd_err *e)
{
    _cleanup_strv_free_ char **v = split_rule(line);
    if (dd_strv_len(v) < 3 || strcmp(v[0], "-A") != 0 || !rule_is_ours(v, bridge))
        return 0;
    _cleanup_strv_free_ char **del = rule_argv(table, "-D", v[1], (const char *const *)(v + 2));
    dd_buf out = DD_BUF_INIT;
    int r = run_iptables(del, &out, e);
    if (r > 0) {
        chomp(&out);
        r = dd_err_set(e, EIO, "iptables -t %s -D %s: exit %d: %s", table, v[1], r,
                       out.data ? out.data : "");
    }
    dd_buf_release(&out);
    return r < 0 ? r : 1;
}

static int remove_in_chain(const char *table, const char *chain, const char *bridge, dd_err *e)
{
    _cleanup_strv_free_ char **list = rule_argv(table, "-S", chain, NULL);
    dd_buf out = DD_BUF_INIT;
    int r = run_iptables(list, &out, e), count = 0;
    if (r > 0) {
        chomp(&out);
        r = dd_err_set(e, EIO, "iptables -t %s -S %s: exit %d: %s", table, chain, r,
                       out.data ? out.data : "");
    }
    char *save = NULL;
    for (char *line = r == 0 && out.data ? strtok_r(out.data, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save)) {
        r = delete_line(table, line, bridge, e);
        if (r < 0)
            break;
        count += r;
    }
    dd_buf_release(&out);
    return r < 0 ? r : count;
}

static int localnet_ensure(const char *bridge, dd_err *e);

/* ---- chain sets: chains of our own, "K3D-<bridge>-*", replaced wholesale ---- */

static const char *const chain_tables[] = {"nat", "filter"};

static char *chain_prefix(const char *bridge)
{
    return dd_asprintf(NET_CHAIN_PREFIX "%s%s", bridge ? bridge : "", bridge ? "-" : "");
}

/* The names of table's chains that start with prefix (strv, caller frees). */
static int chains_list(const char *table, const char *prefix, char ***ret, dd_err *e)
{
    char *argv[] = {(char *)"iptables", (char *)"-w", (char *)"-t",
                    (char *)table,      (char *)"-S", NULL};
    dd_buf out = DD_BUF_INIT;
    int r = run_iptables(argv, &out, e);
    if (r > 0) {
        chomp(&out);
        r = dd_err_set(e, EIO, "iptables -t %s -S: exit %d: %s", table, r,
                       out.data ? out.data : "");
    }
    char **names = NULL, *save = NULL;
    for (char *line = r == 0 && out.data ? strtok_r(out.data, "\n", &save) : NULL; line;
         line = strtok_r(NULL, "\n", &save))
        if (dd_startswith(line, "-N ") && dd_startswith(line + 3, prefix))
            names = dd_strv_push(names, line + 3);
    dd_buf_release(&out);
    *ret = names;
    return r;
}

/* Feeds text to `iptables-restore -w --noflush` (through a memfd: no pipe to deadlock on). */
static int restore(const char *text, dd_err *e)
{
    _cleanup_close_ int fd = memfd_create("k3d-dind-iptables", MFD_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "iptables-restore input: memfd");
    if (dd_write_all(fd, text, strlen(text)) < 0 || lseek(fd, 0, SEEK_SET) < 0)
        return dd_err_sys(e, "iptables-restore input");
    _cleanup_free_ char *path = restore_path();
    char *argv[] = {(char *)"iptables-restore", (char *)"-w", (char *)"--noflush", NULL};
    dd_buf out = DD_BUF_INIT;
    int r = run_tool(path, argv, fd, &out, e);
    if (r > 0) {
        chomp(&out);
        r = dd_err_set(e, EIO, "iptables-restore: exit %d: %s", r, out.data ? out.data : "");
    }
    dd_buf_release(&out);
    return r;
}

/* Appends, for every existing chain of prefix in table that `declared` lacks, a flush and a
 * delete (":C - [0:0]" then "-X C"). */
static int stale_chains(dd_buf *b, const char *table, const char *prefix, char *const *declared,
                        bool *any, dd_err *e)
{
    _cleanup_strv_free_ char **have = NULL;
    int r = chains_list(table, prefix, &have, e);
    if (r < 0)
        return r;
    dd_buf x = DD_BUF_INIT;
    for (size_t i = 0; have && have[i]; i++) {
        if (dd_strv_contains(declared, have[i]))
            continue;
        dd_buf_addf(b, ":%s - [0:0]\n", have[i]);
        dd_buf_addf(&x, "-X %s\n", have[i]);
        *any = true;
    }
    if (x.len)
        dd_buf_add(b, x.data, x.len);
    dd_buf_release(&x);
    return 0;
}

/* Flushes and deletes every chain of bridge's set (all bridges' when NULL); returns how many
 * tables had some. */
static int chains_delete(const char *bridge, dd_err *e)
{
    _cleanup_free_ char *prefix = chain_prefix(bridge);
    dd_buf b = DD_BUF_INIT;
    int r = 0, n = 0;
    for (size_t t = 0; t < DD_ARRAY_SIZE(chain_tables) && r >= 0; t++) {
        size_t mark = b.len;
        bool any = false;
        dd_buf_addf(&b, "*%s\n", chain_tables[t]);
        r = stale_chains(&b, chain_tables[t], prefix, NULL, &any, e);
        if (!any) {
            b.len = mark;
            if (b.data)
                b.data[mark] = '\0';
            continue;
        }
        dd_buf_addf(&b, "COMMIT\n");
        n++;
    }
    if (r >= 0 && n)
        r = restore(b.data, e);
    dd_buf_release(&b);
    return r < 0 ? dd_err_wrap(e, "removing chains %s*", prefix) : n;
}

/* The text with, per table, the stale chains of prefix deleted before its COMMIT, and sections
 * for tables the text leaves out whose chains are all stale. */
static int chainset_text(const char *text, const char *prefix, dd_buf *b, dd_err *e)
{
    _cleanup_free_ char *copy = dd_strdup(text);
    char **declared = NULL, *save = NULL, *table = NULL;
    bool seen[DD_ARRAY_SIZE(chain_tables)] = {false}, any = false;
    int r = 0;
    for (char *line = strtok_r(copy, "\n", &save); line && r >= 0;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '*') {
            table = line + 1;
            dd_strv_free(declared);
            declared = NULL;
        } else if (line[0] == ':') {
            char *sp = strchr(line, ' ');
            char *name = sp ? dd_strndup(line + 1, (size_t)(sp - line - 1)) : dd_strdup(line + 1);
            declared = dd_strv_consume(declared, name);
        } else if (!strcmp(line, "COMMIT") && table) {
            for (size_t t = 0; t < DD_ARRAY_SIZE(chain_tables); t++)
                if (!strcmp(chain_tables[t], table))
                    seen[t] = true;
            r = stale_chains(b, table, prefix, declared, &any, e);
        }
        dd_buf_addf(b, "%s\n", line);
    }
    dd_strv_free(declared);
    for (size_t t = 0; t < DD_ARRAY_SIZE(chain_tables) && r >= 0; t++) {
        if (seen[t])
            continue;
        size_t mark = b->len;
        any = false;
        dd_buf_addf(b, "*%s\n", chain_tables[t]);
        r = stale_chains(b, chain_tables[t], prefix, NULL, &any, e);
        if (any)
            dd_buf_addf(b, "COMMIT\n");
        else {
            b->len = mark;
            b->data[mark] = '\0';
        }
    }
    return r;
}

static void chainset_tag(char *out, size_t n, const char *bridge)
{
    snprintf(out, n, NET_RULE_TAG "%s/chains", bridge);
}

int net_chainset_apply(const struct net_chainset *cs, dd_err *e)
{
    _cleanup_free_ char *prefix = chain_prefix(cs->bridge);
    char tag[96];
    chainset_tag(tag, sizeof(tag), cs->bridge);
    dd_buf b = DD_BUF_INIT;
    int r = chainset_text(cs->text, prefix, &b, e);
    if (r >= 0 && b.len)
        r = restore(b.data, e);
    dd_buf_release(&b);
    for (size_t i = 0; i < cs->n_jumps && r >= 0; i++) {
        const struct net_jump *j = &cs->jumps[i];
        char **rule = NULL;
        _cleanup_free_ char *match = j->match ? dd_strdup(j->match) : NULL;
        char *save = NULL;
        for (char *tok = match ? strtok_r(match, " ", &save) : NULL; tok;
             tok = strtok_r(NULL, " ", &save))
            rule = dd_strv_push(rule, tok);
        rule = dd_strv_push(rule, "-m");
        rule = dd_strv_push(rule, "comment");
        rule = dd_strv_push(rule, "--comment");
        rule = dd_strv_push(rule, tag);
        rule = dd_strv_push(rule, "-j");
        rule = dd_strv_consume(rule, dd_asprintf("%s%s", prefix, j->target));
        r = rule_ensure(j->table, j->chain, "-I", (const char *const *)rule, e);
        dd_strv_free(rule);
    }
    if (r >= 0 && cs->localnet)
        r = localnet_ensure(cs->bridge, e);
    return r < 0 ? dd_err_wrap(e, "installing chains %s*", prefix) : 0;
}

int net_chainset_remove(const char *bridge, dd_err *e)
{
    static const char *const chains[][2] = {{"filter", "FORWARD"}, {"filter", "INPUT"},
                                            {"filter", "OUTPUT"},  {"nat", "POSTROUTING"},
                                            {"nat", "PREROUTING"}, {"nat", "OUTPUT"}};
    char tag[96];
    chainset_tag(tag, sizeof(tag), bridge);
    const char *mine = tag + strlen(NET_RULE_TAG);
    for (size_t i = 0; i < DD_ARRAY_SIZE(chains); i++) {
        int r = remove_in_chain(chains[i][0], chains[i][1], mine, e);
        if (r < 0)
            return r;
    }
    int r = chains_delete(bridge, e);
    return r < 0 ? r : 0;
}

int net_rules_remove(const char *bridge, dd_err *e)
{
    static const char *const chains[][2] = {{"filter", "FORWARD"}, {"filter", "INPUT"},
                                            {"filter", "OUTPUT"},  {"nat", "POSTROUTING"},
                                            {"nat", "PREROUTING"}, {"nat", "OUTPUT"}};
    int count = 0;
    for (size_t i = 0; i < DD_ARRAY_SIZE(chains); i++) {
        int r = remove_in_chain(chains[i][0], chains[i][1], bridge, e);
        if (r < 0)
            return r;
        count += r;
    }
    int r = chains_delete(bridge, e);
    return r < 0 ? r : count + r;
}

/* ---- host ports: DNAT from the node's addresses to a pod (the portmap CNI plugin's role) ---- */

static void hostport_tag(char *out, size_t n, const char *bridge, const char *owner)
{
    snprintf(out, n, NET_RULE_TAG "%s/hp/%s", bridge, owner);
}

/* DNAT from loopback to a pod needs route_localnet on the bridge (the portmap plugin's
 * enableLocalnetRouting), and route_localnet alone would let pods reach the node's 127.0.0.1
 * services through the bridge (CVE-2020-8558): so packets from the bridge to 127.0.0.0/8 that
 * are not replies of our own DNATed connections are dropped, as kube-proxy does. */
static int localnet_ensure(const char *bridge, dd_err *e)
{
    char tag[64];
    snprintf(tag, sizeof(tag), NET_RULE_TAG "%s", bridge);
    const char *guard[] = {"-i",          bridge,      "-d",
                           "127.0.0.0/8", "-m",        "conntrack",
                           "!",           "--ctstate", "RELATED,ESTABLISHED,DNAT",
                           "-m",          "comment",   "--comment",
                           tag,           "-j",        "DROP",
                           NULL};
    int r = rule_ensure("filter", "INPUT", "-I", guard, e);
    if (r < 0)
        return r;
    _cleanup_free_ char *path = dd_asprintf("/proc/sys/net/ipv4/conf/%s/route_localnet", bridge);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, "1\n", 2) != 2)
        return dd_err_sys(e, "enabling %s", path);
    return 0;
}

int net_hostports_add(const char *bridge, const char *owner, const char *pod_ip,
                      const struct net_hostport *hp, size_t n, dd_err *e)
{
    char tag[160];
    hostport_tag(tag, sizeof(tag), bridge, owner);
    int r = 0;
    bool localnet = false;
    for (size_t i = 0; i < n && r >= 0; i++) {
        char dport[16], cport[16], to[NET_IP_STRLEN + 8];
        snprintf(dport, sizeof(dport), "%d", hp[i].host_port);
        snprintf(cport, sizeof(cport), "%d", hp[i].container_port);
        snprintf(to, sizeof(to), "%s:%d", pod_ip, hp[i].container_port);
        const char *proto = hp[i].protocol;
        bool any = !hp[i].host_ip[0] || !strcmp(hp[i].host_ip, "0.0.0.0");
        bool loop = any || dd_startswith(hp[i].host_ip, "127.");
        /* from elsewhere (and from the node itself): to any local address, loopback included,
         * or to the one asked for */
        const char *to_any[] = {"-p",        proto,        "--dport", dport,  "-m",
                                "addrtype",  "--dst-type", "LOCAL",   "-m",   "comment",
                                "--comment", tag,          "-j",      "DNAT", "--to-destination",
                                to,          NULL};
        const char *to_ip[] = {"-p",          proto,  "--dport",          dport,       "-d",
                               hp[i].host_ip, "-m",   "comment",          "--comment", tag,
                               "-j",          "DNAT", "--to-destination", to,          NULL};
        /* the pod must answer the node, not 127.0.0.1 (its own loopback) nor itself (a pod
         * reaching its own host port through the node: hairpin) */
        const char *masq_loop[] = {"-s",        "127.0.0.0/8", "-d",  pod_ip,       "-p",
                                   proto,       "--dport",     cport, "-m",         "comment",
                                   "--comment", tag,           "-j",  "MASQUERADE", NULL};
        const char *masq_hairpin[] = {"-s",        pod_ip,    "-d",  pod_ip,       "-p",
                                      proto,       "--dport", cport, "-m",         "comment",
                                      "--comment", tag,       "-j",  "MASQUERADE", NULL};
        r = rule_ensure("nat", "PREROUTING", "-A", any ? to_any : to_ip, e);
        if (r >= 0)
            r = rule_ensure("nat", "OUTPUT", "-A", any ? to_any : to_ip, e);
        if (r >= 0)
            r = rule_ensure("nat", "POSTROUTING", "-I", masq_hairpin, e);
        if (r >= 0 && loop)
            r = rule_ensure("nat", "POSTROUTING", "-I", masq_loop, e);
        localnet = localnet || loop;
    }
    if (r >= 0 && localnet)
        r = localnet_ensure(bridge, e);
    if (r < 0) {
        net_hostports_remove(bridge, owner, NULL);
        return dd_err_wrap(e, "publishing host ports of %s", owner);
    }
    return 0;
}

int net_hostports_remove(const char *bridge, const char *owner, dd_err *e)
{
    static const char *const chains[] = {"PREROUTING", "OUTPUT", "POSTROUTING"};
    char tag[160];
    hostport_tag(tag, sizeof(tag), bridge, owner);
    const char *mine = tag + strlen(NET_RULE_TAG);
    int count = 0;
    for (size_t i = 0; i < DD_ARRAY_SIZE(chains); i++) {
        int r = remove_in_chain("nat", chains[i], mine, e);
        if (r < 0)
            return r;
        count += r;
    }
    return count;
}

int net_cleanup_all(dd_err *e)
{
    int r = net_rules_remove(NULL, e);
    return r < 0 ? dd_err_wrap(e, "removing k3d-dind iptables rules") : r;
}
