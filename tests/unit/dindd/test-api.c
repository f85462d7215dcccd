/* Unit tests for dindd's shared API glue: the version prefix, the error mapping, the route tables
 * of every area (valid patterns, no duplicate rows) and the /info and /version objects. */
#include "dind/daemon/daemon.h"
#include "dind/json.h"
#include "tests/unit/unit.h"

TEST(prefix_accepts_supported_versions)
{
    dd_err e = {0};
    CHECK_EQ_INT(dindd_api_prefix("/v1.41/containers/json", &e), 6);
    CHECK_EQ_INT(dindd_api_prefix("/v1.24/info", &e), 6);
    CHECK_EQ_INT(dindd_api_prefix("/v1.41", &e), 6);
    CHECK_EQ_INT(dindd_api_prefix("/containers/json", &e), 0);
    CHECK_EQ_INT(dindd_api_prefix("/volumes", &e), 0); /* starts with 'v', not a version */
    CHECK_EQ_INT(dindd_api_prefix("/v1/x", &e), 0);    /* no minor: not a version prefix */
    CHECK_EQ_INT(dindd_api_prefix("/v1.4a/x", &e), 0);
}

TEST(prefix_rejects_too_new_and_too_old)
{
    dd_err e = {0};
    CHECK(dindd_api_prefix("/v1.44/version", &e) < 0);
    CHECK_EQ_STR(e.msg, "client version 1.44 is too new. Maximum supported API version is 1.41");
    CHECK(dindd_api_prefix("/v2.0/version", &e) < 0);
    CHECK(dindd_api_prefix("/v1.23/version", &e) < 0);
    CHECK(dd_startswith(e.msg, "client version 1.23 is too old."));
}

TEST(error_codes_map_to_docker_statuses)
{
    CHECK_EQ_INT(dindd_err_status(ENOENT), 404);
    CHECK_EQ_INT(dindd_err_status(EEXIST), 409);
    CHECK_EQ_INT(dindd_err_status(EBUSY), 409);
    CHECK_EQ_INT(dindd_err_status(EINVAL), 400);
    CHECK_EQ_INT(dindd_err_status(EALREADY), 304);
    CHECK_EQ_INT(dindd_err_status(EPERM), 403);
    CHECK_EQ_INT(dindd_err_status(EOPNOTSUPP), 501);
    CHECK_EQ_INT(dindd_err_status(EIO), 500);
    CHECK_EQ_INT(dindd_err_status(0), 500);
}

TEST(route_tables_are_valid_and_unique)
{
    size_t n = 0;
    for (size_t a = 0; dindd_areas[a]; a++) {
        const dindd_area *area = dindd_areas[a];
        CHECK(area->name != NULL);
        for (size_t i = 0; i < area->nroutes; i++) {
            const http_route *r = &area->routes[i];
            if (r->pattern[0] != '/' || !r->handler)
                unit_fail(__FILE__, __LINE__, "%s: bad row %zu", area->name, i);
            for (size_t b = 0; b <= a; b++)
                for (size_t j = 0; j < dindd_areas[b]->nroutes; j++) {
                    const http_route *o = &dindd_areas[b]->routes[j];
                    if (o == r)
                        break;
                    if (dd_streq(o->method, r->method) && strcmp(o->pattern, r->pattern) == 0)
                        unit_fail(__FILE__, __LINE__, "duplicate route %s %s", r->method,
                                  r->pattern);
                }
            n++;
        }
    }
    CHECK(n >= 4);
    CHECK(dindd_areas[0] == &dindd_area_system);
    size_t last = 0;
    while (dindd_areas[last + 1])
        last++;
    CHECK(dindd_areas[last] == &dindd_area_unsupported);
}

TEST(version_object_has_the_fields_clients_read)
{
    json_t *v = dindd_version_json();
    const char *s = NULL;
    CHECK(jx_str(v, "ApiVersion", &s, NULL) == 0 && dd_streq(s, "1.41"));
    CHECK(jx_str(v, "MinAPIVersion", &s, NULL) == 0 && dd_streq(s, "1.24"));
    CHECK(jx_str(v, "Os", &s, NULL) == 0 && dd_streq(s, "linux"));
    json_t *comps = json_object_get(v, "Components");
    CHECK(json_array_size(comps) == 1);
    CHECK(jx_str(json_array_get(comps, 0), "Name", &s, NULL) == 0 && dd_streq(s, "Engine"));
    json_decref(v);
}

TEST(info_object_reports_this_host)
{
    dindd_ctx d = {.cfg = {.data_root = (char *)"/tmp", .debug = true}};
    json_t *o = dindd_info_host_json(&d);
    int64_t ncpu = 0, mem = 0;
    CHECK(jx_int(o, "NCPU", &ncpu, NULL) == 0);
    CHECK_EQ_INT(ncpu, sysconf(_SC_NPROCESSORS_ONLN));
    CHECK(jx_int(o, "MemTotal", &mem, NULL) == 0 && mem > 0);
    const char *s = NULL;
    CHECK(jx_str(o, "CgroupVersion", &s, NULL) == 0);
    CHECK(dd_streq(s, access("/sys/fs/cgroup/cgroup.controllers", F_OK) == 0 ? "2" : "1"));
    CHECK(jx_str(o, "DockerRootDir", &s, NULL) == 0 && dd_streq(s, "/tmp"));
    json_t *ds = json_object_get(o, "DriverStatus");
    CHECK(json_is_array(ds) && json_array_size(ds) == 3);
    CHECK_EQ_STR(json_string_value(json_array_get(json_array_get(ds, 0), 0)), "Backing Filesystem");
    bool dbg = false;
    CHECK(jx_bool(o, "Debug", &dbg, NULL) == 0 && dbg);
    json_decref(o);
}
