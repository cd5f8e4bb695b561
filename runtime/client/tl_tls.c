/* SPDX-License-Identifier: MIT */
/*
 * tl_tls.c - make a self-signed certificate and key with GnuTLS, and the
 * libcurl pin of a certificate (tl_tls.h).
 *
 * ECDSA P-256: a key is made in about a millisecond (an RSA key takes
 * tens to hundreds), and every TLS library in use speaks it.
 */
#include "tl_tls.h"

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TL_TLS_VALID_S (10L * 365 * 24 * 3600)

/* PEM text of a datum, NUL-terminated, malloc'd (GnuTLS' own memory is
 * given back with gnutls_free). */
static char *pem_copy(const gnutls_datum_t *d)
{
    char *text = malloc(d->size + 1);

    if (text != NULL) {
        memcpy(text, d->data, d->size);
        text[d->size] = '\0';
    }
    return text;
}

/* "sha256//" + base64 of the SHA-256 of the certificate's
 * SubjectPublicKeyInfo, which is what GnuTLS' SHA-256 key id hashes. */
static int crt_pin(gnutls_x509_crt_t crt, char *pin, size_t pinlen,
                   char *err, size_t errlen)
{
    unsigned char id[32];
    size_t idlen = sizeof id;
    gnutls_datum_t raw, b64 = { NULL, 0 };
    int rc;

    rc = gnutls_x509_crt_get_key_id(crt, GNUTLS_KEYID_USE_SHA256, id, &idlen);
    if (rc < 0) {
        snprintf(err, errlen, "key id: %s", gnutls_strerror(rc));
        return -1;
    }
    raw.data = id;
    raw.size = (unsigned)idlen;
    rc = gnutls_base64_encode2(&raw, &b64);
    if (rc < 0) {
        snprintf(err, errlen, "base64: %s", gnutls_strerror(rc));
        return -1;
    }
    if (pinlen < 9 + b64.size) {
        gnutls_free(b64.data);
        snprintf(err, errlen, "pin buffer too small");
        return -1;
    }
    snprintf(pin, pinlen, "sha256//%.*s", (int)b64.size, (const char *)b64.data);
    gnutls_free(b64.data);
    return 0;
}

int tl_tls_make(struct tl_tls_identity *id, char *err, size_t errlen)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t cert_pem = { NULL, 0 }, key_pem = { NULL, 0 };
    unsigned char serial[16];
    time_t now = time(NULL);
    const char *what = "";
    int rc;

    memset(id, 0, sizeof *id);
#define TRY(call, name) do { what = name; if ((rc = (call)) < 0) goto fail; } while (0)
    TRY(gnutls_x509_privkey_init(&key), "key");
    TRY(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
            GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), "key generation");
    TRY(gnutls_x509_crt_init(&crt), "certificate");
    TRY(gnutls_x509_crt_set_version(crt, 3), "version");
    TRY(gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof serial), "serial");
    serial[0] &= 0x7f;         /* a positive INTEGER */
    TRY(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), "serial");
    TRY(gnutls_x509_crt_set_activation_time(crt, now - 60), "activation time");
    TRY(gnutls_x509_crt_set_expiration_time(crt, now + TL_TLS_VALID_S), "expiration");
    TRY(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                      "turbolift", 9), "name");
    TRY(gnutls_x509_crt_set_key(crt, key), "public key");
    TRY(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "basic constraints");
    TRY(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
    TRY(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "purpose");
    TRY(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), "signature");
    TRY(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cert_pem), "export");
    TRY(gnutls_x509_privkey_export2_pkcs8(key, GNUTLS_X509_FMT_PEM, NULL,
                                          GNUTLS_PKCS_PLAIN, &key_pem), "key export");
#undef TRY
    id->cert_pem = pem_copy(&cert_pem);
    id->key_pem = pem_copy(&key_pem);
    if (id->cert_pem == NULL || id->key_pem == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (crt_pin(crt, id->pin, sizeof id->pin, err, errlen) < 0)
        goto out;
    rc = 0;
    goto done;
fail:
    snprintf(err, errlen, "cannot make a TLS certificate (%s): %s", what,
             gnutls_strerror(rc));
out:
    tl_tls_identity_clear(id);
    rc = -1;
done:
    if (key_pem.data != NULL) {
        gnutls_memset(key_pem.data, 0, key_pem.size);
        gnutls_free(key_pem.data);
    }
    gnutls_free(cert_pem.data);
    if (crt != NULL)
        gnutls_x509_crt_deinit(crt);
    if (key != NULL)
        gnutls_x509_privkey_deinit(key);
    return rc;
}

int tl_tls_pin(const char *cert_pem, char *pin, size_t pinlen, char *err, size_t errlen)
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t d;
    int rc;

    rc = gnutls_x509_crt_init(&crt);
    if (rc < 0) {
        snprintf(err, errlen, "certificate: %s", gnutls_strerror(rc));
        return -1;
    }
    d.data = (unsigned char *)cert_pem;
    d.size = (unsigned)strlen(cert_pem);
    rc = gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM);
    if (rc < 0) {
        snprintf(err, errlen, "not a PEM certificate: %s", gnutls_strerror(rc));
        gnutls_x509_crt_deinit(crt);
        return -1;
    }
    rc = crt_pin(crt, pin, pinlen, err, errlen);
    gnutls_x509_crt_deinit(crt);
    return rc;
}

void tl_tls_identity_clear(struct tl_tls_identity *id)
{
    if (id->key_pem != NULL) {
        gnutls_memset(id->key_pem, 0, strlen(id->key_pem));
        free(id->key_pem);
    }
    free(id->cert_pem);
    id->cert_pem = NULL;
    id->key_pem = NULL;
}
