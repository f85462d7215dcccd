/* libFuzzer harness for dindd's untrusted container inputs: the create body (parse, validate,
 * merge with an image config, Path/Args, the health check read from it), the `filters` parameter in
 * both encodings, and the since/until time syntax. */
#include "dind/daemon/create.h"
#include "dind/daemon/filters.h"
#include "dind/daemon/health.h"
#include "dind/daemon/streams.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    json_t *cfg = NULL, *hc = NULL, *net = NULL;
    dd_err e = {0};
    if (create_parse(in, size, &cfg, &hc, &net, &e) == 0) {
        json_t *img = json_pack("{s:[s],s:[s],s:s}", "Env", "PATH=/bin", "Cmd", "sh", "User", "1");
        char *path = NULL, **args = NULL;
        create_merge_image(cfg, img);
        struct health_config hcfg;
        health_config_get(cfg, &hcfg);
        health_config_release(&hcfg);
        if (create_command(cfg, &path, &args, &e) == 0) {
            free(path);
            dd_strv_free(args);
        }
        json_decref(img);
        json_decref(cfg);
        json_decref(hc);
        json_decref(net);
    }
    char *s = dd_strndup(in, size);
    struct flt f;
    if (flt_parse(s, NULL, &f, &e) == 0)
        flt_release(&f);
    int64_t ns;
    stream_parse_time(s, &ns, &e);
    free(s);
    return 0;
}
