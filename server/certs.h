/*
 * certs.h - a development/bootstrap certificate authority and serving certificate for the
 * webhook (`ocigate certs`), made with OpenSSL 3 libcrypto: ECDSA P-256, SHA-256.
 */
#ifndef SRV_CERTS_H
#define SRV_CERTS_H

#include <stddef.h>

#include "ocigate/err.h"

/** Longest accepted --host value (a DNS name is at most 253 characters). */
#define SRV_CERTS_HOST_MAX 253

/** What to make. The caller owns every pointer; nothing is kept after the call. */
struct srv_certs_opts {
    const char *out_dir;      /**< created (0700, with missing parents) when absent */
    const char *const *hosts; /**< SANs: IPv4/IPv6 literals become IP SANs, others DNS */
    size_t n_hosts;           /**< at least 1; hosts[0] is also the subject CN */
    unsigned days;            /**< validity of both certificates, 1..36500 */
};

/**
 * Makes a CA (basicConstraints CA:TRUE critical, keyUsage keyCertSign+cRLSign, SKI) and a
 * serving certificate signed by it (SANs from `hosts`, extendedKeyUsage serverAuth, SKI+AKI,
 * CN = hosts[0], random 159-bit serials), and writes `ca.crt`, `tls.crt` and `tls.key`
 * (PKCS#8 PEM, mode 0600) into opts->out_dir.
 *
 * Never overwrites: when any of the three exists, nothing is written and OG_EINVAL is
 * returned. Each file appears complete or not at all (written under a temporary name, then
 * hard-linked into place, which also fails if a file appeared meanwhile); on any failure the
 * files this call created are removed again. Private keys are wiped from memory.
 *
 * On success `*ca_bundle` gets a new NUL-terminated base64 string of the ca.crt PEM (the
 * caBundle of a webhook configuration), freed by the caller with free(). On failure `diag`
 * says why and `*ca_bundle` is untouched. Errors: OG_EINVAL (bad host, existing file),
 * OG_EIO (file system), OG_ENOMEM, OG_EPARSE never.
 */
OG_NODISCARD enum og_err srv_certs_make(const struct srv_certs_opts *opts, char **ca_bundle,
                                        struct og_diag *diag);

#endif
