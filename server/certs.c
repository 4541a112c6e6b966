#include "certs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "file.h"
#include "ocigate/buf.h"
#include "ocigate/json.h"
#include "tls.h"

/* The three files, in the order they are linked into place. */
enum { F_CA, F_CRT, F_KEY, F_CA_KEY, F_COUNT };
static const char *const file_names[F_COUNT] = {"ca.crt", "tls.crt", "tls.key", "ca.key"};
static const mode_t file_modes[F_COUNT] = {0644, 0644, 0600, 0600};

/* Seconds the certificates are back-dated, so that a slightly slow clock accepts them. */
#define BACKDATE_S 300L

/* Fills `diag` with `what` and the newest OpenSSL error, and empties OpenSSL's queue. */
static enum og_err ssl_fail(struct og_diag *diag, const char *what)
{
    char detail[256] = "unknown error";
    unsigned long e = ERR_peek_last_error();

    if (e != 0)
        ERR_error_string_n(e, detail, sizeof(detail));
    ERR_clear_error();
    return og_diag_set(diag, OG_ENOMEM, "%s: %s", what, detail);
}

/* A DNS name (optionally a leading "*." wildcard) of letters, digits, '-' and '.'. */
static bool is_dns_name(const char *s)
{
    size_t len = strlen(s), label = 0;

    if (len == 0 || len > SRV_CERTS_HOST_MAX)
        return false;
    if (s[0] == '*' && s[1] == '.')
        s += 2;
    for (; *s != '\0'; s++) {
        char c = *s;

        if (c == '.') {
            if (label == 0)
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-'))
            return false;
        if (++label > 63)
            return false;
    }
    return label > 0;
}

static enum og_err make_key(EVP_PKEY **out, struct og_diag *diag)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    if (key == NULL)
        return ssl_fail(diag, "generating a P-256 key");
    *out = key;
    return OG_OK;
}

/* A random positive 159-bit serial (RFC 5280: at most 20 octets, positive). */
static enum og_err set_serial(X509 *crt, struct og_diag *diag)
{
    BIGNUM *bn = BN_new();
    enum og_err rc = OG_OK;

    if (bn == NULL || BN_rand(bn, 159, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
        BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(crt)) == NULL)
        rc = ssl_fail(diag, "making a serial number");
    BN_free(bn);
    return rc;
}

/*
 * Adds an extension given in OpenSSL's configuration syntax. Only constant values go through
 * here: user input (the SANs) is built structurally so that a ',' in a host cannot inject.
 */
static enum og_err add_ext(X509 *issuer, X509 *subject, int nid, const char *value,
                           struct og_diag *diag)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    int ok;

    X509V3_set_ctx(&ctx, issuer, subject, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (ext == NULL)
        return ssl_fail(diag, "making a certificate extension");
    ok = X509_add_ext(subject, ext, -1);
    X509_EXTENSION_free(ext);
    if (ok != 1)
        return ssl_fail(diag, "adding a certificate extension");
    return OG_OK;
}

static enum og_err add_sans(X509 *crt, const struct srv_certs_opts *opts, struct og_diag *diag)
{
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    enum og_err rc = OG_OK;

    if (gens == NULL)
        return ssl_fail(diag, "making the subjectAltName");
    for (size_t i = 0; i < opts->n_hosts; i++) {
        const char *host = opts->hosts[i];
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
        GENERAL_NAME *gen = GENERAL_NAME_new();

        ERR_clear_error(); /* a2i_IPADDRESS queues an error for every DNS name */
        if (gen == NULL) {
            ASN1_OCTET_STRING_free(ip);
            rc = ssl_fail(diag, "making the subjectAltName");
            goto out;
        }
        if (ip != NULL) {
            GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
        } else {
            ASN1_IA5STRING *dns = ASN1_IA5STRING_new();

            if (dns == NULL || ASN1_STRING_set(dns, host, (int)strlen(host)) != 1) {
                ASN1_IA5STRING_free(dns);
                GENERAL_NAME_free(gen);
                rc = ssl_fail(diag, "making the subjectAltName");
                goto out;
            }
            GENERAL_NAME_set0_value(gen, GEN_DNS, dns);
        }
        if (sk_GENERAL_NAME_push(gens, gen) == 0) {
            GENERAL_NAME_free(gen);
            rc = ssl_fail(diag, "making the subjectAltName");
            goto out;
        }
    }
    if (X509_add1_ext_i2d(crt, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) != 1)
        rc = ssl_fail(diag, "adding the subjectAltName");
out:
    GENERAL_NAMES_free(gens);
    return rc;
}

