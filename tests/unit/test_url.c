/*
 * test_url.c - the url module: split, normalize, classify, OCI bases, the index.yaml join and
 * hosts, table by table.
 */
#include "harness.h"

#include <stdlib.h>
#include <string.h>

#include "ocigate/url.h"

/* Writes the parts of `u` as "scheme|userinfo|host|port|path|query|fragment", '-' for absent. */
static void parts(const struct og_url *u, char *out, size_t size)
{
    const struct og_str p[] = {u->scheme, u->userinfo, u->host,    u->port,
                               u->path,   u->query,    u->fragment};
    size_t off = 0;

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(p) / sizeof(p[0]); i++) {
        int w = p[i].ptr == NULL ? snprintf(out + off, size - off, "%s-", i ? "|" : "")
                                 : snprintf(out + off, size - off, "%s%.*s", i ? "|" : "",
                                            (int)p[i].len, p[i].ptr);

        if (w < 0 || (size_t)w >= size - off)
            return;
        off += (size_t)w;
    }
}

static const struct {
    const char *url;
    enum og_url_kind kind;
} kinds[] = {
    {"https://h/x", OG_URL_HTTPS},
    {"HTTPS://h", OG_URL_HTTPS},
    {"http://h", OG_URL_HTTP},
    {"hTTp://", OG_URL_HTTP},
    {"oci://r.io/x", OG_URL_OCI},
    {"OCI://", OG_URL_OCI},
    {"file:///etc/passwd", OG_URL_OTHER},
    {"s3://b/k", OG_URL_OTHER},
    {"git+ssh://h/x", OG_URL_OTHER},
    {"ocix://h", OG_URL_OTHER},
    {"HtTpS://h", OG_URL_HTTPS},
    {"httpx://h", OG_URL_OTHER},
    {"httpss://h", OG_URL_OTHER},
    {"htt://h", OG_URL_OTHER},
    {"ftp://h", OG_URL_OTHER},
    {"oc://h", OG_URL_OTHER},
    {"o://h", OG_URL_OTHER},
    {"ocihttps://h", OG_URL_OTHER},
    {"", OG_URL_NONE},
    {"charts/x.tgz", OG_URL_NONE},
    {"oci:r.io/x", OG_URL_NONE},
    {"https:/h", OG_URL_NONE},
    {" https://h", OG_URL_NONE},
    {"1http://h", OG_URL_NONE},
    {"://h", OG_URL_NONE},
};

OG_TEST(kind_by_scheme)
{
    for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        fprintf(stderr, "  url %s\n", kinds[i].url);
        ASSERT_EQ(og_url_kind(og_str_of(kinds[i].url)), kinds[i].kind);
        /* The scheme as written: what stands before "://", or nothing. */
        struct og_str scheme = og_url_scheme(og_str_of(kinds[i].url));
        ASSERT(scheme.ptr == kinds[i].url);
        ASSERT_EQ(scheme.len, kinds[i].kind == OG_URL_NONE
                                  ? 0
                                  : (size_t)(strstr(kinds[i].url, "://") - kinds[i].url));
    }
    ASSERT(og_url_kind_is_http(OG_URL_HTTP));
    ASSERT(og_url_kind_is_http(OG_URL_HTTPS));
    ASSERT(!og_url_kind_is_http(OG_URL_OCI));
    ASSERT(!og_url_kind_is_http(OG_URL_OTHER));
    ASSERT(!og_url_kind_is_http(OG_URL_NONE));
}

