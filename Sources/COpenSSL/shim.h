#ifndef LISTCTL_COPENSSL_SHIM_H
#define LISTCTL_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/crypto.h>

/* BIO_get_mem_data is a macro over a variadic-ish ctrl call; give Swift a typed one. */
static inline long listctl_BIO_get_mem_data(BIO *bio, char **out) {
    return BIO_ctrl(bio, BIO_CTRL_INFO, 0, (void *)out);
}
#endif