/* Version, serial, validity, subject CN/O and public key: what both certificates share. */
static enum og_err init_cert(X509 *crt, EVP_PKEY *key, const char *cn, unsigned days,
                             struct og_diag *diag)
{
    X509_NAME *name = X509_get_subject_name(crt);
    enum og_err rc;

    if (X509_set_version(crt, X509_VERSION_3) != 1)
        return ssl_fail(diag, "setting the certificate version");
    rc = set_serial(crt, diag);
    if (rc != OG_OK)
        return rc;
    if (X509_gmtime_adj(X509_getm_notBefore(crt), -BACKDATE_S) == NULL ||
        X509_time_adj_ex(X509_getm_notAfter(crt), (int)days, 0, NULL) == NULL)
        return ssl_fail(diag, "setting the validity period");
    if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"ocigate", -1,
                                   -1, 0) != 1)
        return ssl_fail(diag, "setting the subject");
    /* The CN is informational (clients match the SANs); X.520 caps it at 64 characters. */
    if (strlen(cn) <= 64 && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                       (const unsigned char *)cn, -1, -1, 0) != 1)
        return ssl_fail(diag, "setting the subject");
    if (X509_set_pubkey(crt, key) != 1)
        return ssl_fail(diag, "setting the public key");
    return OG_OK;
}

/* An extension in OpenSSL's configuration syntax (constant values only). */
struct ext_def {
    int nid;
    const char *value;
};

static const struct ext_def ca_exts[] = {
    {NID_basic_constraints, "critical,CA:TRUE"},
    {NID_key_usage, "critical,keyCertSign,cRLSign"},
    {NID_subject_key_identifier, "hash"},
};

static const struct ext_def leaf_exts[] = {
    {NID_basic_constraints, "critical,CA:FALSE"},
    {NID_key_usage, "critical,digitalSignature"},
    {NID_ext_key_usage, "serverAuth"},
    {NID_subject_key_identifier, "hash"},
    {NID_authority_key_identifier, "keyid:always"},
};

/*
 * Makes a key and a certificate for it with the extensions `exts`, signed by `ca_key` as
 * `ca`, or self-signed when `ca` is NULL. `sans` (may be NULL) adds the subjectAltName.
 */
static enum og_err make_cert(const char *cn, unsigned days, X509 *ca, EVP_PKEY *ca_key,
                             const struct ext_def *exts, size_t n_exts,
                             const struct srv_certs_opts *sans, EVP_PKEY **key_out, X509 **crt_out,
                             struct og_diag *diag)
{
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    enum og_err rc;

    rc = make_key(&key, diag);
    if (rc != OG_OK)
        goto out;
    crt = X509_new();
    if (crt == NULL) {
        rc = ssl_fail(diag, "making a certificate");
        goto out;
    }
    rc = init_cert(crt, key, cn, days, diag);
    if (rc != OG_OK)
        goto out;
    if (ca == NULL) {
        ca = crt;
        ca_key = key;
    }
    if (X509_set_issuer_name(crt, X509_get_subject_name(ca)) != 1) {
        rc = ssl_fail(diag, "setting the issuer");
        goto out;
    }
    for (size_t i = 0; i < n_exts && rc == OG_OK; i++)
        rc = add_ext(ca, crt, exts[i].nid, exts[i].value, diag);
    if (rc == OG_OK && sans != NULL)
        rc = add_sans(crt, sans, diag);
    if (rc == OG_OK && X509_sign(crt, ca_key, EVP_sha256()) == 0)
        rc = ssl_fail(diag, "signing a certificate");
    if (rc != OG_OK)
        goto out;
    *key_out = key;
    *crt_out = crt;
    key = NULL;
    crt = NULL;
out:
    EVP_PKEY_free(key); /* OpenSSL clears the private key material as it frees it */
    X509_free(crt);
    return rc;
}

/* `mkdir -p` with mode 0700 for every directory it creates. */
static enum og_err make_dirs(const char *dir, struct og_diag *diag)
{
    char path[PATH_MAX];
    size_t len = strlen(dir);

    if (len == 0 || len >= sizeof(path))
        return og_diag_set(diag, OG_EINVAL, "bad output directory '%s'", dir);
    memcpy(path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        path[i] = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST)
            return og_diag_set(diag, OG_EIO, "cannot create directory '%s': %s", path,
                               strerror(errno));
        path[i] = i == len ? '\0' : '/';
    }
    return OG_OK;
}

