/* libFuzzer harness for registry credentials and challenges: WWW-Authenticate values
 * (img_challenge_parse), X-Registry-Auth headers (img_auth_decode, base64url JSON) and
 * kubernetes.io/dockerconfigjson documents. Every input must parse or fail cleanly, and a failed
 * parse leaves nothing allocated. The first byte picks the parser. */
#include <stdint.h>

#include "dind/lib/image/image-internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char *s = dd_strndup((const char *)data + 1, size - 1);
    switch (data[0] % 3) {
    case 0: {
        img_challenge c;
        if (img_challenge_parse(s, &c, NULL) == 0)
            img_challenge_release(&c);
        else if (c.realm || c.scope || c.service)
            __builtin_trap();
        break;
    }
    case 1: {
        img_auth a;
        if (img_auth_decode(s, &a, NULL) == 0)
            img_auth_release(&a);
        else if (a.username || a.password)
            __builtin_trap();
        break;
    }
    default: {
        img_registries r = {0};
        (void)img_registries_add_dockerconfig(&r, s, strlen(s), NULL);
        img_registries_release(&r);
    }
    }
    free(s);
    return 0;
}
