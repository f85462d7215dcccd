/* libFuzzer harness for the second half of `docker create`: a parsed body's HostConfig translated
 * into the runtime's rt_spec pieces (mounts from Binds/Mounts/Tmpfs, capabilities with
 * CapAdd/CapDrop, Ulimits/Sysctls/Devices, host-config checks). fuzz-create-body.c covers the
 * body parser itself; this one feeds its output onwards. Nothing is started and nothing is
 * written: spec_mounts gets no container directory and spec_limits fills a scratch spec. */
#include "dind/daemon/create.h"
#include "dind/rt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void translate(const json_t *hc)
{
    dd_err e = {0};
    (void)spec_check_host_config(hc, &e);
    struct spec_mount *m = NULL;
    size_t n = 0;
    if (spec_mounts(hc, NULL, &m, &n, &e) == 0)
        spec_mounts_free(m, n);
    uint64_t caps = 0;
    (void)spec_caps(hc, &caps, &e);
    struct rt_spec spec = {0};
    (void)spec_limits(hc, &spec, &e);
    rt_spec_release(&spec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *cfg = NULL, *hc = NULL, *net = NULL;
    dd_err e = {0};
    if (create_parse((const char *)data, size, &cfg, &hc, &net, &e) == 0)
        translate(hc);
    json_decref(cfg);
    json_decref(hc);
    json_decref(net);
    return 0;
}
