/* digest.c: see digest.h. libcrypto is looked for once, among the
 * libraries already loaded (RTLD_NOLOAD: never loaded for this). */
#include "digest.h"

#include <dlfcn.h>
#include <pthread.h>

#include "sha256.h"

typedef int (*evp_digest_fn)(const void *data, size_t n, unsigned char *md, unsigned int *len,
                             const void *type, void *engine);
typedef const void *(*evp_md_fn)(void);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static evp_digest_fn evp_digest;
static const void *evp_sha256;

static void find_libcrypto(void)
{
    void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);
    if (!h)
        return;
    evp_digest_fn d = (evp_digest_fn)dlsym(h, "EVP_Digest");
    evp_md_fn md = (evp_md_fn)dlsym(h, "EVP_sha256");
    const void *type = md ? md() : NULL;
    if (d && type) {
        evp_sha256 = type;
        evp_digest = d;
    }
    /* the handle stays open: libcurl holds the library anyway */
}

void digest_sha256(const void *data, size_t n, unsigned char out[32])
{
    pthread_once(&once, find_libcrypto);
    unsigned int len = 0;
    if (evp_digest && evp_digest(data, n, out, &len, evp_sha256, NULL) == 1 && len == 32)
        return;
    sha256_of(data, n, out);
}
