/* server-internal.h: what the files of k3core/server/ share — the server object, the per-request
 * context with the authenticated user and the parsed resource path, and the helpers that answer
 * in Kubernetes' formats. Not included outside k3core/server/.
 */
#ifndef K3CORE_SERVER_INTERNAL_H
#define K3CORE_SERVER_INTERNAL_H

#include "dind/ev.h"
#include "dind/http.h"
#include "dind/json.h"
#include "k3core/api/objects.h"
#include "k3core/controllers/controllers.h"
#include "k3core/pki/pki.h"
#include "k3core/server/config.h"
#include "k3core/server/server.h"

#define KSRV_MAX_BODY (3u * 1024 * 1024) /* upstream's 3 MiB request limit */

struct ksrv {
    const struct kcfg *cfg;
    struct pki *pki;
    ev_loop *loop;
    http_server *http;
    SSL_CTX *tls;
    SSL_CTX *kubelet_tls; /* stream-pods.c: toward agents' kubelet ports, made on first use */
    kst_store *store;
    kobj_api *api;
    ev_timer *ctrl_timer;
    kctl *workloads; /* deployment/replicaset/job/endpoints controllers */
    int64_t start_ns;
    char *issuer;             /* ServiceAccount token issuer */
    struct kubelet *kubelet;  /* the in-process node agent; NULL with --disable-agent */
    char *node_ip;            /* advertise address = the node's InternalIP */
    char *ca_hash;            /* sha256 hex of the CA bundle served at /cacerts */
    char *token_password;     /* the join token's password (basic auth of agents) */
    ev_timer *ipam_timer;     /* ipam.c: assigns Node podCIDRs */
    ev_timer *sched_timer;    /* agent.c: the scheduler with --disable-agent */
    ev_timer *nodelife_timer; /* nodelife.c every 5 s */
    ev_timer *csr_timer;      /* csrsign.c every second */
    kobj_watch *ipam_watch;
};

/* agent.c: starts the node agent unless --disable-agent. */
int ksrv_agent_start(struct ksrv *s, const char *node_ip, dd_err *e);

/* join.c: k3s's join contract. Writes <server_dir>/token and node-token; adds the /cacerts and
 * /v1-k3s/ routes to s->http. */
int ksrv_token_init(struct ksrv *s, const char *server_dir, dd_err *e);
void ksrv_join_routes(struct ksrv *s);
/* "Basic base64(user:password)" → its parts (caller frees); -EINVAL when malformed. */
int ksrv_basic_auth_parse(const char *header, char **ret_user, char **ret_password);

/* nodelife.c: one pass of the node lifecycle controller: Nodes whose Lease is older than
 * grace_ns become Unknown and tainted unreachable:NoSchedule; the taint goes when they are back. */
void ksrv_nodelife_pass(struct ksrv *s, int64_t now_ns, int64_t grace_ns);
/* csrsign.c: signs the approved CertificateSigningRequests of the built-in signers. */
void ksrv_csr_pass(struct ksrv *s);

/* ipam.c: per-Node pod CIDRs (/24s of --cluster-cidr) through a watch on Nodes. */
int ksrv_ipam_start(struct ksrv *s, dd_err *e);
void ksrv_ipam_stop(struct ksrv *s);

struct kuser {
    char *name;
    char *uid;
    char **groups;
    char *sa_ns, *sa_name; /* set for ServiceAccount tokens */
};
void kuser_release(struct kuser *u);
bool kuser_in_group(const struct kuser *u, const char *group);

/* A parsed /api/... or /apis/... path. */
struct kpath {
    char *group, *version, *ns, *resource, *name, *sub;
    bool watch_prefix; /* legacy /watch/ form */
};
void kpath_release(struct kpath *p);
/* Splits a path after /api or /apis. Returns 0, or -ENOENT for shapes that are not resources. */
int kpath_parse(const char *path, struct kpath *ret);

/* ---- replies (reply.c) ---- */
/* The one mapping from kobj_status to a Status response; finishes req. */
int ksrv_reply_status(http_req *req, const kobj_status *st);
int ksrv_fail(http_req *req, int code, const char *reason, const char *fmt, ...) DD_PRINTF(4, 5);
/* JSON object response with Warning headers. */
int ksrv_reply_json(http_req *req, int code, const json_t *obj, char *const *warnings);
/* The negotiated Table version ("v1" / "v1beta1") when Accept asks for a Table, else NULL. */
const char *ksrv_wants_table(http_req *req);
/* Go-style ParseBool of a query value; absent → def. */
bool ksrv_query_bool(http_req *req, const char *key, bool def);
void ksrv_add_warnings(http_req *req, char *const *warnings);

