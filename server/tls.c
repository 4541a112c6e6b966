#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/x509.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "certs.h"
#include "log.h"

/* How often the expiry warning is repeated while it applies. */
#define EXPIRY_WARN_EVERY_S 3600

void srv_tls_wipe_free(char *p, size_t len)
{
    if (p == NULL)
        return;
    explicit_bzero(p, len + 1);
    free(p);
}

enum og_err srv_tls_read_pem(const char *path, char **out, size_t *len, struct og_diag *diag)
{
    char *buf = NULL;
    size_t cap = 0, n = 0;
    enum og_err rc = OG_OK;
    struct stat st;
    int fd;

    /* O_NONBLOCK: a FIFO in the file's place must not block the reload until a writer comes
     * (fstat refuses it next); reads of a regular file ignore the flag. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return og_diag_set(diag, OG_EIO, "cannot open %s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0) {
        rc = og_diag_set(diag, OG_EIO, "cannot stat %s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > SRV_TLS_PEM_MAX) {
        rc = og_diag_set(diag, OG_EINVAL, "%s: not a regular file of 1..%d bytes", path,
                         SRV_TLS_PEM_MAX);
        goto out;
    }
    /*
     * Read to the end rather than trusting st_size, as the file may change underneath: one
     * spare byte shows growth, one more holds the NUL.
     */
    cap = (size_t)st.st_size + 2;
    buf = malloc(cap);
    if (buf == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory reading %s", path);
        goto out;
    }
    for (;;) {
        ssize_t r;

        if (n == cap - 1) {
            rc = og_diag_set(diag, OG_EINVAL, "%s changed while being read", path);
            goto out;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = og_diag_set(diag, OG_EIO, "cannot read %s: %s", path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    if (n == 0 || memchr(buf, '\0', n) != NULL) {
        rc = og_diag_set(diag, OG_EINVAL, "%s: not a PEM file", path);
        goto out;
    }
    *out = buf;
    *len = n;
    buf = NULL;
out:
    if (buf != NULL)
        srv_tls_wipe_free(buf, cap - 1);
    close(fd);
    return rc;
}

struct srv_tls_creds {
    atomic_uint refs;
    unsigned gen; /* the holder's generation of this set, 1, 2, ... */
    gnutls_pcert_st pcerts[SRV_TLS_CHAIN_MAX];
    unsigned n_pcerts;
    gnutls_privkey_t key;
    gnutls_x509_trust_list_t ca; /* NULL without a client CA */
    unsigned char digest[32];    /* SHA-256 of the files' bytes: the same set again */
    struct srv_tls_cert_info info;
};

struct srv_tls {
    char *files[3]; /* owned copies: cert, key, client CA (or NULL) */
    struct srv_tls_paths paths;
    pthread_mutex_t mu;        /* guards `cur` (a reader takes its reference under it) */
    struct srv_tls_creds *cur; /* the holder's reference */
    atomic_uint gen;           /* cur->gen, for the client checks' cached verdicts */
    unsigned next_gen;         /* the rest: only the reload watcher (or start) touches it */
    int64_t last_warn;         /* when the expiry warning was last written */
    int64_t retry_at;          /* load again then (a set not yet valid), or 0 */
};

/* Process-wide figures for /metrics (srv_tls_stats_get()). */
static atomic_int_least64_t stat_not_after;
static atomic_uint_least64_t stat_reloads_ok;
static atomic_uint_least64_t stat_reloads_error;

static int64_t unix_now(void)
{
    return (int64_t)time(NULL);
}

/* "2026-12-01T02:00:00Z" */
static const char *iso_time(int64_t t, char *out, size_t size)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        (void)snprintf(out, size, "%" PRId64, t);
    return out;
}

/* Fills `diag` with `what` and OpenSSL's newest error, and empties OpenSSL's error queue. */
static enum og_err ssl_err(struct og_diag *diag, enum og_err rc, const char *what, const char *file)
{
    char detail[160] = "";
    unsigned long e = ERR_peek_last_error();

    if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return og_diag_set(diag, rc, "%s: %s%s%s", file, what, detail[0] != '\0' ? ": " : "", detail);
}

/* OpenSSL's passphrase callback: an encrypted key is refused instead of prompting. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    (void)buf;
    (void)size;
    (void)rwflag;
    (void)u;
    return -1;
}

static bool asn1_unix(const ASN1_TIME *t, int64_t *out)
{
    struct tm tm;

    memset(&tm, 0, sizeof(tm));
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = (int64_t)timegm(&tm);
    return true;
}

/* Appends `s` (length `len`) to the SAN list, cut with "..." when it is full. */
static void sans_add(struct srv_tls_cert_info *info, const char *prefix, const char *s, size_t len)
{
    size_t used = strlen(info->sans), room = sizeof(info->sans) - used;
    int n;

    if (used >= 3 && strcmp(info->sans + used - 3, "...") == 0)
        return;
    n = snprintf(info->sans + used, room, "%s%s%.*s", used > 0 ? "," : "", prefix, (int)len, s);
    if (n < 0 || (size_t)n >= room)
        memcpy(info->sans + sizeof(info->sans) - 4, "...", 4);
}

static void add_san(bool ip, const char *value, size_t len, void *arg)
{
    sans_add(arg, ip ? "IP:" : "DNS:", value, len);
}

/*
 * The OpenSSL checks of a set: the first certificate and the key parse, the key is the
 * certificate's, and the certificate is valid at `now`. Fills `info`.
 */
static enum og_err check_pair(const struct srv_tls_paths *p, const char *crt, size_t crt_len,
                              const char *key, size_t key_len, int64_t now,
                              struct srv_tls_cert_info *info, int64_t *valid_from,
                              struct og_diag *diag)
{
    BIO *cb = BIO_new_mem_buf(crt, (int)crt_len), *kb = BIO_new_mem_buf(key, (int)key_len);
    X509 *x = NULL;
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = NULL;
    char *hex = NULL, when[32];
    enum og_err rc = OG_OK;

    if (cb == NULL || kb == NULL) {
        rc = ssl_err(diag, OG_ENOMEM, "out of memory", p->cert_file);
        goto out;
    }
    x = PEM_read_bio_X509(cb, NULL, no_passphrase, NULL);
    if (x == NULL) {
        rc = ssl_err(diag, OG_EINVAL, "no PEM certificate", p->cert_file);
        goto out;
    }
    pk = PEM_read_bio_PrivateKey(kb, NULL, no_passphrase, NULL);
    if (pk == NULL) {
        rc = ssl_err(diag, OG_EINVAL, "no PEM private key (or an encrypted one)", p->key_file);
        goto out;
    }
    if (X509_check_private_key(x, pk) != 1) {
        ERR_clear_error();
        rc = og_diag_set(diag, OG_EINVAL, "%s: the key does not match the certificate in %s",
                         p->key_file, p->cert_file);
        goto out;
    }
    if (!asn1_unix(X509_get0_notBefore(x), &info->not_before) ||
        !asn1_unix(X509_get0_notAfter(x), &info->not_after)) {
        rc = ssl_err(diag, OG_EINVAL, "unreadable validity period", p->cert_file);
        goto out;
    }
    if (info->not_after <= now) {
        rc = og_diag_set(diag, OG_EINVAL, "%s: the certificate expired at %s", p->cert_file,
                         iso_time(info->not_after, when, sizeof(when)));
        goto out;
    }
    if (info->not_before > now + SRV_TLS_SKEW_S) {
        if (valid_from != NULL)
            *valid_from = info->not_before;
        rc = og_diag_set(diag, OG_EINVAL, "%s: the certificate is not valid before %s",
                         p->cert_file, iso_time(info->not_before, when, sizeof(when)));
        goto out;
    }
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    hex = bn != NULL ? BN_bn2hex(bn) : NULL;
    if (hex == NULL) {
        rc = ssl_err(diag, OG_ENOMEM, "reading the serial number", p->cert_file);
        goto out;
    }
    (void)snprintf(info->serial, sizeof(info->serial), "%s", hex);
    srv_certs_each_san(x, add_san, info);
out:
    OPENSSL_free(hex);
    BN_free(bn);
    EVP_PKEY_free(pk); /* OpenSSL clears the private key as it frees it */
    X509_free(x);
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

static enum og_err gnutls_fail(struct og_diag *diag, const char *file, const char *what, int ret)
{
    return og_diag_set(diag, ret == GNUTLS_E_MEMORY_ERROR ? OG_ENOMEM : OG_EINVAL, "%s: %s: %s",
                       file, what, gnutls_strerror(ret));
}

/* GnuTLS's forms of the set, for the handshakes. */
static enum og_err import_gnutls(struct srv_tls_creds *c, const struct srv_tls_paths *p, char *crt,
                                 size_t crt_len, char *key, size_t key_len, char *ca, size_t ca_len,
                                 struct og_diag *diag)
{
    gnutls_datum_t d = {(unsigned char *)crt, (unsigned)crt_len};
    unsigned n = SRV_TLS_CHAIN_MAX;
    int ret;

    ret = gnutls_pcert_list_import_x509_raw(c->pcerts, &n, &d, GNUTLS_X509_FMT_PEM,
                                            GNUTLS_X509_CRT_LIST_IMPORT_FAIL_IF_EXCEED);
    if (ret == GNUTLS_E_SHORT_MEMORY_BUFFER)
        return og_diag_set(diag, OG_EINVAL, "%s: more than %d certificates", p->cert_file,
                           SRV_TLS_CHAIN_MAX);
    if (ret < 0)
        return gnutls_fail(diag, p->cert_file, "cannot load the certificates", ret);
    c->n_pcerts = n;
    ret = gnutls_privkey_init(&c->key);
    if (ret < 0)
        return gnutls_fail(diag, p->key_file, "cannot load the key", ret);
    d = (gnutls_datum_t){(unsigned char *)key, (unsigned)key_len};
    ret = gnutls_privkey_import_x509_raw(c->key, &d, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (ret < 0)
        return gnutls_fail(diag, p->key_file, "cannot load the key", ret);
    if (ca == NULL)
        return OG_OK;
    ret = gnutls_x509_trust_list_init(&c->ca, 0);
    if (ret < 0)
        return gnutls_fail(diag, p->client_ca_file, "cannot load the client CA", ret);
    d = (gnutls_datum_t){(unsigned char *)ca, (unsigned)ca_len};
    ret = gnutls_x509_trust_list_add_trust_mem(c->ca, &d, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (ret < 0)
        return gnutls_fail(diag, p->client_ca_file, "cannot load the client CA", ret);
    if (ret == 0)
        return og_diag_set(diag, OG_EINVAL, "%s: no PEM CA certificate", p->client_ca_file);
    return OG_OK;
}

/* SHA-256 over the files, each with its length: tells an unchanged set. */
static enum og_err digest_files(const char *const data[3], const size_t lens[3],
                                unsigned char out[32], struct og_diag *diag)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md != NULL && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;

    for (int i = 0; i < 3 && ok; i++) {
        uint64_t len = data[i] != NULL ? lens[i] : UINT64_MAX;

        ok = EVP_DigestUpdate(md, &len, sizeof(len)) == 1 &&
             (data[i] == NULL || EVP_DigestUpdate(md, data[i], lens[i]) == 1);
    }
    ok = ok && EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return ssl_err(diag, OG_ENOMEM, "hashing", "credentials");
    return OG_OK;
}

static void creds_free(struct srv_tls_creds *c)
{
    for (unsigned i = 0; i < c->n_pcerts; i++)
        gnutls_pcert_deinit(&c->pcerts[i]);
    gnutls_privkey_deinit(c->key); /* GnuTLS clears the key material */
    if (c->ca != NULL)
        gnutls_x509_trust_list_deinit(c->ca, 1);
    free(c);
}

void srv_tls_creds_unref(struct srv_tls_creds *c)
{
    if (c != NULL && atomic_fetch_sub(&c->refs, 1) == 1)
        creds_free(c);
}

const struct srv_tls_cert_info *srv_tls_creds_info(const struct srv_tls_creds *c)
{
    return &c->info;
}

enum og_err srv_tls_creds_load(const struct srv_tls_paths *paths, int64_t now,
                               struct srv_tls_creds **out, int64_t *valid_from,
                               struct og_diag *diag)
{
    char *data[3] = {NULL, NULL, NULL};
    size_t lens[3] = {0, 0, 0};
    const char *files[3] = {paths->cert_file, paths->key_file, paths->client_ca_file};
    struct srv_tls_creds *c = NULL;
    enum og_err rc = OG_OK;

    if (valid_from != NULL)
        *valid_from = 0;
    for (int i = 0; i < 3 && rc == OG_OK; i++) {
        if (files[i] != NULL)
            rc = srv_tls_read_pem(files[i], &data[i], &lens[i], diag);
    }
    if (rc != OG_OK)
        goto out;
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
        goto out;
    }
    atomic_init(&c->refs, 1);
    rc = check_pair(paths, data[0], lens[0], data[1], lens[1], now, &c->info, valid_from, diag);
    if (rc == OG_OK)
        rc = import_gnutls(c, paths, data[0], lens[0], data[1], lens[1], data[2], lens[2], diag);
    if (rc == OG_OK)
        rc = digest_files((const char *const *)data, lens, c->digest, diag);
    if (rc != OG_OK)
        goto out;
    *out = c;
    c = NULL;
out:
    if (c != NULL)
        creds_free(c);
    for (int i = 0; i < 3; i++)
        srv_tls_wipe_free(data[i], lens[i]);
    return rc;
}

/* Logs a set that was taken, and warns when it expires soon. */
static void log_taken(struct srv_tls *t, const struct srv_tls_creds *c, const char *trigger,
                      int64_t now)
{
    char after[32], before[32];

    srv_log(SRV_LOG_INFO, "tls certificate loaded", "trigger", trigger, "cert", t->paths.cert_file,
            "not_before", iso_time(c->info.not_before, before, sizeof(before)), "not_after",
            iso_time(c->info.not_after, after, sizeof(after)), "sans",
            c->info.sans[0] != '\0' ? c->info.sans : "(none)", "serial", c->info.serial,
            "client_ca", t->paths.client_ca_file, NULL);
    if (c->info.sans[0] == '\0')
        srv_log(SRV_LOG_WARN,
                "tls certificate has no subjectAltName: clients that check the host name "
                "(the Kubernetes apiserver) refuse it",
                "cert", t->paths.cert_file, NULL);
    t->last_warn = 0;
    srv_tls_tick(t, now);
}

/* Publishes `c` (taking over the caller's reference) and drops the holder's old one. */
static void publish(struct srv_tls *t, struct srv_tls_creds *c)
{
    struct srv_tls_creds *old;

    c->gen = ++t->next_gen;
    pthread_mutex_lock(&t->mu);
    old = t->cur;
    t->cur = c;
    pthread_mutex_unlock(&t->mu);
    atomic_store(&t->gen, c->gen);
    atomic_store(&stat_not_after, c->info.not_after);
    srv_tls_creds_unref(old);
}

/* The current set with a new reference, or NULL. */
static struct srv_tls_creds *acquire(struct srv_tls *t)
{
    struct srv_tls_creds *c;

    pthread_mutex_lock(&t->mu);
    c = t->cur;
    if (c != NULL)
        atomic_fetch_add(&c->refs, 1);
    pthread_mutex_unlock(&t->mu);
    return c;
}

void srv_tls_free(struct srv_tls *t)
{
    if (t == NULL)
        return;
    srv_tls_creds_unref(t->cur);
    pthread_mutex_destroy(&t->mu);
    for (int i = 0; i < 3; i++)
        free(t->files[i]);
    free(t);
}

enum og_err srv_tls_new(const struct srv_tls_paths *paths, struct srv_tls **out,
                        struct og_diag *diag)
{
    const char *in[3] = {paths->cert_file, paths->key_file, paths->client_ca_file};
    struct srv_tls *t = calloc(1, sizeof(*t));
    struct srv_tls_creds *c = NULL;
    int64_t now = unix_now();
    enum og_err rc;

    if (t == NULL)
        return og_diag_set(diag, OG_ENOMEM, "out of memory");
    pthread_mutex_init(&t->mu, NULL);
    atomic_init(&t->gen, 0);
    for (int i = 0; i < 3; i++) {
        t->files[i] = in[i] != NULL ? strdup(in[i]) : NULL;
        if (in[i] != NULL && t->files[i] == NULL) {
            srv_tls_free(t);
            return og_diag_set(diag, OG_ENOMEM, "out of memory");
        }
    }
    t->paths = (struct srv_tls_paths){t->files[0], t->files[1], t->files[2]};
    rc = srv_tls_creds_load(&t->paths, now, &c, NULL, diag);
    if (rc != OG_OK) {
        srv_tls_free(t);
        return rc;
    }
    publish(t, c);
    log_taken(t, c, "start", now);
    *out = t;
    return OG_OK;
}

const struct srv_tls_paths *srv_tls_get_paths(const struct srv_tls *t)
{
    return &t->paths;
}

bool srv_tls_reload(struct srv_tls *t, const char *trigger)
{
    struct srv_tls_creds *c = NULL;
    struct og_diag diag;
    int64_t now = unix_now(), valid_from = 0;
    char line[512];

    og_diag_clear(&diag);
    t->retry_at = 0;
    if (srv_tls_creds_load(&t->paths, now, &c, &valid_from, &diag) != OG_OK) {
        t->retry_at = valid_from > 0 ? valid_from - SRV_TLS_SKEW_S : 0;
        srv_log(SRV_LOG_ERROR, "tls certificate reload rejected; keeping the running certificate",
                "trigger", trigger, "error", og_diag_format(&diag, line, sizeof(line)), NULL);
        atomic_fetch_add(&stat_reloads_error, 1);
        return false;
    }
    /* The holder's set is only replaced on this thread: reading it needs no reference. */
    if (memcmp(c->digest, t->cur->digest, sizeof(c->digest)) == 0) {
        srv_log(strcmp(trigger, "SIGHUP") == 0 ? SRV_LOG_INFO : SRV_LOG_DEBUG,
                "tls certificate unchanged", "trigger", trigger, NULL);
        srv_tls_creds_unref(c);
        return false;
    }
    publish(t, c);
    atomic_fetch_add(&stat_reloads_ok, 1);
    log_taken(t, c, trigger, now);
    return true;
}

void srv_tls_tick(struct srv_tls *t, int64_t now)
{
    const struct srv_tls_cert_info *info;
    char after[32], days[24];

    if (t->retry_at > 0 && now >= t->retry_at) {
        if (srv_tls_reload(t, "now valid"))
            return; /* the new set was logged (and warned about) */
    }
    info = &t->cur->info; /* the holder's set: only this thread replaces it */
    if (info->not_after - now >= SRV_TLS_EXPIRY_WARN_S)
        return;
    if (t->last_warn != 0 && now - t->last_warn < EXPIRY_WARN_EVERY_S)
        return;
    t->last_warn = now;
    (void)snprintf(days, sizeof(days), "%.1f", (double)(info->not_after - now) / 86400.0);
    srv_log(SRV_LOG_WARN,
            info->not_after > now ? "tls certificate expires soon" : "tls certificate has expired",
            "cert", t->paths.cert_file, "not_after",
            iso_time(info->not_after, after, sizeof(after)), "days_left", days, "serial",
            info->serial, NULL);
}

bool srv_tls_client_auth(const struct srv_tls *t)
{
    return t->paths.client_ca_file != NULL;
}

void srv_tls_conn_init(struct srv_tls_conn *c)
{
    memset(c, 0, sizeof(*c));
}

void srv_tls_conn_cleanup(struct srv_tls_conn *c)
{
    srv_tls_creds_unref(c->creds);
    c->creds = NULL;
}

int srv_tls_select(struct srv_tls *t, struct srv_tls_conn *c, gnutls_session_t session,
                   gnutls_pcert_st **pcert, unsigned int *n, gnutls_privkey_t *key)
{
    if (c->creds == NULL)
        c->creds = acquire(t);
    if (c->creds == NULL)
        return -1;
    if (srv_tls_client_auth(t))
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUEST);
    *pcert = c->creds->pcerts;
    *n = c->creds->n_pcerts;
    *key = c->creds->key;
    return 0;
}

/* Verifies the peer's chain against `ca` for client authentication. */
static enum srv_tls_client verify_client(gnutls_x509_trust_list_t ca, gnutls_session_t session,
                                         char *why, size_t why_size)
{
    static char purpose[] = GNUTLS_KP_TLS_WWW_CLIENT;
    gnutls_typed_vdata_st vdata = {GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)purpose, 0};
    gnutls_x509_crt_t crts[SRV_TLS_CHAIN_MAX];
    const gnutls_datum_t *peers;
    unsigned n = 0, done = 0, status = 0;
    enum srv_tls_client v = SRV_TLS_CLIENT_BAD;
    gnutls_datum_t text = {NULL, 0};
    int ret = 0;

    peers = gnutls_certificate_get_peers(session, &n);
    if (peers == NULL || n == 0) {
        (void)snprintf(why, why_size, "no client certificate");
        return SRV_TLS_CLIENT_NONE;
    }
    if (gnutls_certificate_type_get(session) != GNUTLS_CRT_X509 || n > SRV_TLS_CHAIN_MAX) {
        (void)snprintf(why, why_size, "client certificate chain not usable");
        return SRV_TLS_CLIENT_BAD;
    }
    for (; done < n && ret >= 0; done++) {
        ret = gnutls_x509_crt_init(&crts[done]);
        if (ret < 0)
            break;
        ret = gnutls_x509_crt_import(crts[done], &peers[done], GNUTLS_X509_FMT_DER);
    }
    if (ret >= 0)
        ret = gnutls_x509_trust_list_verify_crt2(ca, crts, n, &vdata, 1, 0, &status, NULL);
    if (ret < 0) {
        (void)snprintf(why, why_size, "client certificate: %s", gnutls_strerror(ret));
    } else if (status != 0) {
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0)
            (void)snprintf(why, why_size, "client certificate: %s", (const char *)text.data);
        else
            (void)snprintf(why, why_size, "client certificate does not verify");
        gnutls_free(text.data);
    } else {
        v = SRV_TLS_CLIENT_OK;
    }
    for (unsigned i = 0; i < done; i++)
        gnutls_x509_crt_deinit(crts[i]);
    return v;
}

enum srv_tls_client srv_tls_client_check(struct srv_tls *t, struct srv_tls_conn *c,
                                         gnutls_session_t session, char *why, size_t why_size)
{
    struct srv_tls_creds *cur;
    enum srv_tls_client v;

    if (!srv_tls_client_auth(t))
        return SRV_TLS_CLIENT_OK;
    /* Only a success is kept: a refused connection is closed after its answer. */
    if (c->verdict_gen != 0 && c->verdict_gen == atomic_load(&t->gen))
        return SRV_TLS_CLIENT_OK;
    cur = acquire(t);
    if (cur == NULL || session == NULL) {
        srv_tls_creds_unref(cur);
        (void)snprintf(why, why_size, "no TLS session");
        return SRV_TLS_CLIENT_NONE;
    }
    v = verify_client(cur->ca, session, why, why_size);
    if (v == SRV_TLS_CLIENT_OK)
        c->verdict_gen = cur->gen;
    srv_tls_creds_unref(cur);
    return v;
}

void srv_tls_stats_get(struct srv_tls_stats *out)
{
    out->not_after = atomic_load(&stat_not_after);
    out->reloads_ok = atomic_load(&stat_reloads_ok);
    out->reloads_error = atomic_load(&stat_reloads_error);
}
