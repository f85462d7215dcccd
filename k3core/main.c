/* main.c: the k3core multi-call front end, like k3s's: `k3core server [flags]`,
 * `k3core agent [flags]` and `k3core --version`. It only dispatches; each command parses its
 * own flags (one table, k3core/server/config.c).
 */
#include <stdio.h>

#include "k3core/agent/agent.h"
#include "k3core/server/config.h"
#include "k3core/server/server.h"

static void usage(FILE *out)
{
    fprintf(out, "Usage: k3core COMMAND [flags]\n\nCommands:\n"
                 "  server    run the Kubernetes API server\n"
                 "  agent     run a node agent that joins a server\n\n"
                 "Flags:\n  --version, -v   print the version\n  --help, -h      this text\n");
}

static int cmd_run(int argc, char **argv, bool agent)
{
    struct kcfg cfg;
    dd_err e = {0};
    bool help = false;
    const char *name = agent ? "agent" : "server";
    int r = kcfg_parse(argc, argv, agent, &cfg, &help, &e);
    if (help) {
        kcfg_usage(stdout, agent);
        kcfg_release(&cfg);
        return 0;
    }
    if (r < 0) {
        fprintf(stderr, "k3core %s: %s\nRun 'k3core %s --help' for usage.\n", name, e.msg, name);
        kcfg_release(&cfg);
        return 1;
    }
    r = agent ? kag_run(&cfg) : ksrv_run(&cfg);
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
    if (!strcmp(cmd, "server") || !strcmp(cmd, "agent"))
        return cmd_run(argc - 2, argv + 2, !strcmp(cmd, "agent"));
    fprintf(stderr, "k3core: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 1;
}