static enum og_err join(char *out, size_t size, const char *dir, const char *name,
                        struct og_diag *diag)
{
    int n = snprintf(out, size, "%s/%s", dir, name);

    if (n < 0 || (size_t)n >= size)
        return og_diag_set(diag, OG_EINVAL, "output path too long: %s/%s", dir, name);
    return OG_OK;
}

/* A new temporary file "DIR/.NAME.XXXXXX" holding `data` (srv_file_write_temp); its name in `tmp`.
 */
static enum og_err write_temp(const char *dir, const char *name, const void *data, size_t len,
                              mode_t mode, char *tmp, size_t tmp_size, struct og_diag *diag)
{
    char base[64];
    enum og_err rc;
    int n;

    n = snprintf(base, sizeof(base), ".%s.XXXXXX", name);
    if (n < 0 || (size_t)n >= sizeof(base))
        return og_diag_set(diag, OG_EINVAL, "bad file name %s", name);
    rc = join(tmp, tmp_size, dir, base, diag);
    if (rc != OG_OK)
        return rc;
    return srv_file_write_temp(tmp, data, len, mode, diag);
}

/*
 * Puts the three PEM blobs in place all or nothing: temporary files first, then link(2),
 * which refuses to replace an existing name.
 */
static enum og_err write_files(const char *dir, const char *const data[F_COUNT],
                               const size_t lens[F_COUNT], struct og_diag *diag)
{
    char tmp[F_COUNT][PATH_MAX];
    char final[F_COUNT][PATH_MAX];
    bool linked[F_COUNT] = {false, false, false, false};
    enum og_err rc = OG_OK;
    struct stat st;

    for (int i = 0; i < F_COUNT; i++)
        tmp[i][0] = '\0';
    for (int i = 0; i < F_COUNT; i++) {
        rc = join(final[i], sizeof(final[i]), dir, file_names[i], diag);
        if (rc != OG_OK)
            goto out;
        if (lstat(final[i], &st) == 0 || errno != ENOENT) {
            rc = og_diag_set(diag, OG_EINVAL, "%s already exists; refusing to overwrite it",
                             final[i]);
            goto out;
        }
    }
    for (int i = 0; i < F_COUNT; i++) {
        rc = write_temp(dir, file_names[i], data[i], lens[i], file_modes[i], tmp[i], sizeof(tmp[i]),
                        diag);
        if (rc != OG_OK)
            goto out;
    }
    for (int i = 0; i < F_COUNT; i++) {
        if (link(tmp[i], final[i]) != 0) {
            rc = errno == EEXIST
                     ? og_diag_set(diag, OG_EINVAL, "%s already exists; refusing to overwrite it",
                                   final[i])
                     : og_diag_set(diag, OG_EIO, "cannot create %s: %s", final[i], strerror(errno));
            goto out;
        }
        linked[i] = true;
    }
out:
    for (int i = 0; i < F_COUNT; i++) {
        if (tmp[i][0] != '\0')
            (void)unlink(tmp[i]);
        if (rc != OG_OK && linked[i])
            (void)unlink(final[i]);
    }
    return rc;
}

/* PEM of a certificate into a new memory BIO. */
static enum og_err pem_cert(X509 *crt, BIO **out, struct og_diag *diag)
{
    BIO *bio = BIO_new(BIO_s_mem());

    if (bio == NULL || PEM_write_bio_X509(bio, crt) != 1) {
        BIO_free(bio);
        return ssl_fail(diag, "encoding a certificate");
    }
    *out = bio;
    return OG_OK;
}

/* PKCS#8 PEM of a private key into a secure-memory BIO, which is cleared when freed. */
static enum og_err pem_key(EVP_PKEY *key, BIO **out, struct og_diag *diag)
{
    BIO *bio = BIO_new(BIO_s_secmem());

    if (bio == NULL || PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) != 1) {
        BIO_free(bio);
        return ssl_fail(diag, "encoding a private key");
    }
    *out = bio;
    return OG_OK;
}

