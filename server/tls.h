/*
 * tls.h - loading TLS credentials (PEM files) into memory for the HTTPS daemon.
 */
#ifndef SRV_TLS_H
#define SRV_TLS_H

#include <stddef.h>

#include "ocigate/err.h"

/** Largest PEM file accepted (a certificate chain or a key). */
#define SRV_TLS_PEM_MAX (1024 * 1024)

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

#endif
