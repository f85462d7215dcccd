/* libFuzzer harness for the node's resolv.conf as the kubelet reads it for pods
 * (k3core/kubelet/podfiles.c): any text gives a resolv.conf for dnsPolicy Default and
 * ClusterFirst without crashing, with at most 3 nameservers. */
#include <stdint.h>

#include "k3core/kubelet/podfiles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void one(const char *policy, const char *text)
{
    json_t *pod = json_pack("{s:{s:s,s:s},s:{s:s}}", "metadata", "name", "p", "namespace", "ns",
                            "spec", "dnsPolicy", policy);
    struct kpf_dns d = {
        .cluster_dns = "10.43.0.10", .cluster_domain = "cluster.local", .host_resolv = text};
    char *out = NULL;
    if (kpf_resolv(pod, &d, &out, NULL) == 0) {
        size_t n = 0;
        for (const char *p = out; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
            n += !strncmp(p, "nameserver ", 11);
        if (n > 3)
            __builtin_trap();
        free(out);
    }
    json_decref(pod);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = dd_strndup((const char *)data, size);
    one("Default", in);
    one("ClusterFirst", in);
    free(in);
    return 0;
}