static enum og_err check_opts(const struct srv_certs_opts *opts, struct og_diag *diag)
{
    if (opts->out_dir == NULL || opts->out_dir[0] == '\0')
        return og_diag_set(diag, OG_EINVAL, "no output directory");
    if (opts->n_hosts == 0)
        return og_diag_set(diag, OG_EINVAL, "no host name");
    if (opts->days < 1 || opts->days > 36500)
        return og_diag_set(diag, OG_EINVAL, "days must be within 1..36500, not %u", opts->days);
    for (size_t i = 0; i < opts->n_hosts; i++) {
        const char *host = opts->hosts[i];
        ASN1_OCTET_STRING *ip = a2i_IPADDRESS(host);
        bool ok = ip != NULL || is_dns_name(host);

        ASN1_OCTET_STRING_free(ip);
        ERR_clear_error();
        if (!ok)
            return og_diag_set(diag, OG_EINVAL,
                               "'%.*s' is neither an IP address nor a DNS name "
                               "(letters, digits, '-', '.', an optional leading '*.')",
                               SRV_CERTS_HOST_MAX, host);
    }
    return OG_OK;
}

enum og_err srv_certs_make(const struct srv_certs_opts *opts, char **ca_bundle,
                           struct og_diag *diag)
{
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *crt = NULL;
    BIO *bios[F_COUNT] = {NULL, NULL, NULL, NULL};
    const char *data[F_COUNT];
    size_t lens[F_COUNT];
    struct og_buf b64;
    char *bundle = NULL;
    size_t bundle_len;
    enum og_err rc;

    og_buf_init(&b64, SIZE_MAX);

    rc = check_opts(opts, diag);
    if (rc != OG_OK)
        goto out;
    rc = make_cert("ocigate webhook CA", opts->days, NULL, NULL, ca_exts,
                   sizeof(ca_exts) / sizeof(ca_exts[0]), NULL, &ca_key, &ca, diag);
    if (rc != OG_OK)
        goto out;
    rc = make_cert(opts->hosts[0], opts->days, ca, ca_key, leaf_exts,
                   sizeof(leaf_exts) / sizeof(leaf_exts[0]), opts, &key, &crt, diag);
    if (rc != OG_OK)
        goto out;
    rc = pem_cert(ca, &bios[F_CA], diag);
    if (rc == OG_OK)
        rc = pem_cert(crt, &bios[F_CRT], diag);
    if (rc == OG_OK)
        rc = pem_key(key, &bios[F_KEY], diag);
    if (rc == OG_OK)
        rc = pem_key(ca_key, &bios[F_CA_KEY], diag);
    if (rc != OG_OK)
        goto out;
    for (int i = 0; i < F_COUNT; i++) {
        char *p = NULL;
        long n = BIO_get_mem_data(bios[i], &p);

        if (n <= 0) {
            rc = ssl_fail(diag, "reading encoded PEM");
            goto out;
        }
        data[i] = p;
        lens[i] = (size_t)n;
    }
    /* The caBundle is base64 of the CA's PEM. */
    rc = og_base64_append(&b64, data[F_CA], lens[F_CA]);
    bundle = rc == OG_OK ? og_buf_take(&b64, &bundle_len) : NULL;
    if (bundle == NULL) {
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
        goto out;
    }
    rc = make_dirs(opts->out_dir, diag);
    if (rc != OG_OK)
        goto out;
    rc = write_files(opts->out_dir, data, lens, diag);
    if (rc != OG_OK)
        goto out;
    *ca_bundle = bundle;
    bundle = NULL;
out:
    free(bundle);
    og_buf_cleanup(&b64);
    for (int i = 0; i < F_COUNT; i++)
        BIO_free(bios[i]);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(crt);
    return rc;
}

void srv_certs_each_san(const struct x509_st *crt, srv_certs_san_fn fn, void *arg)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(crt, NID_subject_alt_name, NULL, NULL);
    int n = gens != NULL ? sk_GENERAL_NAME_num(gens) : 0;

    for (int i = 0; i < n; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        char ip[INET6_ADDRSTRLEN];

        if (g->type == GEN_DNS) {
            fn(false, (const char *)ASN1_STRING_get0_data(g->d.dNSName),
               (size_t)ASN1_STRING_length(g->d.dNSName), arg);
        } else if (g->type == GEN_IPADD) {
            int len = ASN1_STRING_length(g->d.iPAddress);
            const unsigned char *p = ASN1_STRING_get0_data(g->d.iPAddress);

            if ((len == 4 && inet_ntop(AF_INET, p, ip, sizeof(ip)) != NULL) ||
                (len == 16 && inet_ntop(AF_INET6, p, ip, sizeof(ip)) != NULL))
                fn(true, ip, strlen(ip), arg);
        }
    }
    GENERAL_NAMES_free(gens);
    ERR_clear_error();
}

