/*
 * certs.h - a development/bootstrap certificate authority and serving certificate for the
 * webhook (`ocigate certs`), made with OpenSSL 3 libcrypto: ECDSA P-256, SHA-256.
 */
#ifndef SRV_CERTS_H
#define SRV_CERTS_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/err.h"

struct x509_st; /* OpenSSL's X509 */

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
 * CN = hosts[0], random 159-bit serials), and writes `ca.crt`, `tls.crt`, `tls.key` and the
 * CA's key `ca.key` (both keys PKCS#8 PEM, mode 0600) into opts->out_dir; ca.key is what
 * srv_certs_renew() signs with, and never belongs in the cluster.
 *
 * Never overwrites: when any of the four exists, nothing is written and OG_EINVAL is
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

/**
 * Renews the serving certificate in opts->out_dir with the CA there (`ca.crt` and `ca.key`, as
 * srv_certs_make() wrote them), so that the caBundle stays valid: a new key and a new
 * certificate (the same profile as srv_certs_make()) for `opts->hosts`, or, when
 * opts->n_hosts is 0, for the DNS and IP SANs of the current `tls.crt` in their order. The
 * validity is opts->days, cut to the CA's remaining life. `tls.key` and `tls.crt` are
 * replaced atomically each (written under a temporary name, same modes as
 * srv_certs_make(), renamed over the old file); on failure the old files stay.
 *
 * On success `*ca_bundle` gets the (unchanged) caBundle as srv_certs_make() gives it, freed
 * with free(), and `*days_out` (may be NULL) the days given. Errors: OG_EINVAL (no ca.key, not
 * a CA pair, the CA expires within a day, no usable SANs and no hosts, a bad host), OG_EIO,
 * OG_ENOMEM; `diag` says why.
 */
OG_NODISCARD enum og_err srv_certs_renew(const struct srv_certs_opts *opts, char **ca_bundle,
                                         unsigned *days_out, struct og_diag *diag);

/** Called by srv_certs_each_san() for a SAN: `ip` tells an IP address (text) from a DNS name. */
typedef void (*srv_certs_san_fn)(bool ip, const char *value, size_t len, void *arg);

/** Calls `fn` for each DNS and IP subjectAltName of the certificate `crt`, in order. */
void srv_certs_each_san(const struct x509_st *crt, srv_certs_san_fn fn, void *arg);

#endif
