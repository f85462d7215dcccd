/* sha256 digests in Docker's "sha256:<hex>" form, streaming so layers of any size hash in one
 * pass while they are copied. Verification against expected digests is done by the callers,
 * which know what the digest names. OpenSSL's direct SHA256 functions, not EVP: the same code
 * (assembly, CPU-dispatched), but EVP's first use initialises the provider machinery, which
 * leaves ~2 MiB more of libcrypto resident in a daemon that only ever hashes. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <fcntl.h>
#include <openssl/sha.h>

#include "dind/lib/image/image-internal.h"

struct img_hash {
    SHA256_CTX ctx;
};

img_hash *img_hash_new(void)
{
    img_hash *h = dd_calloc(1, sizeof(*h));
    if (SHA256_Init(&h->ctx) != 1)
        abort();
    return h;
}

void img_hash_update(img_hash *h, const void *data, size_t len)
{
    SHA256_Update(&h->ctx, data, len);
}

void img_hash_final(img_hash *h, char out[72])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256_Final(md, &h->ctx);
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    free(h);
}

void img_hash_freep(img_hash **h)
{
    if (*h) {
        free(*h);
        *h = NULL;
    }
}

void img_sha256_str(const void *data, size_t len, char out[72])
{
    img_hash *h = img_hash_new();
    img_hash_update(h, data, len);
    img_hash_final(h, out);
}

int img_sha256_file(int dirfd, const char *path, char out[72], dd_err *e)
{
    _cleanup_close_ int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return dd_err_sys(e, "opening %s", path);
    _cleanup_(img_hash_freep) img_hash *h = img_hash_new();
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return dd_err_sys(e, "reading %s", path);
        if (n == 0)
            break;
        img_hash_update(h, buf, n);
    }
    img_hash_final(TAKE_PTR(h), out);
    return 0;
}