/* The hosts of the current serving certificate, for a renewal that keeps them. */
struct old_hosts {
    char (*names)[SRV_CERTS_HOST_MAX + 1];
    const char **ptrs;
    size_t n, max;
    bool too_many;
};

static void take_san(bool ip, const char *value, size_t len, void *arg)
{
    struct old_hosts *h = arg;

    (void)ip;
    if (h->n == h->max || len > SRV_CERTS_HOST_MAX || memchr(value, '\0', len) != NULL) {
        h->too_many = true;
        return;
    }
    memcpy(h->names[h->n], value, len);
    h->names[h->n][len] = '\0';
    h->ptrs[h->n] = h->names[h->n];
    h->n++;
}

/* Reads the PEM file DIR/name with OpenSSL: a certificate into `*crt`, or a key into `*key`. */
static enum og_err read_pem_obj(const char *dir, const char *name, X509 **crt, EVP_PKEY **key,
                                struct og_diag *diag)
{
    char path[PATH_MAX];
    char *pem = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    enum og_err rc;

    rc = join(path, sizeof(path), dir, name, diag);
    if (rc == OG_OK)
        rc = srv_tls_read_pem(path, &pem, &len, diag);
    if (rc != OG_OK)
        return rc;
    bio = BIO_new_mem_buf(pem, (int)len);
    if (bio == NULL) {
        rc = ssl_fail(diag, "reading a PEM file");
    } else if (crt != NULL) {
        *crt = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (*crt == NULL)
            rc = og_diag_set(diag, OG_EINVAL, "%s: no PEM certificate", path);
    } else {
        *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
        if (*key == NULL)
            rc = og_diag_set(diag, OG_EINVAL, "%s: no PEM private key", path);
    }
    ERR_clear_error();
    BIO_free(bio);
    srv_tls_wipe_free(pem, len);
    return rc;
}

/* The CA of `dir`: certificate and key, checked to be a CA and a pair, and valid for a day. */
static enum og_err load_ca(const char *dir, X509 **ca_out, EVP_PKEY **key_out, int64_t *left_s,
                           struct og_diag *diag)
{
    X509 *ca = NULL;
    EVP_PKEY *key = NULL;
    int day = 0, sec = 0;
    enum og_err rc;

    rc = read_pem_obj(dir, "ca.crt", &ca, NULL, diag);
    if (rc == OG_OK) {
        rc = read_pem_obj(dir, "ca.key", NULL, &key, diag);
        if (rc == OG_EIO)
            rc = og_diag_set(diag, OG_EINVAL,
                             "%s/ca.key is missing (made by an older ocigate certs?): make a new "
                             "CA with 'ocigate certs --out NEWDIR' and update the caBundle",
                             dir);
    }
    if (rc != OG_OK)
        goto out;
    if (X509_check_ca(ca) < 1 || X509_check_private_key(ca, key) != 1) {
        ERR_clear_error();
        rc = og_diag_set(diag, OG_EINVAL, "%s/ca.key and ca.crt are not a CA pair", dir);
        goto out;
    }
    if (ASN1_TIME_diff(&day, &sec, NULL, X509_get0_notAfter(ca)) != 1 ||
        (int64_t)day * 86400 + sec < 86400) {
        rc = og_diag_set(diag, OG_EINVAL,
                         "the CA in %s expires within a day: make a new one with 'ocigate certs "
                         "--out NEWDIR' and update the caBundle",
                         dir);
        goto out;
    }
    *left_s = (int64_t)day * 86400 + sec;
    *ca_out = ca;
    *key_out = key;
    ca = NULL;
    key = NULL;
out:
    X509_free(ca);
    EVP_PKEY_free(key);
    return rc;
}

/*
 * Replaces DIR/tls.key and DIR/tls.crt: both written under temporary names first, then renamed
 * over the old files one right after the other (a server watching the directory takes the two
 * events as one change).
 */
static enum og_err replace_pair(const char *dir, char *const data[F_COUNT],
                                const long lens[F_COUNT], struct og_diag *diag)
{
    static const int order[2] = {F_KEY, F_CRT};
    char tmp[2][PATH_MAX], final[2][PATH_MAX];
    enum og_err rc = OG_OK;

    tmp[0][0] = tmp[1][0] = '\0';
    for (int i = 0; i < 2 && rc == OG_OK; i++) {
        int f = order[i];

        rc = join(final[i], sizeof(final[i]), dir, file_names[f], diag);
        if (rc == OG_OK)
            rc = write_temp(dir, file_names[f], data[f], (size_t)lens[f], file_modes[f], tmp[i],
                            sizeof(tmp[i]), diag);
    }
    for (int i = 0; i < 2 && rc == OG_OK; i++) {
        if (rename(tmp[i], final[i]) != 0)
            rc = og_diag_set(diag, OG_EIO, "cannot replace %s: %s", final[i], strerror(errno));
        else
            tmp[i][0] = '\0';
    }
    for (int i = 0; i < 2; i++) {
        if (tmp[i][0] != '\0')
            (void)unlink(tmp[i]);
    }
    return rc;
}

