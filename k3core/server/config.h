/* config: `k3core server` command line, with k3s's flag names and K3S_* environment variables.
 * Prefix: kcfg_.
 *
 * `k3core agent` uses the same table (rows are marked server-only, agent-only or both).
 *
 * Precedence like k3s (urfave/cli): flag > environment > default. Slice flags (--tls-san,
 * --disable) repeat and also split on commas. Unknown flags are an error naming the flag.
 */
#ifndef K3CORE_SERVER_CONFIG_H
#define K3CORE_SERVER_CONFIG_H

#include <stdio.h>
#include <sys/types.h>

#include "dind/base.h"
#include "dind/json.h"

struct kcfg {
    char *data_dir;       /* --data-dir, -d, K3S_DATA_DIR (/var/lib/rancher/k3s) */
    int https_port;       /* --https-listen-port (6443) */
    char *bind_address;   /* --bind-address (0.0.0.0) */
    char *advertise_addr; /* --advertise-address (unset: first non-loopback IPv4, else 127.0.0.1) */
    char **tls_sans;      /* --tls-san (repeatable) */
    char *token;          /* --token, -t, K3S_TOKEN */
    char *kubeconfig_out; /* --write-kubeconfig, -o, K3S_KUBECONFIG_OUTPUT */
    mode_t kubeconfig_mode;
    char *cluster_cidr; /* --cluster-cidr (10.42.0.0/16) */
    char *service_cidr; /* --service-cidr (10.43.0.0/16) */
    char *cluster_dns;  /* --cluster-dns (10.43.0.10) */
    char *cluster_domain;
    bool disable_agent;       /* --disable-agent */
    char *node_name;          /* --node-name, K3S_NODE_NAME (hostname) */
    char **node_labels;       /* --node-label k=v (repeatable) */
    char **node_taints;       /* --node-taint key[=value]:Effect (repeatable) */
    char **kubelet_args;      /* --kubelet-arg k=v (repeatable; unknown names are an error) */
    char *private_registry;   /* --private-registry (/etc/rancher/k3s/registries.yaml) */
    char *local_storage_path; /* --default-local-storage-path (<data-dir>/storage) */
    char *image_store;        /* --image-store: an engine's image store shared read-only */
    char **disable;           /* --disable: k3s packaged components we do not ship anyway */
    int verbosity;            /* -v N */
    char *log_level;          /* --log-level (info); --debug = debug */
    char *token_file;         /* --token-file, K3S_TOKEN_FILE */
    char *node_ip;            /* --node-ip, -i (server: advertise address; agent: first IPv4) */
    char *server_url;         /* agent: --server, -s, K3S_URL */
    bool agent;               /* parsed for `k3core agent` */
};

/* Parses argv (after the "server" or "agent" word): each command accepts its own flags (the
 * agent's are k3s agent's: --server, --token, --token-file, node flags, --data-dir...). On
 * --help fills *ret_help and returns 1. */
int kcfg_parse(int argc, char **argv, bool agent, struct kcfg *c, bool *ret_help, dd_err *e);
void kcfg_release(struct kcfg *c);
/* k3s's registries.yaml (--private-registry, default /etc/rancher/k3s/registries.yaml) as JSON;
 * a missing file at the default path is no configuration (*ret NULL). */
int kcfg_load_registries(const struct kcfg *cfg, json_t **ret, dd_err *e);
void kcfg_usage(FILE *out, bool agent);
/* The join token: --token, else the first line of --token-file; *ret NULL when neither. */
int kcfg_token(const struct kcfg *c, char **ret, dd_err *e);

/* Server state dir <data-dir>/server (caller frees). */
char *kcfg_server_dir(const struct kcfg *c);
/* First usable address of the service CIDR (10.43.0.1), or -EINVAL. */
int kcfg_first_service_ip(const struct kcfg *c, char *out, size_t outlen);

#endif
