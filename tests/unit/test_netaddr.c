#include "harness.h"

#include "ocigate/netaddr.h"

/* Every address the SSRF guard must refuse, with the range it falls in. */
static const struct {
    const char *addr;
    const char *range;
} forbidden[] = {
    {"127.0.0.1", "loopback"},
    {"127.255.255.254", "loopback"},
    {"0.0.0.0", "unspecified"},
    {"0.1.2.3", "unspecified"},
    {"10.0.0.1", "private"},
    {"172.16.0.1", "private"},
    {"172.31.255.255", "private"},
    {"192.168.1.1", "private"},
    {"169.254.169.254", "link-local"},
    {"100.64.0.1", "shared (CGNAT)"},
    {"100.127.255.255", "shared (CGNAT)"},
    {"192.0.0.8", "IETF protocol assignments"},
    {"198.18.0.1", "benchmarking"},
    {"198.19.255.255", "benchmarking"},
    {"224.0.0.1", "multicast"},
    {"239.255.255.250", "multicast"},
    {"240.0.0.1", "reserved"},
    {"255.255.255.255", "broadcast"},
    {"192.0.2.1", "documentation"},
    {"::1", "loopback"},
    {"::", "unspecified"},
    {"fc00::1", "unique local"},
    {"fd12:3456::1", "unique local"},
    {"fe80::1", "link-local"},
    {"febf::1", "link-local"},
    {"ff02::1", "multicast"},
    {"::ffff:127.0.0.1", "loopback"},
    {"::ffff:169.254.169.254", "link-local"},
    {"::ffff:10.0.0.1", "private"},
    {"::ffff:0:10.0.0.1", "private"},
    {"::127.0.0.1", "IPv4-compatible"},
    {"::8.8.8.8", "IPv4-compatible"},
    {"64:ff9b::127.0.0.1", "loopback"},
    {"64:ff9b::a9fe:a9fe", "link-local"},
    {"64:ff9b:1::1", "NAT64 local-use"},
    {"2002:7f00:1::1", "loopback"},
    {"2002:c0a8:101::1", "private"},
    {"2001::1", "Teredo"},
    {"2001:db8::1", "documentation"},
};

/* Public unicast addresses, which the guard lets through. */
static const char *const allowed[] = {
    "1.1.1.1",          "8.8.8.8",         "104.16.0.1",      "172.15.255.255", "172.32.0.1",
    "100.63.255.255",   "100.128.0.1",     "198.17.255.255",  "198.20.0.1",     "169.253.0.1",
    "223.255.255.255",  "11.0.0.1",        "2606:4700::1111", "2a00:1450::1",   "::ffff:8.8.8.8",
    "64:ff9b::808:808", "2002:808:808::1", "2001:4860::8888", "fbff:ffff::1",
};

OG_TEST(forbidden_ranges)
{
    for (size_t i = 0; i < sizeof(forbidden) / sizeof(forbidden[0]); i++) {
        struct og_ipaddr a;

        ASSERT_EQ(og_netaddr_parse(forbidden[i].addr, &a), OG_OK);
        const char *name = og_netaddr_forbidden(&a);
        if (name == NULL || strcmp(name, forbidden[i].range) != 0)
            OG_FAIL_("%s: got range '%s', want '%s'", forbidden[i].addr, name ? name : "(none)",
                     forbidden[i].range);
        ASSERT(og_netaddr_is_forbidden(&a));
    }
}

OG_TEST(public_addresses)
{
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        struct og_ipaddr a;

        ASSERT_EQ(og_netaddr_parse(allowed[i], &a), OG_OK);
        const char *name = og_netaddr_forbidden(&a);
        if (name != NULL)
            OG_FAIL_("%s: classified as '%s', want public", allowed[i], name);
    }
}

OG_TEST(site_local_is_forbidden)
{
    struct og_ipaddr a;

    /* Deprecated (RFC 3879) and never public. */
    ASSERT_EQ(og_netaddr_parse("fec0::1", &a), OG_OK);
    ASSERT_STR_EQ(og_netaddr_forbidden(&a), "site-local");
}

OG_TEST(parse_rejects_non_numeric)
{
    static const char *const bad[] = {"",          "localhost",  "1.2.3",      "1.2.3.4.5",
                                      "256.0.0.1", "0x7f.0.0.1", "[::1]",      "fe80::1%eth0",
                                      "1.2.3.4 ",  "::g",        "2130706433", "01.2.3.4x"};
    struct og_ipaddr a = {{0}, false};

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (og_netaddr_parse(bad[i], &a) != OG_EPARSE)
            OG_FAIL_("'%s' parsed as an address", bad[i]);
    }
}