enum og_err srv_certs_renew(const struct srv_certs_opts *opts, char **ca_bundle, unsigned *days_out,
                            struct og_diag *diag)
{
    struct srv_certs_opts o = *opts;
    struct old_hosts old = {NULL, NULL, 0, 64, false};
    EVP_PKEY *ca_key = NULL, *key = NULL;
    X509 *ca = NULL, *crt = NULL, *cur = NULL;
    BIO *bios[F_COUNT] = {NULL, NULL, NULL, NULL};
    char *p[F_COUNT] = {NULL, NULL, NULL, NULL};
    long lens[F_COUNT] = {0, 0, 0, 0};
    struct og_buf b64;
    char *bundle = NULL;
    size_t bundle_len;
    int64_t left_s = 0;
    enum og_err rc;

    og_buf_init(&b64, SIZE_MAX);
    if (o.out_dir == NULL || o.out_dir[0] == '\0') {
        rc = og_diag_set(diag, OG_EINVAL, "no directory");
        goto out;
    }
    rc = load_ca(o.out_dir, &ca, &ca_key, &left_s, diag);
    if (rc != OG_OK)
        goto out;
    if (o.n_hosts == 0) {
        old.names = calloc(old.max, sizeof(*old.names));
        old.ptrs = calloc(old.max, sizeof(*old.ptrs));
        if (old.names == NULL || old.ptrs == NULL) {
            rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
            goto out;
        }
        rc = read_pem_obj(o.out_dir, "tls.crt", &cur, NULL, diag);
        if (rc != OG_OK)
            goto out;
        srv_certs_each_san(cur, take_san, &old);
        if (old.n == 0 || old.too_many) {
            rc = og_diag_set(diag, OG_EINVAL, "%s/tls.crt: %s; give the hosts with --host",
                             o.out_dir,
                             old.n == 0 ? "no DNS or IP subjectAltName" : "unusable SANs");
            goto out;
        }
        o.hosts = old.ptrs;
        o.n_hosts = old.n;
    }
    rc = check_opts(&o, diag);
    if (rc != OG_OK)
        goto out;
    /* A certificate never outlives its CA: clients could not verify it past that. */
    if ((int64_t)o.days * 86400 > left_s)
        o.days = (unsigned)(left_s / 86400);
    rc = make_cert(o.hosts[0], o.days, ca, ca_key, leaf_exts,
                   sizeof(leaf_exts) / sizeof(leaf_exts[0]), &o, &key, &crt, diag);
    if (rc == OG_OK)
        rc = pem_cert(ca, &bios[F_CA], diag);
    if (rc == OG_OK)
        rc = pem_cert(crt, &bios[F_CRT], diag);
    if (rc == OG_OK)
        rc = pem_key(key, &bios[F_KEY], diag);
    for (int i = F_CA; i <= F_KEY && rc == OG_OK; i++) {
        lens[i] = BIO_get_mem_data(bios[i], &p[i]);
        if (lens[i] <= 0)
            rc = ssl_fail(diag, "reading encoded PEM");
    }
    if (rc == OG_OK)
        rc = og_base64_append(&b64, p[F_CA], (size_t)lens[F_CA]);
    bundle = rc == OG_OK ? og_buf_take(&b64, &bundle_len) : NULL;
    if (rc == OG_OK && bundle == NULL)
        rc = og_diag_set(diag, OG_ENOMEM, "out of memory");
    if (rc == OG_OK)
        rc = replace_pair(o.out_dir, p, lens, diag);
    if (rc != OG_OK)
        goto out;
    *ca_bundle = bundle;
    bundle = NULL;
    if (days_out != NULL)
        *days_out = o.days;
out:
    free(bundle);
    og_buf_cleanup(&b64);
    for (int i = 0; i < F_COUNT; i++)
        BIO_free(bios[i]);
    free(old.names);
    free(old.ptrs);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(key);
    X509_free(ca);
    X509_free(crt);
    X509_free(cur);
    return rc;
}