/* `want` is parts() of the result, or "!" and the start of the error message. */
static const struct {
    const char *url, *want;
} parses[] = {
    {"https://charts.example.com/stable", "https|-|charts.example.com|-|/stable|-|-"},
    {"HTTPS://Charts.Example.COM:8443/A/b/?x=1&y=%2F#Top",
     "HTTPS|-|Charts.Example.COM|8443|/A/b/|x=1&y=%2F|Top"},
    {"http://h", "http|-|h|-||-|-"},
    {"http://h?", "http|-|h|-|||-"},
    {"http://h#", "http|-|h|-||-|"},
    {"http://h:/", "http|-|h||/|-|-"},
    {"http://h/a?b#c?d#e", "http|-|h|-|/a|b|c?d#e"},
    {"http://h/a#b?c", "http|-|h|-|/a|-|b?c"},
    {"http://u:p@h/x", "http|u:p|h|-|/x|-|-"},
    {"http://@h/x", "http||h|-|/x|-|-"},
    /* The last '@' ends the userinfo, as libcurl and Go split it. */
    {"http://a@b@h/", "!has an invalid userinfo"},
    {"http://a%40b@h/", "http|a%40b|h|-|/|-|-"},
    {"http://h/p@q:r", "http|-|h|-|/p@q:r|-|-"},
    {"http://[::1]/", "http|-|[::1]|-|/|-|-"},
    {"http://[fd00::5]:8080/x", "http|-|[fd00::5]|8080|/x|-|-"},
    {"http://[::ffff:127.0.0.1]", "http|-|[::ffff:127.0.0.1]|-||-|-"},
    {"oci://r.io/charts/redis:1.2.3", "oci|-|r.io|-|/charts/redis:1.2.3|-|-"},
    {"oci://localhost:5000/c@sha256:ab", "oci|-|localhost|5000|/c@sha256:ab|-|-"},
    {"https://h:65535", "https|-|h|65535||-|-"},
    /* Leading zeros do not count against the five digits (Go's url.Parse takes them). */
    {"https://h:0000065535/", "https|-|h|0000065535|/|-|-"},
    {"https://h:000/", "https|-|h|000|/|-|-"},
    {"https://h/%zz/%E2%82%AC", "https|-|h|-|/%zz/%E2%82%AC|-|-"},
    {"https://h/\xc3\xa9t\xc3\xa9", "https|-|h|-|/\xc3\xa9t\xc3\xa9|-|-"},
    {"https://x_y.example/", "https|-|x_y.example|-|/|-|-"},
    /* Malformed. */
    {"", "!has no scheme"},
    {"h/x", "!has no scheme"},
    {"https:/h", "!has no scheme"},
    {"1https://h", "!has no scheme"},
    {"https://", "!has no host"},
    {"https:///x", "!has no host"},
    {"https://?q", "!has no host"},
    {"https://u@/x", "!has no host"},
    {"https://:443/x", "!has no host"},
    {"https://h:65536/", "!has an invalid port"},
    {"https://h:123456/", "!has an invalid port"},
    {"https://h:8a/", "!has an invalid port"},
    {"https://h:1:2/", "!has an invalid port"},
    {"https://h:-1/", "!has an invalid port"},
    {"https://[::1/", "!has an unclosed '['"},
    {"https://[::1]x/", "!has an invalid host"},
    {"https://[1.2.3.4]/", "!has an invalid IPv6"},
    {"https://[fe80::1%25eth0]/", "!has an invalid IPv6"},
    {"https://[]/", "!has an invalid IPv6"},
    {"https://::1/", "!has no host"},
    {"https://h[1]/", "!has an invalid host"},
    {"https://h\\@evil/", "!has an invalid userinfo"},
    {"https://h\\evil/", "!has an invalid host"},
    {"https://h\"/", "!has an invalid host"},
    {"https://h\xc3\xa9/", "!has an invalid host"},
    {"https://h/a b", "!contains whitespace or control"},
    {"https://h/a\tb", "!contains whitespace or control"},
    {"https://h/\x7f", "!contains whitespace or control"},
    {" https://h/", "!has no scheme"},
    {"https://h/\n", "!contains whitespace or control"},
};

OG_TEST(parse_table)
{
    char got[512];

    for (size_t i = 0; i < sizeof(parses) / sizeof(parses[0]); i++) {
        struct og_url u;
        struct og_diag d;
        enum og_err rc;

        fprintf(stderr, "  url %s\n", parses[i].url);
        og_diag_clear(&d);
        memset(&u, 0x5a, sizeof(u));
        rc = og_url_parse(og_str_of(parses[i].url), &u, &d);
        if (parses[i].want[0] == '!') {
            struct og_url untouched;

            memset(&untouched, 0x5a, sizeof(untouched));
            ASSERT_EQ(rc, OG_EINVAL);
            ASSERT(strncmp(d.msg, parses[i].want + 1, strlen(parses[i].want + 1)) == 0);
            ASSERT(memcmp(&u, &untouched, sizeof(u)) == 0);
            /* And without a diag. */
            ASSERT_EQ(og_url_parse(og_str_of(parses[i].url), &u, NULL), OG_EINVAL);
            continue;
        }
        ASSERT_EQ(rc, OG_OK);
        ASSERT_EQ(u.kind, og_url_kind(og_str_of(parses[i].url)));
        parts(&u, got, sizeof(got));
        ASSERT_STR_EQ(got, parses[i].want);
    }
}

/* A view need not end in NUL: nothing past its length is read. */
OG_TEST(parse_reads_only_the_view)
{
    static const char text[] = "https://h.example/a/b?q=1#f and more";
    struct og_url u;
    char got[256];

    ASSERT_EQ(og_url_parse((struct og_str){text, 12}, &u, NULL), OG_OK);
    parts(&u, got, sizeof(got));
    ASSERT_STR_EQ(got, "https|-|h.ex|-||-|-");
    ASSERT_EQ(og_url_parse((struct og_str){text, 27}, &u, NULL), OG_OK);
    parts(&u, got, sizeof(got));
    ASSERT_STR_EQ(got, "https|-|h.example|-|/a/b|q=1|f");
    ASSERT_EQ(og_url_parse((struct og_str){text, 28}, &u, NULL), OG_EINVAL);
}

/* `want` is the normalized form, or "!" for OG_EINVAL. */
static const struct {
    const char *url, *want;
} normals[] = {
    {"HTTPS://Charts.Example.COM/Stable/", "https://charts.example.com/Stable"},
    {"https://h/a//", "https://h/a"},
    {"https://h/", "https://h"},
    {"https://h///", "https://h"},
    {"https://h", "https://h"},
    /* The default port goes, another stays (as a number: leading zeros go). */
    {"https://h:443/x", "https://h/x"},
    {"https://h:0443/x", "https://h/x"},
    {"https://h:000443/x", "https://h/x"},
    {"https://h:0444/x", "https://h:444/x"},
    {"http://h:0000000008080/x", "http://h:8080/x"},
    {"http://h:00000/x", "http://h:0/x"},
    {"https://h:0065536/", "!"},
    {"http://h:80/x", "http://h/x"},
    {"http://h:443/x", "http://h:443/x"},
    {"https://h:80/x", "https://h:80/x"},
    {"https://h:8443/x", "https://h:8443/x"},
    {"https://h:/x", "https://h/x"},
    {"oci://R.io:443/Charts/", "oci://r.io:443/Charts"},
    /* The query stays exactly as written (Flux sends it); the fragment goes. */
    {"https://h/charts/?sig=A%2Fb&se=1#top", "https://h/charts?sig=A%2Fb&se=1"},
    {"https://h/charts?", "https://h/charts?"},
    {"https://h/charts?a/", "https://h/charts?a/"},
    {"https://h/c#x", "https://h/c"},
    {"https://h/c/#", "https://h/c"},
    /* An http(s) path is cleaned as Flux's path.Join cleans it; an oci:// one is not. */
    {"https://charts.bitnami.com//bitnami", "https://charts.bitnami.com/bitnami"},
    {"https://h/a/./b/../c/.", "https://h/a/c"},
    {"https://h/..", "https://h"},
    {"https://h/a/..b/.c", "https://h/a/..b/.c"},
    {"oci://r.io//c/./d", "oci://r.io//c/./d"},
    /* Userinfo, the path's case and percent-encoding are kept. */
    {"https://User:PW@H/%7Eme/A%2f", "https://User:PW@h/%7Eme/A%2f"},
    {"https://[FD00::5]:443/x/", "https://[fd00::5]/x"},
    {"HTTP://[::1]:8080", "http://[::1]:8080"},
    {"", "!"},
    {"charts/x", "!"},
    {"https://h/a b", "!"},
    {"https://h:99999/", "!"},
    {"https:///x", "!"},
};

