/*
 * tls.h - the serving certificate and key (and the optional client CA): loaded from PEM files,
 * checked, held for the TLS handshakes, and replaced while the server runs.
 *
 * Hot reload. libmicrohttpd 0.9.75 hands GnuTLS its own credentials object, and with
 * MHD_OPTION_HTTPS_CERT_CALLBACK it installs our gnutls_certificate_retrieve_function2 on it
 * (daemon.c MHD_init_daemon_certificate()): GnuTLS then asks us for the certificate chain and
 * key in every full handshake, when it processes the ClientHello. We answer with the current
 * set (struct srv_tls_creds), which is immutable and reference-counted. GnuTLS does not free
 * what a retrieve_function2 returns and keeps pointing at it while the session lives
 * (session->internals.selected_cert_list, read again by gnutls_certificate_get_ours()), so the
 * connection holds a reference from its handshake until libmicrohttpd reports it closed, which
 * libmicrohttpd does after gnutls_deinit() (MHD_cleanup_connections()): a handshake in flight
 * or a connection already open keeps its set however often it is replaced, and the last
 * connection to drop it frees it. New handshakes get the new set at once.
 *
 * A reload (SIGHUP or a file change, driven by reload.c) builds a new set and checks it with
 * OpenSSL libcrypto: every file readable and PEM, the key matches the certificate, the
 * certificate is valid now (its notBefore may be up to SRV_TLS_SKEW_S ahead, for clocks that
 * differ a little). A set that fails is logged and refused; the running one stays. Each set
 * that is taken is logged once: not_after, SANs, serial.
 *
 * Client certificates (--client-ca FILE). The handshake REQUESTS a client certificate (GnuTLS
 * GNUTLS_CERT_REQUEST, set from the retrieve callback, which runs before the server's
 * CertificateRequest is written), never requires one, so /healthz and /readyz stay reachable
 * for the kubelet's probes. GnuTLS checks in the handshake that a client which sent a
 * certificate holds its key (CertificateVerify). /mutate and /validate then call
 * srv_tls_client_check(): the chain the client sent is verified with
 * gnutls_x509_trust_list_verify_crt2() against the CA file of the current set, for the
 * clientAuth purpose, at the current time. The CA is reloaded with the certificate.
 */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>

#include "ocigate/err.h"

/** Largest PEM file accepted (a certificate chain or a key). */
#define SRV_TLS_PEM_MAX (1024 * 1024)

/** Most certificates in the serving chain or in a client's chain. */
#define SRV_TLS_CHAIN_MAX 16

/** How far a new certificate's notBefore may lie in the future (clock differences), seconds. */
#define SRV_TLS_SKEW_S 300

/** A certificate that expires within this many seconds is warned about (7 days). */
#define SRV_TLS_EXPIRY_WARN_S (7 * 24 * 3600)

/**
 * Reads the whole file `path` (at most SRV_TLS_PEM_MAX bytes) into a new NUL-terminated heap
 * buffer: `*out` and its length `*len`, released with srv_tls_wipe_free(). A file that is
 * empty, too big or holds a NUL byte is refused (OG_EINVAL); OG_EIO when it cannot be read;
 * OG_ENOMEM. `diag` says why; outputs are untouched on failure. Partial reads are wiped.
 */
OG_NODISCARD enum og_err srv_tls_read_pem(const char *path, char **out, size_t *len,
                                          struct og_diag *diag);

/** Overwrites `len` bytes of `p` (plus its NUL) with zeros, then frees it. NULL is a no-op. */
void srv_tls_wipe_free(char *p, size_t len);

/** The files of a set. The caller owns the strings. */
struct srv_tls_paths {
    const char *cert_file;      /**< PEM certificate chain, the server's first */
    const char *key_file;       /**< PEM private key of the first certificate */
    const char *client_ca_file; /**< PEM CA certificates for client certificates, or NULL */
};

/** What the first certificate of a set says. Only tls.c writes it. */
struct srv_tls_cert_info {
    int64_t not_before; /**< Unix time */
    int64_t not_after;  /**< Unix time */
    char serial[64];    /**< upper-case hex, as `openssl x509 -serial` prints it */
    char sans[512];     /**< "DNS:a,IP:127.0.0.1"; empty when there is none; cut with "..." */
};

/** A loaded set: chain, key, client CA. Immutable, reference-counted. Opaque. */
struct srv_tls_creds;

/**
 * Loads and checks the set of `paths` as of the Unix time `now` (see the header comment). On
 * success the caller owns the one reference in `*out`. Errors: OG_EIO (a file cannot be read),
 * OG_EINVAL (not PEM, the key does not match, expired, not yet valid, more than
 * SRV_TLS_CHAIN_MAX certificates, no CA in the CA file), OG_ENOMEM; `diag` names the file and
 * the reason. When the only fault is a notBefore in the future, `*valid_from` (may be NULL)
 * gets it (Unix time), else 0. Thread-safe.
 */
