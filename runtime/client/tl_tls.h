/* SPDX-License-Identifier: MIT */
/*
 * tl_tls.h - the certificate a run's services present (GnuTLS), and the
 * pin its callers check.
 *
 * No certificate authority is involved: a target makes one self-signed
 * certificate and key per deployment (local: per run and function; k8s:
 * per Deployment, kept in its Secret), hands both to the services, and
 * the client accepts exactly that public key (libcurl's
 * CURLOPT_PINNEDPUBLICKEY, "sha256//<base64 of the SHA-256 of the
 * SubjectPublicKeyInfo>"), whatever name or address it dialled.
 */
#ifndef TL_TLS_H
#define TL_TLS_H

#include <stddef.h>

#define TL_TLS_PIN_MAX 96

struct tl_tls_identity {
    char *cert_pem;             /* malloc'd PEM text                          */
    char *key_pem;              /* malloc'd PEM text (PKCS#8, unencrypted)    */
    char pin[TL_TLS_PIN_MAX];   /* "sha256//..." of the certificate's key     */
};

/* A new ECDSA P-256 key and a self-signed certificate for it (CN
 * turbolift, valid from a minute ago for ten years). 0, or -1 with err. */
int tl_tls_make(struct tl_tls_identity *id, char *err, size_t errlen);

/* The pin of a PEM certificate (one read back from a Secret). */
int tl_tls_pin(const char *cert_pem, char *pin, size_t pinlen, char *err, size_t errlen);

/* Free the PEM texts (the key's memory is wiped first). */
void tl_tls_identity_clear(struct tl_tls_identity *id);

#endif /* TL_TLS_H */
