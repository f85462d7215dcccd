/* libFuzzer harness for label and field selectors (k3core/api/selector.c): the input is split at
 * the first newline into a selector and a label set "k=v,k=v"; both selector kinds must parse or
 * fail cleanly and matching must not crash. */
#include <stdint.h>

#include "k3core/api/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *field(void *ud, const char *f)
{
    return json_string_value(json_object_get(ud, f));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = dd_strndup((const char *)data, size);
    char *nl = strchr(in, '\n');
    const char *labels_text = "";
    if (nl) {
        *nl = '\0';
        labels_text = nl + 1;
    }
    json_t *labels = json_object();
    char *copy = dd_strdup(labels_text), *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            json_object_set_new(labels, kv, json_string_nocheck(eq + 1));
        }
    }
    ksel *s = NULL;
    if (ksel_parse_labels(in, &s, NULL) == 0) {
        ksel_match_labels(s, labels);
        ksel_free(s);
    }
    if (ksel_parse_fields(in, &s, NULL) == 0) {
        for (size_t i = 0; ksel_key(s, i); i++)
            ;
        ksel_match_fields(s, field, labels);
        ksel_free(s);
    }
    ksel_check_qualified_name(in);
    ksel_check_dns1123_subdomain(in);
    json_decref(labels);
    free(copy);
    free(in);
    return 0;
}
