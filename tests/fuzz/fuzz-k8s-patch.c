/* libFuzzer harness for the three patch appliers (k3core/api/patch.c, smp.c): the input is a
 * patch document applied to a fixed Deployment as JSON patch, merge patch and strategic merge
 * patch (with the Deployment schema). Each must produce a result or a clean error status. */
#include <stdint.h>

#include "k3core/api/objects-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char doc_text[] =
    "{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\","
    "\"labels\":{\"app\":\"web\"}},\"spec\":{\"replicas\":1,\"strategy\":{\"type\":"
    "\"RollingUpdate\",\"rollingUpdate\":{\"maxSurge\":\"25%\"}},\"selector\":{\"matchLabels\":{"
    "\"app\":\"web\"}},\"template\":{\"metadata\":{\"labels\":{\"app\":\"web\"}},\"spec\":{"
    "\"containers\":[{\"name\":\"a\",\"image\":\"nginx\",\"ports\":[{\"containerPort\":80}],"
    "\"env\":[{\"name\":\"X\",\"value\":\"1\"}],\"args\":[\"x\",\"y\"]},{\"name\":\"b\","
    "\"image\":\"redis\"}],\"volumes\":[{\"name\":\"v\",\"emptyDir\":{}}]}}}}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *patch = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (!patch)
        return 0;
    json_t *doc = json_loads(doc_text, 0, NULL);
    const kres_resource *r = kres_lookup("apps", "v1", "deployments");
    json_t *out = NULL;
    kobj_status st = {0};
    if (kobj_json_patch(doc, patch, &out, &st) == 0)
        json_decref(out);
    kobj_status_release(&st);
    out = kobj_merge_patch(doc, patch);
    json_decref(out);
    out = NULL;
    if (kobj_strategic_patch(kres_schema(r), doc, patch, &out, &st) == 0)
        json_decref(out);
    kobj_status_release(&st);
    json_decref(doc);
    json_decref(patch);
    return 0;
}
