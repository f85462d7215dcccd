/* sha256 digests in Docker's "sha256:<hex>" form, streaming (OpenSSL EVP) so layers of any size
 * hash in one pass while they are copied. Verification against expected digests is done by the
 * callers, which know what the digest names. */
#include <fcntl.h>
#include <openssl/evp.h>

#include "dind/lib/image/image-internal.h"

struct img_hash {
    EVP_MD_CTX *ctx;
};

img_hash *img_hash_new(void)
{
    img_hash *h = dd_calloc(1, sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
    return h;
}

void img_hash_update(img_hash *h, const void *data, size_t len)
{
    EVP_DigestUpdate(h->ctx, data, len);
}

void img_hash_final(img_hash *h, char out[72])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(h->ctx, md, &n);
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", md[i]);
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void img_hash_freep(img_hash **h)
{
    if (*h) {
        EVP_MD_CTX_free((*h)->ctx);
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
