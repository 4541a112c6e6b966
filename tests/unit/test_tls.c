#include "harness.h"

#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "certs.h"
#include "log.h"
#include "tls.h"

#include "ocigate/err.h"

/* A scratch directory with the files `ocigate certs` makes, removed by cleanup_dir(). */
struct dir {
    char path[64];
    char crt[128], key[128], ca[128];
};

static void make_dir(struct dir *d, const char *const *hosts, size_t n_hosts)
{
    static const char *const def[] = {"localhost", "127.0.0.1"};
    struct srv_certs_opts o = {NULL, hosts != NULL ? hosts : def, hosts != NULL ? n_hosts : 2, 365};
    struct og_diag diag;
    char *bundle = NULL;

    snprintf(d->path, sizeof(d->path), "/tmp/og-test-tls-XXXXXX");
    if (mkdtemp(d->path) == NULL)
        OG_FAIL_("mkdtemp");
    o.out_dir = d->path;
    og_diag_clear(&diag);
    if (srv_certs_make(&o, &bundle, &diag) != OG_OK)
        OG_FAIL_("certs: %s", diag.msg);
    free(bundle);
    snprintf(d->crt, sizeof(d->crt), "%s/tls.crt", d->path);
    snprintf(d->key, sizeof(d->key), "%s/tls.key", d->path);
    snprintf(d->ca, sizeof(d->ca), "%s/ca.crt", d->path);
}

static void cleanup_dir(struct dir *d)
{
    static const char *const names[] = {"tls.crt", "tls.key", "ca.crt", "ca.key",
                                        "a.crt",   "a.key",   "b.crt",  "b.key"};
    char p[160];

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", d->path, names[i]);
        (void)unlink(p);
    }
    (void)rmdir(d->path);
}