/* ---- request bodies (body.c) ---- */
/* Decodes the body by Content-Type (JSON, YAML, protobuf; patch types as JSON or YAML). On
 * failure fills st (400 BadRequest / 415) and returns < 0. Empty body → *ret = NULL, 0. */
int ksrv_decode_body(http_req *req, json_t **ret, kobj_status *st);
/* YAML (first document) → JSON. */
int ksrv_yaml_to_json(const char *data, size_t len, json_t **ret, dd_err *e);

/* ---- authentication and authorization (auth.c, rbac.c) ---- */
/* Fills u from the client certificate or bearer token; -EACCES when anonymous/invalid. */
int ksrv_authenticate(struct ksrv *s, http_req *req, struct kuser *u);
/* Applies the Impersonate-* headers (impersonate.c): u becomes the requested user when the
 * caller may impersonate it; else st is filled (403, or 500 for groups without a user) and u is
 * left as it was. 0 when there is nothing to impersonate. */
int ksrv_impersonate(struct ksrv *s, http_req *req, struct kuser *u, kobj_status *st);
/* Fills u from a ServiceAccount JWT; -EACCES when invalid, expired or its objects are gone. */
int ksrv_token_user(struct ksrv *s, const char *token, struct kuser *u);
/* Signs a ServiceAccount token (auth.c); ttl 0 = no expiry; bound_kind "Secret"/"Pod"/NULL. */
char *ksrv_mint_token(struct ksrv *s, const char *ns, const char *name, const char *sa_uid,
                      const json_t *audiences, int64_t ttl, const char *bound_kind,
                      const char *bound_name, const char *bound_uid, int64_t *ret_exp);
/* Fills token, ca.crt and namespace of a kubernetes.io/service-account-token Secret just
 * created; returns the updated object (new reference) or NULL when it does not apply. */
json_t *ksrv_fill_token_secret(struct ksrv *s, const json_t *secret);
struct kattr {
    const char *verb, *group, *resource, *sub, *ns, *name, *path; /* path: non-resource */
};
/* True when u may do attr (system:masters bypass, else RBAC over the store). */
bool ksrv_authorize(struct ksrv *s, const struct kuser *u, const struct kattr *a, char **ret_why);
int ksrv_rbac_bootstrap(struct ksrv *s, dd_err *e);
/* Endpoints and EndpointSlice default/kubernetes: the advertise address and HTTPS port
 * (master-endpoints.c). */
int ksrv_master_endpoints(struct ksrv *s, dd_err *e);
/* Authorizes a GET of a non-resource path (discovery, OpenAPI, version, health); answers 403 and
 * returns false when RBAC denies it. */
bool ksrv_authorize_path(struct ksrv *s, http_req *req, const struct kuser *u);
/* Rules of u in ns as a SubjectRulesReviewStatus {resourceRules, nonResourceRules}. */
json_t *ksrv_rbac_rules(struct ksrv *s, const struct kuser *u, const char *ns);

/* ---- handlers ---- */
void ksrv_handle_resource(http_req *req);  /* resources.c: /api/... /apis/... */
void ksrv_handle_discovery(http_req *req); /* discovery.c: /api, /apis, /apis/{g}, .../{v} */
void ksrv_handle_openapi(http_req *req);   /* openapi.c */
int ksrv_watch(struct ksrv *s, http_req *req, const kobj_req *kr, const char *table_version);
/* reviews.c: create-only kinds answered by the server (SSAR, SSRR, SSR, TokenReview...). */
bool ksrv_is_review(const kres_resource *r, const char *sub);
void ksrv_handle_review(struct ksrv *s, http_req *req, struct kuser *u, const kres_resource *r,
                        const char *ns, const char *name, json_t *body);
/* table.c: converts an object or list into a meta.k8s.io Table. */
json_t *ksrv_table(const kres_resource *r, const json_t *obj_or_list, const char *version,
                   const char *include_object, bool list);

/* stream-pods.c: pods/log, exec, attach, portforward; < 0 with st filled when not answered. */
bool ksrv_is_pod_stream(const kres_resource *r, const char *sub);
int ksrv_handle_pod_stream(struct ksrv *s, http_req *req, const kobj_req *kr, kobj_status *st);

struct ksrv *ksrv_of(http_req *req);
struct kuser *ksrv_user(http_req *req);

#endif