OG_NODISCARD enum og_err srv_tls_creds_load(const struct srv_tls_paths *paths, int64_t now,
                                            struct srv_tls_creds **out, int64_t *valid_from,
                                            struct og_diag *diag);

/** The first certificate's facts, lent while the caller holds its reference. */
const struct srv_tls_cert_info *srv_tls_creds_info(const struct srv_tls_creds *c);

/** Drops a reference; the last one frees the set (the key wiped). NULL is a no-op. */
void srv_tls_creds_unref(struct srv_tls_creds *c);

/** The holder of the current set, with its files. Opaque. */
struct srv_tls;

/**
 * Loads the first set from `paths` (copied) and logs it. OG_ENOMEM or the srv_tls_creds_load()
 * errors, `diag` says why. The caller ends `*out` with srv_tls_free() once no connection can
 * use it any more (after the daemon has stopped).
 */
OG_NODISCARD enum og_err srv_tls_new(const struct srv_tls_paths *paths, struct srv_tls **out,
                                     struct og_diag *diag);

/** Frees the holder and drops its reference to the current set. NULL is a no-op. */
void srv_tls_free(struct srv_tls *t);

/** The files, lent for the life of `t`. */
const struct srv_tls_paths *srv_tls_get_paths(const struct srv_tls *t);

/**
 * Loads the files again. A set that passes every check replaces the current one (unless its
 * files are byte for byte the same: nothing happens then), is logged at info and counted as a
 * reload "ok"; one that does not is logged as an error, counted "error", and the current set
 * stays. `trigger` ("SIGHUP", "file change") is logged. Returns true when a new set was taken.
 * Call from one thread at a time (the reload watcher); handshakes may run meanwhile.
 */
bool srv_tls_reload(struct srv_tls *t, const char *trigger);

/**
 * The periodic check (the reload watcher calls it about every minute): logs a warning, at most
 * once an hour, while the certificate expires within SRV_TLS_EXPIRY_WARN_S; and loads again a
 * set that was refused as not yet valid once it has become valid. `now` is the Unix time.
 */
void srv_tls_tick(struct srv_tls *t, int64_t now);

/** True when client certificates are requested and checked (--client-ca). */
bool srv_tls_client_auth(const struct srv_tls *t);

/**
 * A connection's TLS state: the set its handshake took and the cached verdict on its client
 * certificate. Caller-owned storage, touched only on the connection's worker thread (the
 * handshake and the connection's requests run there). Only the srv_tls_conn_* functions and
 * srv_tls_select()/srv_tls_client_check() touch the fields.
 */
struct srv_tls_conn {
    struct srv_tls_creds *creds; /* a reference, or NULL before the handshake */
    unsigned verdict_gen;        /* the set generation the verdict was made on; 0: none */
    int verdict;                 /* enum srv_tls_client */
};

/** Makes `c` empty. */
void srv_tls_conn_init(struct srv_tls_conn *c);

/** Drops the connection's reference. Call after GnuTLS is done with the session. */
void srv_tls_conn_cleanup(struct srv_tls_conn *c);

/**
 * The retrieve callback's work for the session `session` of connection `c`: takes a reference
 * to the current set (once per connection: a second call in the same handshake, after a
 * HelloRetryRequest, gets the same set), points `*pcert`, `*n` and `*key` at it, and requests a
 * client certificate when client authentication is on. Returns 0, or -1 (no set: the
 * handshake fails). Thread-safe against reloads.
 */
int srv_tls_select(struct srv_tls *t, struct srv_tls_conn *c, gnutls_session_t session,
                   gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key);

/** What srv_tls_client_check() found. */
enum srv_tls_client {
    SRV_TLS_CLIENT_OK,   /**< a certificate that chains to the client CA (or auth is off) */
    SRV_TLS_CLIENT_NONE, /**< no client certificate: answer 401 */
    SRV_TLS_CLIENT_BAD   /**< a certificate that does not verify: answer 403 */
};

/**
 * Checks the client certificate of the session `session` against the current client CA; the
 * verdict is kept in `c` until the CA is reloaded. SRV_TLS_CLIENT_OK when client
 * authentication is off. On a refusal `why` (size `why_size`) says why. Thread-safe against
 * reloads; call on the connection's worker.
 */
enum srv_tls_client srv_tls_client_check(struct srv_tls *t, struct srv_tls_conn *c,
                                         gnutls_session_t session, char *why, size_t why_size);

/** Process-wide certificate figures for /metrics. Only srv_tls_stats_get() fills it. */
struct srv_tls_stats {
    int64_t not_after;      /**< the serving certificate's notAfter (Unix time); 0 before load */
    uint64_t reloads_ok;    /**< reloads that took a new set */
    uint64_t reloads_error; /**< reloads refused (the running set stayed) */
};

/**
 * Reads the figures of the serving certificate most recently taken in this process, lock-free
 * (atomics); callable from any thread at any time, also before a set was loaded (all 0).
 */
void srv_tls_stats_get(struct srv_tls_stats *out);

#endif