/* Copies `src` to `dst` through a temporary name and rename(2). */
static void copy_file(const char *src, const char *dst)
{
    char buf[8192], tmp[200];
    FILE *in = fopen(src, "rb"), *out;
    size_t n;

    snprintf(tmp, sizeof(tmp), "%s.tmp", dst);
    out = fopen(tmp, "wb");
    if (in == NULL || out == NULL)
        OG_FAIL_("copy %s", src);
    n = fread(buf, 1, sizeof(buf), in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    if (rename(tmp, dst) != 0)
        OG_FAIL_("rename %s", tmp);
}

OG_TEST(load_reads_facts)
{
    struct dir d;
    struct srv_tls_paths p;
    struct srv_tls_creds *c = NULL;
    struct og_diag diag;
    const struct srv_tls_cert_info *info;
    int64_t now = (int64_t)time(NULL);

    make_dir(&d, NULL, 0);
    p = (struct srv_tls_paths){d.crt, d.key, d.ca};
    og_diag_clear(&diag);
    ASSERT_EQ(srv_tls_creds_load(&p, now, &c, NULL, &diag), OG_OK);
    info = srv_tls_creds_info(c);
    ASSERT_STR_EQ(info->sans, "DNS:localhost,IP:127.0.0.1");
    ASSERT(strlen(info->serial) >= 38); /* 159 random bits, top one set */
    ASSERT(info->not_before <= now && info->not_before >= now - 400);
    ASSERT(info->not_after >= now + 364 * 86400 && info->not_after <= now + 366 * 86400);
    srv_tls_creds_unref(c);
    cleanup_dir(&d);
}

OG_TEST(validity_period)
{
    struct dir d;
    struct srv_tls_paths p;
    struct srv_tls_creds *c = NULL;
    struct srv_tls_cert_info info;
    struct og_diag diag;
    int64_t from = -1;

    make_dir(&d, NULL, 0);
    p = (struct srv_tls_paths){d.crt, d.key, NULL};
    og_diag_clear(&diag);
    ASSERT_EQ(srv_tls_creds_load(&p, (int64_t)time(NULL), &c, NULL, &diag), OG_OK);
    info = *srv_tls_creds_info(c);
    srv_tls_creds_unref(c);
    c = NULL;
    /* Expired: the moment of notAfter is already too late. */
    ASSERT_EQ(srv_tls_creds_load(&p, info.not_after, &c, &from, &diag), OG_EINVAL);
    ASSERT(c == NULL);
    ASSERT_EQ(from, 0);
    ASSERT_STR_CONTAINS(diag.msg, "expired at");
    ASSERT_STR_CONTAINS(diag.msg, "tls.crt");
    /* Not yet valid beyond the allowed clock skew: refused, and when it becomes valid said. */
    og_diag_clear(&diag);
    ASSERT_EQ(srv_tls_creds_load(&p, info.not_before - SRV_TLS_SKEW_S - 1, &c, &from, &diag),
              OG_EINVAL);
    ASSERT_EQ(from, info.not_before);
    ASSERT_STR_CONTAINS(diag.msg, "not valid before");
    /* Within the skew: taken. */
    ASSERT_EQ(srv_tls_creds_load(&p, info.not_before - SRV_TLS_SKEW_S, &c, &from, &diag), OG_OK);
    srv_tls_creds_unref(c);
    cleanup_dir(&d);
}

OG_TEST(bad_files)
{
    struct dir a, b;
    struct srv_tls_paths p;
    struct srv_tls_creds *c = NULL;
    struct og_diag diag;
    const char *junk = OG_SOURCE_DIR "/README.md";
    char missing[160];
    int64_t now = (int64_t)time(NULL);

    make_dir(&a, NULL, 0);
    make_dir(&b, NULL, 0);
    snprintf(missing, sizeof(missing), "%s/missing", a.path);
    {
        const struct {
            const char *crt, *key, *ca;
            enum og_err rc;
            const char *why;
        } cases[] = {
            {a.crt, b.key, NULL, OG_EINVAL, "does not match the certificate"},
            {junk, a.key, NULL, OG_EINVAL, "no PEM certificate"},
            {a.crt, junk, NULL, OG_EINVAL, "no PEM private key"},
            {a.crt, a.crt, NULL, OG_EINVAL, "no PEM private key"},
            {a.key, a.key, NULL, OG_EINVAL, "no PEM certificate"},
            {missing, a.key, NULL, OG_EIO, "cannot open"},
            {a.crt, missing, NULL, OG_EIO, "cannot open"},
            {a.crt, a.key, junk, OG_EINVAL, "client CA"},
            {a.crt, a.key, missing, OG_EIO, "cannot open"},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            p = (struct srv_tls_paths){cases[i].crt, cases[i].key, cases[i].ca};
            og_diag_clear(&diag);
            ASSERT_EQ(srv_tls_creds_load(&p, now, &c, NULL, &diag), cases[i].rc);
            ASSERT(c == NULL);
            ASSERT_STR_CONTAINS(diag.msg, cases[i].why);
        }
    }
    cleanup_dir(&a);
    cleanup_dir(&b);
}

OG_TEST(many_sans_are_cut)
{
    static char names[40][64];
    const char *hosts[40];
    struct dir d;
    struct srv_tls_paths p;
    struct srv_tls_creds *c = NULL;
    struct og_diag diag;
    const char *sans;

    for (int i = 0; i < 40; i++) {
        snprintf(names[i], sizeof(names[i]), "host-%02d.a-rather-long-subdomain.example", i);
        hosts[i] = names[i];
    }
    make_dir(&d, hosts, 40);
    p = (struct srv_tls_paths){d.crt, d.key, NULL};
    og_diag_clear(&diag);
    ASSERT_EQ(srv_tls_creds_load(&p, (int64_t)time(NULL), &c, NULL, &diag), OG_OK);
    sans = srv_tls_creds_info(c)->sans;
    ASSERT(strncmp(sans, "DNS:host-00.", 12) == 0);
    ASSERT(strlen(sans) == sizeof(srv_tls_creds_info(c)->sans) - 1);
    ASSERT_STR_EQ(sans + strlen(sans) - 3, "...");
    srv_tls_creds_unref(c);
    cleanup_dir(&d);
}

/* The holder: reloads by result, the current set, and a connection keeping its own set. */
OG_TEST(holder_reload_and_refcount)
{
    struct dir a, b;
    struct srv_tls_paths p;
    struct srv_tls *t = NULL;
    struct srv_tls_conn conn, later;
    struct srv_tls_stats s0, s;
    struct og_diag diag;
    char live_crt[160], live_key[160], a_serial[64], b_serial[64];
    gnutls_pcert_st *pcert = NULL;
    gnutls_privkey_t key = NULL;
    unsigned n = 0;

    srv_log_set_level(SRV_LOG_ERROR); /* the reload lines are for operators */
    make_dir(&a, NULL, 0);
    make_dir(&b, NULL, 0);
    snprintf(live_crt, sizeof(live_crt), "%s/a.crt", a.path);
    snprintf(live_key, sizeof(live_key), "%s/a.key", a.path);
    copy_file(a.crt, live_crt);
    copy_file(a.key, live_key);
    p = (struct srv_tls_paths){live_crt, live_key, NULL};
    og_diag_clear(&diag);
    srv_tls_stats_get(&s0);
    ASSERT_EQ(srv_tls_new(&p, &t, &diag), OG_OK);
    ASSERT(!srv_tls_client_auth(t));
    /* A connection's handshake takes the current set. */
    srv_tls_conn_init(&conn);
    ASSERT_EQ(srv_tls_select(t, &conn, NULL, &pcert, &n, &key), 0);
    ASSERT(n == 1 && pcert != NULL && key != NULL);
    snprintf(a_serial, sizeof(a_serial), "%s", srv_tls_creds_info(conn.creds)->serial);
    srv_tls_stats_get(&s);
    ASSERT_EQ(s.not_after, srv_tls_creds_info(conn.creds)->not_after);
    /* The same files again: nothing is taken or counted. */
    ASSERT(!srv_tls_reload(t, "test"));
    srv_tls_stats_get(&s);
    ASSERT_EQ(s.reloads_ok, s0.reloads_ok);
    ASSERT_EQ(s.reloads_error, s0.reloads_error);
    /* A new pair is taken and counted ok. */
    copy_file(b.key, live_key);
    copy_file(b.crt, live_crt);
    ASSERT(srv_tls_reload(t, "test"));
    srv_tls_stats_get(&s);
    ASSERT_EQ(s.reloads_ok, s0.reloads_ok + 1);
    srv_tls_conn_init(&later);
    ASSERT_EQ(srv_tls_select(t, &later, NULL, &pcert, &n, &key), 0);
    snprintf(b_serial, sizeof(b_serial), "%s", srv_tls_creds_info(later.creds)->serial);
    ASSERT(strcmp(a_serial, b_serial) != 0);
    ASSERT_EQ(s.not_after, srv_tls_creds_info(later.creds)->not_after);
    /* A mismatched pair is refused and counted; the current set stays. */
    copy_file(a.key, live_key);
    ASSERT(!srv_tls_reload(t, "test"));
    srv_tls_stats_get(&s);
    ASSERT_EQ(s.reloads_error, s0.reloads_error + 1);
    srv_tls_conn_cleanup(&later);
    srv_tls_conn_init(&later);
    ASSERT_EQ(srv_tls_select(t, &later, NULL, &pcert, &n, &key), 0);
    ASSERT_STR_EQ(srv_tls_creds_info(later.creds)->serial, b_serial);
    /* The first connection still holds the first set, whole (ASan checks the reads). */
    ASSERT_STR_EQ(srv_tls_creds_info(conn.creds)->serial, a_serial);
    ASSERT(conn.creds != later.creds);
    /* A second call in the same handshake keeps the connection's set. */
    ASSERT_EQ(srv_tls_select(t, &conn, NULL, &pcert, &n, &key), 0);
    ASSERT_STR_EQ(srv_tls_creds_info(conn.creds)->serial, a_serial);
    srv_tls_conn_cleanup(&conn);
    srv_tls_conn_cleanup(&later);
    srv_tls_conn_cleanup(&later); /* idempotent */
    srv_tls_free(t);
    cleanup_dir(&a);
    cleanup_dir(&b);
}

OG_TEST_MAIN(OG_T(load_reads_facts), OG_T(validity_period), OG_T(bad_files),
             OG_T(many_sans_are_cut), OG_T(holder_reload_and_refcount))