OG_TEST(normalize_table)
{
    for (size_t i = 0; i < sizeof(normals) / sizeof(normals[0]); i++) {
        struct og_buf a, b;
        struct og_diag d;

        fprintf(stderr, "  url %s\n", normals[i].url);
        og_buf_init(&a, 1 << 20);
        og_buf_init(&b, 1 << 20);
        ASSERT_EQ(og_buf_append_cstr(&a, "keep:"), OG_OK);
        og_diag_clear(&d);
        if (normals[i].want[0] == '!') {
            ASSERT_EQ(og_url_normalize(og_str_of(normals[i].url), &a, &d), OG_EINVAL);
            ASSERT(d.msg[0] != '\0');
            ASSERT_STR_EQ(a.ptr, "keep:");
        } else {
            ASSERT_EQ(og_url_normalize(og_str_of(normals[i].url), &a, &d), OG_OK);
            ASSERT(strncmp(a.ptr, "keep:", 5) == 0);
            ASSERT_STR_EQ(a.ptr + 5, normals[i].want);
            /* Idempotent, and the kind does not change. */
            ASSERT_EQ(og_url_normalize(og_str_of(a.ptr + 5), &b, NULL), OG_OK);
            ASSERT_STR_EQ(b.ptr, normals[i].want);
            ASSERT_EQ(og_url_kind(og_str_of(b.ptr)), og_url_kind(og_str_of(normals[i].url)));
        }
        og_buf_cleanup(&a);
        og_buf_cleanup(&b);
    }
}

/* Over the buffer's cap: OG_ETOOBIG and the buffer as it was. */
OG_TEST(normalize_respects_the_cap)
{
    struct og_buf b;

    og_buf_init(&b, 20);
    ASSERT_EQ(og_buf_append_cstr(&b, "x"), OG_OK);
    ASSERT_EQ(og_url_normalize(og_str_of("https://example.com/some/path"), &b, NULL), OG_ETOOBIG);
    ASSERT_STR_EQ(b.ptr, "x");
    ASSERT_EQ(og_url_index_yaml(og_str_of("https://example.com/x"), &b), OG_ETOOBIG);
    ASSERT_STR_EQ(b.ptr, "x");
    og_buf_cleanup(&b);
}

/* A url of 4 MiB: linear work, one allocation, the right answer. */
OG_TEST(huge_urls)
{
    const size_t n = (size_t)4 << 20;
    char *text = malloc(n);
    struct og_buf b;
    struct og_url u;

    ASSERT(text != NULL);
    memcpy(text, "HTTPS://H.EXAMPLE:443", 21);
    memset(text + 21, '/', n - 21);
    og_buf_init(&b, n);
    ASSERT_EQ(og_url_normalize((struct og_str){text, n}, &b, NULL), OG_OK);
    ASSERT_STR_EQ(b.ptr, "https://h.example");
    og_buf_reset(&b);
    memset(text + 21, 'a', n - 21);
    text[21] = '/';
    text[n / 2] = '?';
    ASSERT_EQ(og_url_parse((struct og_str){text, n}, &u, NULL), OG_OK);
    ASSERT_EQ(u.path.len, n / 2 - 21);
    ASSERT_EQ(u.query.len, n - n / 2 - 1);
    ASSERT_EQ(og_url_index_yaml((struct og_str){text, n}, &b), OG_ETOOBIG);
    /* A host of 4 MiB parses (no DNS rule here) but is no valid allow-list host. */
    memset(text + 8, 'a', n - 8);
    ASSERT_EQ(og_url_parse((struct og_str){text, n}, &u, NULL), OG_OK);
    ASSERT_EQ(u.host.len, n - 8);
    ASSERT(!og_url_host_valid(u.host));
    text[n - 1] = ':';
    ASSERT_EQ(og_url_parse((struct og_str){text, n}, &u, NULL), OG_OK);
    text[n - 7] = ':';
    ASSERT_EQ(og_url_parse((struct og_str){text, n}, &u, NULL), OG_EINVAL);
    og_buf_cleanup(&b);
    free(text);
}