OG_TEST(cidr_match_table)
{
    static const struct {
        const char *cidr, *addr;
        bool match;
    } rows[] = {
        {"127.0.0.0/8", "127.0.0.1", true},
        {"127.0.0.0/8", "::ffff:127.0.0.1", true},
        {"127.0.0.0/8", "128.0.0.1", false},
        {"127.0.0.1", "127.0.0.1", true},
        {"127.0.0.1", "127.0.0.2", false},
        {"127.0.0.1/32", "127.0.0.1", true},
        {"10.0.0.0/8", "10.255.255.255", true},
        {"10.0.0.0/8", "11.0.0.0", false},
        {"100.64.0.0/10", "100.127.0.1", true},
        {"100.64.0.0/10", "100.128.0.1", false},
        {"0.0.0.0/0", "8.8.8.8", true},
        {"0.0.0.0/0", "::ffff:8.8.8.8", true},
        {"0.0.0.0/0", "2001:db8::1", false},
        {"::/0", "2001:db8::1", true},
        {"::/0", "8.8.8.8", true},
        {"fc00::/7", "fdff::1", true},
        {"fc00::/7", "fe00::1", false},
        {"::1/128", "::1", true},
        {"::1", "::2", false},
        {"2001:db8::/33", "2001:db8:7fff::1", true},
        {"2001:db8::/33", "2001:db8:8000::1", false},
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_cidr c;
        struct og_ipaddr a;
        struct og_diag d;

        og_diag_clear(&d);
        if (og_netaddr_cidr_parse(rows[i].cidr, &c, &d) != OG_OK)
            OG_FAIL_("'%s': %s", rows[i].cidr, d.msg);
        ASSERT_EQ(og_netaddr_parse(rows[i].addr, &a), OG_OK);
        if (og_netaddr_cidr_match(&c, &a) != rows[i].match)
            OG_FAIL_("%s in %s: want %d", rows[i].addr, rows[i].cidr, rows[i].match);
    }
}

OG_TEST(cidr_parse_errors)
{
    static const struct {
        const char *text, *msg;
    } rows[] = {
        {"", "invalid CIDR \"\" (expected address/prefix, e.g. 10.0.0.0/8)"},
        {"/8", "(expected address/prefix"},
        {"10.0.0.0/", "bad prefix length"},
        {"10.0.0.0/33", "invalid CIDR \"10.0.0.0/33\" (prefix length over 32)"},
        {"::/129", "(prefix length over 128)"},
        {"10.0.0.0/-1", "bad prefix length"},
        {"10.0.0.0/+8", "bad prefix length"},
        {"10.0.0.0/ 8", "bad prefix length"},
        {"10.0.0.0/08", "bad prefix length"},
        {"10.0.0.0/8x", "bad prefix length"},
        {"10.1.0.0/8", "(host bits set; did you mean 10.0.0.0/8?)"},
        {"fc00::1/7", "(host bits set; did you mean fc00::/7?)"},
        {"example.com/8", "(\"example.com\" is not an IPv4 or IPv6 address)"},
        {"10.0.0.0/99999999999999999999999", "(prefix length over 32)"},
    };
    struct og_cidr c = {{{0}, false}, 0};

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_diag d;

        og_diag_clear(&d);
        if (og_netaddr_cidr_parse(rows[i].text, &c, &d) != OG_EPARSE)
            OG_FAIL_("'%s' parsed as a CIDR", rows[i].text);
        ASSERT_STR_CONTAINS(d.msg, rows[i].msg);
    }
    ASSERT_EQ(c.prefix, 0); /* untouched on failure */
}

OG_TEST(format_round_trip)
{
    static const char *const rows[] = {"10.0.0.1",         "169.254.169.254", "::1",
                                       "::ffff:127.0.0.1", "2001:db8::1",     "0.0.0.0"};
    char text[OG_IPADDR_STRLEN], tiny[4];

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_ipaddr a;

        ASSERT_EQ(og_netaddr_parse(rows[i], &a), OG_OK);
        ASSERT_STR_EQ(og_netaddr_format(&a, text, sizeof(text)), rows[i]);
    }
    struct og_ipaddr a;
    uint8_t v4[4] = {10, 0, 0, 1};
    og_netaddr_from_v4(v4, &a);
    ASSERT_STR_EQ(og_netaddr_format(&a, tiny, sizeof(tiny)), "10.");
}

/*
 * NAT64 (64:ff9b::/96) carries an IPv4 address in its last 4 bytes: just inside the /96 the
 * embedded address decides (8.8.8.8 passes); one bit outside it the low bytes are not an IPv4
 * address, and the address falls in ::/8 (reserved), whatever they hold.
 */
OG_TEST(nat64_prefix_edges)
{
    static const struct {
        const char *addr;
        const char *range; /* NULL: allowed */
    } rows[] = {
        {"64:ff9b::7f00:1", "loopback"},        /* inside + 127.0.0.1 */
        {"64:ff9b::a00:1", "private"},          /* inside + 10.0.0.1 */
        {"64:ff9b::808:808", NULL},             /* inside + 8.8.8.8 */
        {"64:ff9b::1:7f00:1", "reserved"},      /* byte 11 = 1: just outside */
        {"64:ff9b::1:808:808", "reserved"},     /* not 8.8.8.8 */
        {"64:ff9b::100:0:808:808", "reserved"}, /* byte 10 */
        {"64:ff9b:0:0:1::808:808", "reserved"}, /* byte 9 */
        {"64:ff9b:0:1::808:808", "reserved"},   /* byte 7 */
        {"64:ff9b:8000::808:808", "reserved"},  /* byte 4, not the /48 local-use */
        {"64:ff9a::808:808", "reserved"},       /* byte 3 */
    };

    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_ipaddr a;
        const char *name;

        ASSERT_EQ(og_netaddr_parse(rows[i].addr, &a), OG_OK);
        name = og_netaddr_forbidden(&a);
        if (rows[i].range == NULL ? name != NULL : name == NULL || strcmp(name, rows[i].range) != 0)
            OG_FAIL_("%s: got range '%s', want '%s'", rows[i].addr, name ? name : "(none)",
                     rows[i].range ? rows[i].range : "(none)");
    }
}

OG_TEST_MAIN(OG_T(forbidden_ranges), OG_T(public_addresses), OG_T(site_local_is_forbidden),
             OG_T(nat64_prefix_edges), OG_T(parse_rejects_non_numeric), OG_T(cidr_match_table),
             OG_T(cidr_parse_errors), OG_T(format_round_trip))
