/* Engine features dindd does not have (swarm, plugins, image builds) answer the way a dockerd
 * without them does, so clients print a clear message instead of hanging or seeing a bare 500. */
#include "dind/daemon/daemon.h"

static void h_not_swarm_manager(http_req *req)
{
    http_reply_error(req, 503,
                     "This node is not a swarm manager. Use \"docker swarm init\" or \"docker "
                     "swarm join\" to connect this node to swarm and try again.");
}

/* dockerd decodes the request first, so a malformed body is a 400 before anything else. */
static void h_swarm_unsupported(http_req *req)
{
    json_t *body = NULL;
    if (dindd_body_json(req, true, &body) < 0)
        return;
    json_decref(body);
    http_reply_error(req, 501, "swarm mode is not supported by this engine (dindd)");
}

static void h_plugins_list(http_req *req)
{
    http_reply(req, 200, "application/json", "[]\n", 3);
}

static void h_plugin_not_found(http_req *req)
{
    dindd_reply_errf(req, ENOENT, "plugin \"%s\" not found", http_req_param(req, "name"));
}

static void h_plugins_unsupported(http_req *req)
{
    http_reply_error(req, 501, "plugins are not supported by this engine (dindd)");
}

static void h_build_unsupported(http_req *req)
{
    http_reply_error(req, 501,
                     "image builds are not supported by this engine (dindd): build the image "
                     "elsewhere and use \"docker load\"");
}

static const http_route unsupported_routes[] = {
    {"POST", "/swarm/init", h_swarm_unsupported},
    {"POST", "/swarm/join", h_swarm_unsupported},
    {NULL, "/swarm", h_not_swarm_manager},
    {NULL, "/swarm/{rest*}", h_not_swarm_manager},
    {NULL, "/nodes", h_not_swarm_manager},
    {NULL, "/nodes/{rest*}", h_not_swarm_manager},
    {NULL, "/services", h_not_swarm_manager},
    {NULL, "/services/{rest*}", h_not_swarm_manager},
    {NULL, "/tasks", h_not_swarm_manager},
    {NULL, "/tasks/{rest*}", h_not_swarm_manager},
    {NULL, "/secrets", h_not_swarm_manager},
    {NULL, "/secrets/{rest*}", h_not_swarm_manager},
    {NULL, "/configs", h_not_swarm_manager},
    {NULL, "/configs/{rest*}", h_not_swarm_manager},
    {"GET", "/plugins", h_plugins_list},
    {"GET", "/plugins/privileges", h_plugins_unsupported},
    {"POST", "/plugins/pull", h_plugins_unsupported},
    {"POST", "/plugins/create", h_plugins_unsupported},
    {"GET", "/plugins/{name*}/json", h_plugin_not_found},
    {NULL, "/plugins/{name*}/{action}", h_plugin_not_found},
    {"DELETE", "/plugins/{name*}", h_plugin_not_found},
    {"POST", "/build", h_build_unsupported, HTTP_ROUTE_NO_BODY},
    {"POST", "/build/prune", h_build_unsupported},
    {"POST", "/session", h_build_unsupported},
    {"POST", "/grpc", h_build_unsupported},
};

const dindd_area dindd_area_unsupported = {
    .name = "unsupported",
    .routes = unsupported_routes,
    .nroutes = DD_ARRAY_SIZE(unsupported_routes),
};