/* `want` is NULL when the url may name a repository in a configuration, else the message. */
OG_TEST(repository_urls_in_a_configuration)
{
    static const struct {
        const char *url, *want;
    } rows[] = {
        {"https://charts.example.com/stable", NULL},
        {"HTTP://Charts.Example.com:8080/x/", NULL},
        {"https://[fd00::5]/x", NULL},
        {"oci://registry.example.com/charts", NULL},
        {"oci://r.io/a/b-c_d.e/", NULL},
        {"oci://localhost:5000/c", NULL},
        {"https://u:p@x.io/c", "must not hold credentials"},
        {"https://x.io/c?a=1", "must not have a query or fragment"},
        {"https://x.io/c#a", "must not have a query or fragment"},
        {"https://x.io:abc/c", "has an invalid port"},
        {"oci://u@r.io/c", "must not hold credentials"},
        {"oci://r_x.io/c", "has an invalid host"},
        {"oci://[::1]/c", "has an invalid host"},
        {"oci://r.io/c?x=1", "must not have a query or fragment"},
        {"oci://r.io", "has no repository path (expected oci://host/path)"},
        {"oci://r.io///", "has no repository path (expected oci://host/path)"},
        {"oci:///c", "has no host"},
        {"oci://r.io/c:1.0", "must not have a tag or digest"},
        {"oci://r.io/c@sha256:ab", "must not have a tag or digest"},
        {"oci://r.io//c", "has an empty path segment"},
        {"oci://r.io/Charts", "has a repository path that is not lower case (a-z, 0-9, '.', "
                              "'_', '-', '/')"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_diag d;

        fprintf(stderr, "  url %s\n", rows[i].url);
        og_diag_clear(&d);
        if (rows[i].want == NULL) {
            ASSERT_EQ(og_url_check_repo(og_str_of(rows[i].url), &d), OG_OK);
        } else {
            ASSERT_EQ(og_url_check_repo(og_str_of(rows[i].url), &d), OG_EINVAL);
            ASSERT_STR_EQ(d.msg, rows[i].want);
        }
    }
}

OG_TEST(same_repo_ignores_the_scheme)
{
    static const struct {
        const char *a, *b;
        bool same;
    } rows[] = {
        {"https://charts.bitnami.com/bitnami", "http://charts.bitnami.com/bitnami", true},
        {"https://charts.bitnami.com/bitnami", "https://charts.bitnami.com/bitnami", true},
        {"https://charts.bitnami.com/bitnami", "https://charts.bitnami.com/bitnami2", false},
        {"https://h/x", "https://h:8443/x", false},
        {"https://h/x", "https://h/X", false},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        ASSERT_EQ(og_url_same_repo(og_str_of(rows[i].a), og_str_of(rows[i].b)), rows[i].same);
}

OG_TEST(origin_names_scheme_host_and_port)
{
    static const struct {
        const char *url, *want;
    } rows[] = {
        {"https://Charts.Example.com/x", "https://charts.example.com:443"},
        {"HTTP://h/x", "http://h:80"},
        {"http://h:/x", "http://h:80"},
        {"http://h:8080/x?q", "http://h:8080"},
        {"http://h:08080/x?q", "http://h:8080"},
        {"https://h:000/x", "https://h:0"},
        {"https://[FD00::1]/x", "https://[fd00::1]:443"},
        {"oci://r.io/x", NULL},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_url u;
        struct og_buf b;

        og_buf_init(&b, 1024);
        ASSERT_EQ(og_url_parse(og_str_of(rows[i].url), &u, NULL), OG_OK);
        if (rows[i].want == NULL) {
            ASSERT_EQ(og_url_origin(&u, &b), OG_EINVAL);
        } else {
            ASSERT_EQ(og_url_origin(&u, &b), OG_OK);
            ASSERT_STR_EQ(b.ptr, rows[i].want);
        }
        og_buf_cleanup(&b);
    }
}

OG_TEST(oci_base_of_a_repository_url)
{
    static const struct {
        const char *url, *base;
    } rows[] = {
        {"oci://r.io/charts", "oci://r.io/charts"},
        {"oci://r.io/charts/", "oci://r.io/charts"},
        {"oci://r.io/charts/redis:1.2.3", "oci://r.io/charts"},
        {"oci://r.io/charts/redis:1.2.3/", "oci://r.io/charts"},
        {"oci://r.io/charts/redis@sha256:ab", "oci://r.io/charts"},
        {"oci://r.io/charts/redis-1.2.3.tgz", "oci://r.io/charts"},
        {"oci://r.io/charts/redis", "oci://r.io/charts/redis"},
        /* The host's port is not a tag. */
        {"oci://r.io:5000", "oci://r.io:5000"},
        {"oci://r.io:5000/", "oci://r.io:5000"},
        {"oci://r.io:5000/c", "oci://r.io:5000/c"},
        {"OCI://R.io/Charts", "OCI://R.io/Charts"},
        /* Never into the "://" (the old copy in policy.c gave "oci:"). */
        {"oci://", "oci://"},
        {"oci:///", "oci://"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_str b = og_url_oci_base(og_str_of(rows[i].url));

        fprintf(stderr, "  url %s\n", rows[i].url);
        ASSERT_MEM_EQ(b.ptr, b.len, rows[i].base);
    }
}

OG_TEST(index_yaml_join)
{
    static const struct {
        const char *base, *url;
    } rows[] = {
        {"https://charts.bitnami.com/bitnami", "https://charts.bitnami.com/bitnami/index.yaml"},
        {"https://charts.bitnami.com/bitnami/", "https://charts.bitnami.com/bitnami/index.yaml"},
        {"https://charts.bitnami.com/bitnami///", "https://charts.bitnami.com/bitnami/index.yaml"},
        {"https://h", "https://h/index.yaml"},
        {"https://h/", "https://h/index.yaml"},
        /* As Flux: the query is kept (signed urls), the path always gets index.yaml. */
        {"https://h/charts?sig=a%2Fb&se=1", "https://h/charts/index.yaml?sig=a%2Fb&se=1"},
        {"https://h/charts/?sig=x#frag", "https://h/charts/index.yaml?sig=x"},
        {"https://h/charts#frag?not=query", "https://h/charts/index.yaml"},
        {"https://h/x/index.yaml", "https://h/x/index.yaml/index.yaml"},
        {"HTTPS://H:443/X", "HTTPS://H:443/X/index.yaml"},
        {"", "/index.yaml"},
        /* The trailing '/' trimmed are the path's, never the "//" of the authority: the fetcher
         * then says the url has no host, not that "http:/index.yaml" is not absolute. */
        {"http://", "http:///index.yaml"},
        {"https:///", "https:///index.yaml"},
        {"https:////", "https:///index.yaml"},
        {"//", "/index.yaml"},
        /* path.Join cleans the path as Flux fetches it: "//", "." and ".." go. */
        {"https://h//stable", "https://h/stable/index.yaml"},
        {"https://h/a/./b/../c//?q=/..//", "https://h/a/c/index.yaml?q=/..//"},
        {"https://h/../../x/..", "https://h/index.yaml"},
        {"https://h/a/%2e%2e/b/..c", "https://h/a/%2e%2e/b/..c/index.yaml"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_buf b;

        og_buf_init(&b, 1024);
        ASSERT_EQ(og_url_index_yaml(og_str_of(rows[i].base), &b), OG_OK);
        ASSERT_STR_EQ(b.ptr, rows[i].url);
        og_buf_cleanup(&b);
    }
}

OG_TEST(hosts)
{
    static const struct {
        const char *host;
        bool valid;
    } rows[] = {
        {"charts.example.com", true},
        {"Charts.Example.COM", true},
        {"localhost", true},
        {"10.0.0.1", true},
        {"fd00::5", true},
        {"::1", true},
        {"::ffff:10.0.0.1", true},
        {"a-b.c", true},
        {"", false},
        {".x", false},
        {"-x", false},
        {"[fd00::5]", false},
        {"h:8080", false},
        {"http://x", false},
        {"a b", false},
        {"x_y", false},
        {"fd00::zz", false},
        {"h/x", false},
    };
    char long_name[300];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        fprintf(stderr, "  host %s\n", rows[i].host);
        ASSERT_EQ(og_url_host_valid(og_str_of(rows[i].host)), rows[i].valid);
    }
    memset(long_name, 'a', sizeof(long_name));
    ASSERT(og_url_host_valid((struct og_str){long_name, 253}));
    ASSERT(!og_url_host_valid((struct og_str){long_name, 254}));

    ASSERT(og_url_host_eq(og_str_of("[FD00::5]"), og_str_of("fd00::5")));
    ASSERT(og_url_host_eq(og_str_of("fd00::5"), og_str_of("[fd00::5]")));
    ASSERT(og_url_host_eq(og_str_of("[fd00::5]"), og_str_of("[FD00::5]")));
    ASSERT(og_url_host_eq(og_str_of("Charts.Example.com"), og_str_of("charts.example.COM")));
    ASSERT(!og_url_host_eq(og_str_of("charts.example.com"), og_str_of("example.com")));
    ASSERT(!og_url_host_eq(og_str_of("[fd00::5"), og_str_of("fd00::5")));
    ASSERT(!og_url_host_eq(og_str_of("[]"), og_str_of("[x]")));
}

/* urls[0] of index entries: kind, malformed and base, rule by rule (helm_index.h). */
struct url_case {
    const char *url;
    enum og_url_kind kind;
    bool malformed;
    const char *base; /* "" when none */
};

static const struct url_case url_cases[] = {
    {"oci://registry-1.docker.io/bitnamicharts/redis:20.4.0", OG_URL_OCI, false,
     "oci://registry-1.docker.io/bitnamicharts"},
    {"oci://registry-1.docker.io/kubeshop/testkube-2.4.0-preview.1.tgz", OG_URL_OCI, true,
     "oci://registry-1.docker.io/kubeshop"},
    {"oci://host/path/chart", OG_URL_OCI, true, "oci://host/path"},
    {"oci://host/path/chart@sha256:abcd", OG_URL_OCI, false, "oci://host/path"},
    {"oci://host/path/chart@", OG_URL_OCI, true, "oci://host/path"},
    {"oci://host/path/chart:", OG_URL_OCI, true, "oci://host/path"},
    {"oci://localhost:5000/chart:1.0", OG_URL_OCI, false, "oci://localhost:5000"},
    {"oci://localhost:5000", OG_URL_OCI, true, ""},
    {"oci://", OG_URL_OCI, true, ""},
    {"oci:///chart:1", OG_URL_OCI, true, ""},
    {"OCI://Host/Path/c:1", OG_URL_OCI, false, "OCI://Host/Path"},
    {"  oci://h/p/c:1  ", OG_URL_OCI, false, "oci://h/p"},
    {"https://acme.jfrog.io/artifactory/api/helm/r/oci://registry-1.docker.io/bitnamicharts/"
     "redis:20.4.0",
     OG_URL_OCI, false, "oci://registry-1.docker.io/bitnamicharts"},
    {"https://a.example/x/OCI://h/p/c.tgz", OG_URL_OCI, true, "OCI://h/p"},
    /* An index is anyone's text: no base may carry credentials, spaces, quotes or a query. */
    {"oci://user:pw@r.io/x/a:1", OG_URL_OCI, true, ""},
    {"oci://r.io/x y/a:1", OG_URL_OCI, true, ""},
    {"oci://r.io/x\"evil/a:1", OG_URL_OCI, true, ""},
    {"oci://r.io/x/a:1?x=y/z:2", OG_URL_OCI, false, "oci://r.io/x"},
    {"oci://[::1]:5000/x/a:1", OG_URL_OCI, false, "oci://[::1]:5000/x"},
    /* "/oci://" counts only in the path, never in a query. */
    {"https://h.example/c/a-1.0.0.tgz?from=/oci://r.io/x/a:1.0.0", OG_URL_HTTPS, false, ""},
    {"https://charts.bitnami.com/bitnami/redis-17.0.0.tgz", OG_URL_HTTPS, false, ""},
    {"HTTP://charts.example/x.tgz", OG_URL_HTTP, false, ""},
    {"https://charts.example/oci-charts/x.tgz", OG_URL_HTTPS, false, ""},
    {"charts/foo-1.0.0.tgz", OG_URL_NONE, false, ""},
    {"foo-1.0.0.tgz", OG_URL_NONE, false, ""},
    {"file:///srv/foo-1.0.0.tgz", OG_URL_OTHER, false, ""},
    {"s3://bucket/foo-1.0.0.tgz", OG_URL_OTHER, false, ""},
    {"ocix://h/p/c:1", OG_URL_OTHER, false, ""},
    {"", OG_URL_NONE, false, ""},
};

OG_TEST(chart_urls_in_an_index)
{
    for (size_t i = 0; i < sizeof(url_cases) / sizeof(url_cases[0]); i++) {
        const struct url_case *c = &url_cases[i];
        struct og_url_chart cls;

        og_url_chart(og_str_of(c->url), &cls);
        fprintf(stderr, "  url %s\n", c->url);
        ASSERT_EQ(cls.kind, c->kind);
        ASSERT_EQ(cls.malformed, c->malformed);
        ASSERT_MEM_EQ(cls.base.ptr, cls.base.len, c->base);
    }
}

/* `want` is what may be shown of `url`; `secret` must not appear in it (NULL: nothing to hide). */
static const struct {
    const char *url, *want, *secret;
} redactions[] = {
    /* user and password: the user name is kept, as Go's URL.Redacted() keeps it */
    {"https://user:s3cret@charts.example.com/stable",
     "https://user:xxxxx@charts.example.com/stable", "s3cret"},
    {"HTTPS://User:S3cret@Charts.Example.COM:8443/A/?q=1#f",
     "HTTPS://User:xxxxx@Charts.Example.COM:8443/A/?q=1#f", "S3cret"},
    /* a user name alone is where a token goes: hidden (Go would keep it) */
    {"https://ghp_T0KEN@raw.githubusercontent.com/o/r/main/",
     "https://xxxxx@raw.githubusercontent.com/o/r/main/", "ghp_T0KEN"},
    /* an empty password is still a password (Go writes xxxxx too); an empty userinfo stays */
    {"https://user:@h/x", "https://user:xxxxx@h/x", NULL},
    {"https://:pw@h/x", "https://:xxxxx@h/x", "pw"},
    {"https://@h/x", "https://@h/x", NULL},
    /* percent-encoded ':' and '@' belong to the password; a raw ':' after the first too */
    {"https://u:p%3Ass%40w0rd@h/", "https://u:xxxxx@h/", "p%3Ass%40w0rd"},
    {"https://u%40corp:pw%3A1@h/", "https://u%40corp:xxxxx@h/", "pw%3A1"},
    {"https://u:a:b@h/", "https://u:xxxxx@h/", "a:b"},
    /* IPv6 hosts and ports */
    {"http://u:pw@[fd00::1]:8080/c", "http://u:xxxxx@[fd00::1]:8080/c", "pw"},
    {"http://[fd00::1]:8080/c@d", "http://[fd00::1]:8080/c@d", NULL},
    /* oci:// as any scheme; a digest's '@' in the path is no userinfo */
    {"oci://robot:tok3n@registry.example.com/charts",
     "oci://robot:xxxxx@registry.example.com/charts", "tok3n"},
    {"oci://TOK3N@r.io/charts/redis@sha256:abc", "oci://xxxxx@r.io/charts/redis@sha256:abc",
     "TOK3N"},
    {"oci://r.io/charts/redis@sha256:abc", "oci://r.io/charts/redis@sha256:abc", NULL},
    /* no userinfo: as it is, nothing normalized */
    {"https://Charts.Example.com:443//a/../b/?x=%2F",
     "https://Charts.Example.com:443//a/../b/?x=%2F", NULL},
    {"", "", NULL},
    {"charts/x.tgz", "charts/x.tgz", NULL},
    /* malformed: never the secret, whatever failed to parse */
    {"https://user:p@ss@h/", "https://xxxxx@h/", "p@ss"},     /* a raw '@' in the password */
    {"https://user:pa/ss@h/x", "https://xxxxx@h/x", "pa/ss"}, /* a raw '/' ends the authority */
    {"https://user:pa?ss@h/x", "https://xxxxx@h/x", "pa?ss"},
    {"https://user:pa#ss@h/x", "https://xxxxx@h/x", "pa#ss"},
    {"https://user:s3cret@h/a b", "https://xxxxx@h/a b", "s3cret"}, /* whitespace elsewhere */
    {"https://user:s3cret@h:99999/", "https://xxxxx@h:99999/", "s3cret"},
    {"https://user:s3cret@/x", "https://xxxxx@/x", "s3cret"}, /* no host */
    {"https://user:s3 cret@h/", "https://xxxxx@h/", "s3 cret"},
    {"user:s3cret@charts.example.com/x", "xxxxx@charts.example.com/x", "s3cret"}, /* no scheme */
    {"oci:user:s3cret@r.io/x", "xxxxx@r.io/x", "s3cret"},
    {"https://user:s3cret@", "https://xxxxx@", "s3cret"},
    {"https://h/a b", "https://h/a b", NULL}, /* malformed without any '@': as it is */
};

OG_TEST(redact_table)
{
    for (size_t i = 0; i < sizeof(redactions) / sizeof(redactions[0]); i++) {
        struct og_buf b;

        fprintf(stderr, "  url %s\n", redactions[i].url);
        og_buf_init(&b, 1 << 20);
        ASSERT_EQ(og_buf_append_cstr(&b, "keep:"), OG_OK);
        ASSERT_EQ(og_url_redact(og_str_of(redactions[i].url), &b), OG_OK);
        ASSERT(strncmp(b.ptr, "keep:", 5) == 0);
        ASSERT_STR_EQ(b.ptr + 5, redactions[i].want);
        if (redactions[i].secret != NULL)
            ASSERT(strstr(b.ptr, redactions[i].secret) == NULL);
        /* Redacting twice changes nothing more: what is shown may be shown again. */
        og_buf_reset(&b);
        ASSERT_EQ(og_url_redact(og_str_of(redactions[i].want), &b), OG_OK);
        ASSERT_STR_EQ(b.ptr != NULL ? b.ptr : "", redactions[i].want);
        og_buf_cleanup(&b);
    }
}

/* Reads only the view; over the cap: OG_ETOOBIG and the buffer as it was. */
OG_TEST(redact_view_and_cap)
{
    static const char text[] = "https://u:pw@h/xSECRET";
    struct og_buf b;

    og_buf_init(&b, 1 << 10);
    ASSERT_EQ(og_url_redact((struct og_str){text, sizeof(text) - 1 - 6}, &b), OG_OK);
    ASSERT_STR_EQ(b.ptr, "https://u:xxxxx@h/x");
    og_buf_cleanup(&b);
    /* "https://u:xxxxx@h/x" is 19 bytes: 18 is too few, whether the secret is hidden or not. */
    og_buf_init(&b, 18);
    ASSERT_EQ(og_buf_append_cstr(&b, "x"), OG_OK);
    ASSERT_EQ(og_url_redact(og_str_of("https://u:pw@h/x"), &b), OG_ETOOBIG);
    ASSERT_STR_EQ(b.ptr, "x");
    ASSERT_EQ(og_url_redact(og_str_of("https://user:p@ss@host.example/"), &b), OG_ETOOBIG);
    ASSERT_STR_EQ(b.ptr, "x");
    og_buf_cleanup(&b);
    og_buf_init(&b, 19);
    ASSERT_EQ(og_url_redact(og_str_of("https://u:pw@h/x"), &b), OG_OK);
    ASSERT_STR_EQ(b.ptr, "https://u:xxxxx@h/x");
    og_buf_cleanup(&b);
    /* An '@' past the end of the view is not the view's: nothing to hide, malformed or not. */
    og_buf_init(&b, 1 << 10);
    ASSERT_EQ(og_url_redact((struct og_str){"https://user:pw@h/", 12}, &b), OG_OK);
    ASSERT_STR_EQ(b.ptr, "https://user");
    og_buf_reset(&b);
    ASSERT_EQ(og_url_redact((struct og_str){"https://h/a b@c", 13}, &b), OG_OK);
    ASSERT_STR_EQ(b.ptr, "https://h/a b");
    og_buf_cleanup(&b);
}

/*
 * Every byte value in the path and in the userinfo: controls, space and DEL refused wherever
 * they are; '?' and '#' start the query and fragment; "/?#" end the authority; the last '@' in
 * it ends the userinfo. Any other byte is the part's own.
 */
OG_TEST(parse_every_byte)
{
    for (unsigned b = 0; b < 256; b++) {
        bool ctl = b <= 0x20 || b == 0x7f;
        char text[32];
        struct og_url u;
        enum og_err rc;

        memcpy(text, "http://h/a?z", 12);
        text[10] = (char)b;
        rc = og_url_parse((struct og_str){text, 12}, &u, NULL);
        ASSERT_EQ(rc, ctl ? OG_EINVAL : OG_OK);
        if (rc == OG_OK && b == '?') {
            ASSERT_MEM_EQ(u.path.ptr, u.path.len, "/a");
            ASSERT_MEM_EQ(u.query.ptr, u.query.len, "z");
        } else if (rc == OG_OK && b == '#') {
            ASSERT_MEM_EQ(u.path.ptr, u.path.len, "/a");
            ASSERT_MEM_EQ(u.fragment.ptr, u.fragment.len, "z");
        } else if (rc == OG_OK) {
            ASSERT_EQ(u.path.len, 4);
            ASSERT(u.query.ptr == NULL && u.fragment.ptr == NULL);
        }

        memcpy(text, "http://x?y@h/p", 14);
        text[8] = (char)b;
        rc = og_url_parse((struct og_str){text, 14}, &u, NULL);
        if (ctl) {
            ASSERT_EQ(rc, OG_EINVAL);
        } else if (b == '/' || b == '?' || b == '#') {
            ASSERT_EQ(rc, OG_OK);
            ASSERT_MEM_EQ(u.host.ptr, u.host.len, "x");
            ASSERT(u.userinfo.ptr == NULL);
        } else if (b == '@') {
            ASSERT_EQ(rc, OG_EINVAL); /* "x@y" is no userinfo */
        } else {
            if ((b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || b == '-' || b == '%')
                ASSERT_EQ(rc, OG_OK);
            if (rc == OG_OK) {
                ASSERT_EQ(u.userinfo.len, 3);
                ASSERT_MEM_EQ(u.host.ptr, u.host.len, "h");
            }
        }
    }
}

/*
 * Urls long and short around the 16-byte steps of the parser's scan and the 8-byte steps of
 * lower-casing: a host of every length up to 40, in mixed case (normalized to lower case), with
 * a space at each place of the url (refused), and paths that are clean already or not.
 */
OG_TEST(parse_and_normalize_at_every_length)
{
    static const struct {
        const char *path, *want;
    } paths[] = {
        {"/a/b", "/a/b"},   {"/a/.b", "/a/.b"}, {"/.a", "/.a"},     {"/a//b", "/a/b"},
        {"/a/./b", "/a/b"}, {"/a/../b", "/b"},  {"/a/b.", "/a/b."}, {"/a.b/c/", "/a.b/c"},
        {"//a", "/a"},      {"/..", ""},        {"/a/.", "/a"},     {"", ""},
    };
    static const char letters[] = "AbZzQaMYn-9._~y";
    char url[128], want[128], host[48];
    struct og_buf out;
    struct og_url u;

    og_buf_init(&out, 1u << 20);
    for (size_t len = 1; len <= 40; len++) {
        for (size_t i = 0; i < len; i++)
            host[i] = letters[(i * 7 + len) % (sizeof(letters) - 1)];
        host[len] = '\0';
        for (size_t p = 0; p < sizeof(paths) / sizeof(paths[0]); p++) {
            size_t n = (size_t)snprintf(url, sizeof(url), "HTtpS://%s%s", host, paths[p].path);

            ASSERT_EQ(og_url_parse((struct og_str){url, n}, &u, NULL), OG_OK);
            ASSERT_MEM_EQ(u.host.ptr, u.host.len, host);
            ASSERT_MEM_EQ(u.path.ptr, u.path.len, paths[p].path);
            og_buf_reset(&out);
            ASSERT_EQ(og_url_normalize((struct og_str){url, n}, &out, NULL), OG_OK);
            snprintf(want, sizeof(want), "https://%s%s", host, paths[p].want);
            for (size_t i = 0; i < len; i++)
                want[8 + i] = og_ascii_lower(want[8 + i]);
            ASSERT_STR_EQ(out.ptr, want);
            /* A space or control anywhere after the scheme is refused. */
            for (size_t at = 8; at < n; at++) {
                char saved = url[at];

                url[at] = at % 2 == 0 ? ' ' : '\x7f';
                ASSERT_EQ(og_url_parse((struct og_str){url, n}, &u, NULL), OG_EINVAL);
                url[at] = saved;
            }
        }
    }
    og_buf_cleanup(&out);
}

/*
 * Every byte at every place of hosts of 5, 16, 20 and 33 bytes (the parser looks at a host 16
 * bytes at a time, a short one a byte at a time): valid exactly when it is one of RFC 3986's
 * reg-name bytes (unreserved, '%' and sub-delims). The bytes that end a host ('/', '?', '#',
 * '@', ':') and those refused anywhere (controls, space, DEL) are left to the tests above.
 */
OG_TEST(host_bytes_at_every_place)
{
    static const char name[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "-._~%!$&'()*+,;=";
    static const size_t lens[] = {5, 16, 20, 33};

    for (unsigned b = 0x21; b < 0x100; b++) {
        bool ok = b < 0x80 && strchr(name, (int)b) != NULL;

        if (b == 0x7f || strchr("/?#@:", (int)b) != NULL)
            continue;
        for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
            for (size_t at = 0; at < lens[l]; at++) {
                char url[64];
                struct og_url u;
                size_t n = 8 + lens[l];

                memcpy(url, "https://", 8);
                memset(url + 8, 'h', lens[l]);
                url[8 + at] = (char)b;
                memcpy(url + n, ":1/p", 4);
                ASSERT_EQ(og_url_parse((struct og_str){url, n + 4}, &u, NULL),
                          ok ? OG_OK : OG_EINVAL);
                if (ok) {
                    ASSERT_EQ(u.host.len, lens[l]);
                    ASSERT(u.host.ptr == url + 8);
                    ASSERT_MEM_EQ(u.port.ptr, u.port.len, "1");
                }
            }
        }
    }
}

OG_TEST_MAIN(OG_T(kind_by_scheme), OG_T(parse_table), OG_T(parse_reads_only_the_view),
             OG_T(parse_every_byte), OG_T(parse_and_normalize_at_every_length),
             OG_T(host_bytes_at_every_place), OG_T(normalize_table),
             OG_T(normalize_respects_the_cap), OG_T(huge_urls),
             OG_T(repository_urls_in_a_configuration), OG_T(same_repo_ignores_the_scheme),
             OG_T(origin_names_scheme_host_and_port), OG_T(oci_base_of_a_repository_url),
             OG_T(index_yaml_join), OG_T(hosts), OG_T(chart_urls_in_an_index), OG_T(redact_table),
             OG_T(redact_view_and_cap))
