/* main.c: the k3core multi-call front end, like k3s's: `k3core server [flags]`,
 * `k3core agent [flags]` and `k3core --version`. It only dispatches; each command parses its
 * own flags. The node agent arrives with its own issue, so `agent` answers a usage error saying
 * this build has none.
 */
#include <stdio.h>

#include "k3core/server/config.h"
#include "k3core/server/server.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: k3core COMMAND [flags]\n\nCommands:\n"
                 "  server    run the Kubernetes API server\n"
                 "  agent     run a node agent (not part of this build)\n\n"
                 "Flags:\n  --version, -v   print the version\n  --help, -h      this text\n");
}

static int cmd_server(int argc, char **argv)
{
    struct kcfg cfg;
    dd_err e = {0};
    bool help = false;
    int r = kcfg_parse(argc, argv, &cfg, &help, &e);
    if (help) {
        kcfg_usage(stdout);
        kcfg_release(&cfg);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "k3core server: %s\nRun 'k3core server --help' for usage.\n", e.msg);
        kcfg_release(&cfg);
        return 1;
    }
    r = ksrv_run(&cfg);
    kcfg_release(&cfg);
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "-v") || !strcmp(cmd, "version")) {
        printf("k3core version %s (Kubernetes %s)\n", K3CORE_VERSION, K3CORE_K8S_VERSION);
        return 0;
    }
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "server"))
        return cmd_server(argc - 2, argv + 2);
    if (!strcmp(cmd, "agent")) {
        fprintf(stderr, "k3core agent: this build of k3core has no node agent; run "
                        "'k3core server' (it serves the API without a local node)\n");
        return 2;
    }
    fprintf(stderr, "k3core: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 1;
}
