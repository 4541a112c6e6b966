/*
 * test_tls_pem.c - srv_tls_read_pem at its edges: an empty file, a directory, a NUL byte, the
 * largest file it takes and one byte more.
 */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tls.h"

static void write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");

    ASSERT(f != NULL);
    ASSERT_EQ(fwrite(data, 1, len, f), len);
    ASSERT_EQ(fclose(f), 0);
}

static enum og_err read_pem(const char *path, struct og_diag *diag, size_t *len)
{
    char *pem = NULL;
    enum og_err rc;

    og_diag_clear(diag);
    *len = 0;
    rc = srv_tls_read_pem(path, &pem, len, diag);
    srv_tls_wipe_free(pem, *len);
    return rc;
}

OG_TEST(read_pem_edges)
{
    char dir[] = "/tmp/og-tls-XXXXXX", path[64];
    static char big[SRV_TLS_PEM_MAX + 1];
    struct og_diag diag;
    size_t len;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/p.pem", dir);

    write_bytes(path, "", 0);
    ASSERT_EQ(read_pem(path, &diag, &len), OG_EINVAL);
    ASSERT_STR_CONTAINS(diag.msg, "not a regular file of 1..");

    ASSERT_EQ(read_pem(dir, &diag, &len), OG_EINVAL);
    ASSERT_STR_CONTAINS(diag.msg, "not a regular file of 1..");

    write_bytes(path, "a\0b", 3);
    ASSERT_EQ(read_pem(path, &diag, &len), OG_EINVAL);
    ASSERT_STR_CONTAINS(diag.msg, "not a PEM file");

    memset(big, 'x', sizeof(big));
    write_bytes(path, big, SRV_TLS_PEM_MAX);
    ASSERT_EQ(read_pem(path, &diag, &len), OG_OK);
    ASSERT_EQ(len, SRV_TLS_PEM_MAX);
    write_bytes(path, big, SRV_TLS_PEM_MAX + 1);
    ASSERT_EQ(read_pem(path, &diag, &len), OG_EINVAL);
    ASSERT_STR_CONTAINS(diag.msg, "not a regular file of 1..");

    unlink(path);
    rmdir(dir);
}

OG_TEST_MAIN(OG_T(read_pem_edges))
