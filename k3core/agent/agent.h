/* agent: `k3core agent` — a node that joins a k3core (or k3s-contract) server. Prefix: kag_.
 *
 * kag_run() owns the process: it joins the server with the cluster token (join.c: k3s's
 * /cacerts + /v1-k3s/client-kubelet.crt contract), then runs the same kubelet as the server's
 * in-process agent (k3core/kubelet) with every API call sent over HTTPS with the node's client
 * certificate (client.c), until SIGTERM/SIGINT. http.c is the blocking libcurl transport both
 * use; the agent's event loop has nothing else to serve, so a call waits for its answer
 * (bounded by a timeout).
 */
#ifndef K3CORE_AGENT_H
#define K3CORE_AGENT_H

#include "dind/base.h"
#include "dind/ev.h"
#include "dind/json.h"
#include "k3core/kubelet/kubelet.h"
#include "k3core/server/config.h"

/* Returns the process exit status: 0 after a clean shutdown, 1 when joining or starting fails
 * (the reason is printed on stderr). */
int kag_run(const struct kcfg *cfg);

/* ---- http.c ---- */
typedef struct kag_http kag_http;

struct kag_http_opts {
    const char *ca_file;   /* verify the server against this bundle; NULL = do not verify */
    const char *cert_file; /* client certificate (PEM), or NULL */
    const char *key_file;
    const char *user, *password; /* basic auth, or NULL */
};
int kag_http_new(const char *base_url, const struct kag_http_opts *o, kag_http **ret, dd_err *e);
void kag_http_free(kag_http *h);
/* One request: path (with query) under the base URL; body (JSON text) may be NULL; headers are
 * "Name: value" strings (NULL-terminated, may be NULL). Fills *ret_code and *ret_body (NUL-
 * terminated, caller frees). < 0 with e filled only when no HTTP answer arrived. */
int kag_http_do(kag_http *h, const char *method, const char *path, const char *body,
                char *const *headers, long *ret_code, char **ret_body, size_t *ret_len, dd_err *e);
/* Percent-encodes a query value (caller frees). */
char *kag_http_escape(kag_http *h, const char *s);

/* ---- watch.c: change notifications ---- */
typedef struct kag_watch kag_watch;
/* Streams url (a list URL with watch=true) in a thread and calls fn(ud) on loop after events
 * arrive or the stream reconnects. o gives the CA and client certificate (copied). */
int kag_watch_start(ev_loop *loop, const char *url, const struct kag_http_opts *o,
                    void (*fn)(void *), void *ud, kag_watch **ret, dd_err *e);
void kag_watch_stop(kag_watch *w); /* joins the thread; NULL-safe */

/* ---- client.c: struct kubelet_remote over kag_http ---- */
struct kag_client {
    kag_http *http;           /* requests (borrowed) */
    ev_loop *loop;            /* where watch notifications arrive */
    const char *base_url;     /* https://host:port */
    struct kag_http_opts tls; /* CA and client certificate, for watch streams */
};
/* The kubelet's API calls against the server behind c (borrowed; must outlive the result). */
void kag_client_init(struct kubelet_remote *ops, struct kag_client *c);
/* Mints a projected ServiceAccount token through TokenRequest (mint_token of kubelet_config;
 * ud is the struct kag_client). */
char *kag_client_mint(void *ud, const char *ns, const char *sa, const char *pod,
                      const char *pod_uid, int64_t ttl, int64_t *ret_exp);

/* ---- kubelet-port.c: logs, exec, attach and port-forward for the server ---- */
typedef struct kag_kport kag_kport;
/* Serves k's pods on tcp://0.0.0.0:port with TLS: <agent_dir>/serving-kubelet.{crt,key}, clients
 * verified against <agent_dir>/client-ca.crt and only the server's identity accepted. */
int kag_kport_start(ev_loop *loop, kubelet *k, const char *agent_dir, int port, kag_kport **ret,
                    dd_err *e);
void kag_kport_stop(kag_kport *kp); /* closes the port and its connections; NULL-safe */

/* ---- join.c ---- */
struct kag_join {
    char *ca_file, *cert_file, *key_file; /* under <data-dir>/agent, written by the join */
    char *ca_pem;                         /* the server CA bundle */
    char *client_ca_file;                 /* <agent>/client-ca.crt, for the kubelet port */
    char *cluster_cidr;                   /* from /v1-k3s/config (ClusterIPRange) */
    char *cluster_dns, *cluster_domain;   /* ClusterDNS, ClusterDomain (NULL: defaults) */
};
/* Parses the token, fetches and pins the CA (/cacerts), proves the token and the node
 * password, stores the kubelet client certificate and reads the cluster CIDR. -EACCES for a token
 * the server refuses (e->msg says so), -EPERM for a node password it refuses. */
int kag_join(const struct kcfg *cfg, const char *node_name, const char *node_ip,
             struct kag_join *ret, dd_err *e);
void kag_join_release(struct kag_join *j);
/* Splits a PEM text into its CERTIFICATE blocks (concatenated) and its first private key block
 * (caller frees both); -EPROTO when either is missing. */
int kag_pem_split(const char *pem, char **ret_certs, char **ret_key, dd_err *e);

/* Token forms (k3s pkg/clientaccess): "K10<ca sha256 hex>::<user>:<password>",
 * "K10<hash>::<password>" and the short form "<password>" (no CA pin). user defaults to
 * "node". -EINVAL for an empty or malformed token. */
struct kag_token {
    char *ca_hash; /* NULL for the short form */
    char *user, *password;
};
int kag_token_parse(const char *s, struct kag_token *ret, dd_err *e);
void kag_token_release(struct kag_token *t);

#endif
