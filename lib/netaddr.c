#include "ocigate/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The IPv4-mapped prefix ::ffff:0:0/96, under which IPv4 addresses are stored. */
static const uint8_t mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

struct range {
    uint8_t b[16];
    unsigned prefix; /* on the 4-byte form for the IPv4 table, 16-byte form for IPv6 */
    const char *name;
};

/*
 * IPv4 ranges that an index fetch must never reach (IANA special-purpose registry, RFC 6890
 * and successors). Broadcast comes before 240/4 so that it gets its own name.
 */
static const struct range v4_ranges[] = {
    {{0, 0, 0, 0}, 8, "unspecified"},
    {{10, 0, 0, 0}, 8, "private"},
    {{100, 64, 0, 0}, 10, "shared (CGNAT)"},
    {{127, 0, 0, 0}, 8, "loopback"},
    {{169, 254, 0, 0}, 16, "link-local"},
    {{172, 16, 0, 0}, 12, "private"},
    {{192, 0, 0, 0}, 24, "IETF protocol assignments"},
    {{192, 0, 2, 0}, 24, "documentation"},
    {{192, 88, 99, 0}, 24, "6to4 relay anycast"},
    {{192, 168, 0, 0}, 16, "private"},
    {{198, 18, 0, 0}, 15, "benchmarking"},
    {{198, 51, 100, 0}, 24, "documentation"},
    {{203, 0, 113, 0}, 24, "documentation"},
    {{224, 0, 0, 0}, 4, "multicast"},
    {{255, 255, 255, 255}, 32, "broadcast"},
    {{240, 0, 0, 0}, 4, "reserved"},
};

/* IPv6 ranges; the forms that embed an IPv4 address are handled before this table. */
static const struct range v6_ranges[] = {
    {{0}, 128, "unspecified"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, "loopback"},
    {{0}, 96, "IPv4-compatible"},
    {{0x00, 0x64, 0xff, 0x9b, 0x00, 0x01}, 48, "NAT64 local-use"},
    {{0}, 8, "reserved"},
    {{0x01, 0x00}, 64, "discard-only"},
    {{0x20, 0x01, 0x00, 0x00}, 32, "Teredo"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, "documentation"},
    {{0xfc, 0x00}, 7, "unique local"},
    {{0xfe, 0x80}, 10, "link-local"},
    {{0xfe, 0xc0}, 10, "site-local"},
    {{0xff, 0x00}, 8, "multicast"},
};

/* True when the first `prefix` bits of `a` and `b` agree. */
static bool prefix_eq(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
    unsigned whole = prefix / 8, rest = prefix % 8;

    if (memcmp(a, b, whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

void og_netaddr_from_v4(const uint8_t v4[4], struct og_ipaddr *out)
{
    memcpy(out->b, mapped_prefix, sizeof(mapped_prefix));
    memcpy(out->b + 12, v4, 4);
    out->v4 = true;
}

void og_netaddr_from_v6(const uint8_t v6[16], struct og_ipaddr *out)
{
    memcpy(out->b, v6, 16);
    out->v4 = false;
}

enum og_err og_netaddr_parse(const char *text, struct og_ipaddr *out)
{
    uint8_t bytes[16];

    /* inet_pton() is a pure parser: AF_INET takes exactly dotted decimal a.b.c.d. */
    if (inet_pton(AF_INET, text, bytes) == 1) {
        og_netaddr_from_v4(bytes, out);
        return OG_OK;
    }
    if (inet_pton(AF_INET6, text, bytes) == 1) {
        og_netaddr_from_v6(bytes, out);
        return OG_OK;
    }
    return OG_EPARSE;
}

enum og_err og_netaddr_cidr_parse(const char *text, struct og_cidr *out, struct og_diag *diag)
{
    char addr_text[OG_IPADDR_STRLEN], fixed[OG_IPADDR_STRLEN];
    const char *slash = strchr(text, '/');
    size_t addr_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
    struct og_cidr c;
    unsigned max_prefix;

    /* The messages are the configuration file's (index.allowCIDRs goes through here). */
    if (addr_len == 0 || addr_len >= sizeof(addr_text))
        return og_diag_set(diag, OG_EPARSE,
                           "invalid CIDR \"%.64s\" (expected address/prefix, e.g. 10.0.0.0/8)",
                           text);
    memcpy(addr_text, text, addr_len);
    addr_text[addr_len] = '\0';
    if (og_netaddr_parse(addr_text, &c.addr) != OG_OK)
        return og_diag_set(diag, OG_EPARSE,
                           "invalid CIDR \"%.64s\" (\"%s\" is not an IPv4 or IPv6 address)", text,
                           addr_text);
    max_prefix = c.addr.v4 ? 32 : 128;
    c.prefix = max_prefix;
    if (slash != NULL) {
        const char *p = slash + 1;
        char *end = NULL;
        unsigned long n;

        /* Digits only: strtoul() alone would accept a sign and leading spaces. */
        if (*p < '0' || *p > '9' || (p[0] == '0' && p[1] != '\0'))
            return og_diag_set(diag, OG_EPARSE, "invalid CIDR \"%.64s\" (bad prefix length)", text);
        errno = 0;
        n = strtoul(p, &end, 10);
        if (errno == 0 && *end != '\0')
            return og_diag_set(diag, OG_EPARSE, "invalid CIDR \"%.64s\" (bad prefix length)", text);
        if (errno != 0 || n > max_prefix)
            return og_diag_set(diag, OG_EPARSE, "invalid CIDR \"%.64s\" (prefix length over %u)",
                               text, max_prefix);
        c.prefix = (unsigned)n;
    }
    if (c.addr.v4)
        c.prefix += 96;
    for (unsigned bit = c.prefix; bit < 128; bit++) {
        if (c.addr.b[bit / 8] & (0x80 >> (bit % 8))) {
            for (unsigned b = c.prefix; b < 128; b++)
                c.addr.b[b / 8] &= (uint8_t) ~(0x80u >> (b % 8));
            return og_diag_set(diag, OG_EPARSE,
                               "invalid CIDR \"%.64s\" (host bits set; did you mean %s/%u?)", text,
                               og_netaddr_format(&c.addr, fixed, sizeof(fixed)),
                               c.prefix - (c.addr.v4 ? 96 : 0));
        }
    }
    *out = c;
    return OG_OK;
}

bool og_netaddr_cidr_match(const struct og_cidr *cidr, const struct og_ipaddr *a)
{
    return prefix_eq(cidr->addr.b, a->b, cidr->prefix);
}

static const char *classify_v4(const uint8_t v4[4])
{
    for (size_t i = 0; i < sizeof(v4_ranges) / sizeof(v4_ranges[0]); i++) {
        if (prefix_eq(v4, v4_ranges[i].b, v4_ranges[i].prefix))
            return v4_ranges[i].name;
    }
    return NULL;
}

const char *og_netaddr_forbidden(const struct og_ipaddr *a)
{
    static const uint8_t translated[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    static const uint8_t six_to_four[2] = {0x20, 0x02};
    const char *name;

    /* IPv4 proper, IPv4-mapped, IPv4-translated (SIIT) and NAT64 carry it in the last 4. */
    if (memcmp(a->b, mapped_prefix, 12) == 0 || memcmp(a->b, translated, 12) == 0 ||
        memcmp(a->b, nat64, 12) == 0) {
        name = classify_v4(a->b + 12);
        if (name != NULL)
            return name;
        return NULL;
    }
    /* 6to4 carries it in bytes 2..5; the relay would deliver to that IPv4 host. */
    if (memcmp(a->b, six_to_four, 2) == 0) {
        name = classify_v4(a->b + 2);
        if (name != NULL)
            return name;
    }
    for (size_t i = 0; i < sizeof(v6_ranges) / sizeof(v6_ranges[0]); i++) {
        if (prefix_eq(a->b, v6_ranges[i].b, v6_ranges[i].prefix))
            return v6_ranges[i].name;
    }
    return NULL;
}

bool og_netaddr_is_forbidden(const struct og_ipaddr *a)
{
    return og_netaddr_forbidden(a) != NULL;
}

const char *og_netaddr_format(const struct og_ipaddr *a, char *out, size_t size)
{
    char text[OG_IPADDR_STRLEN];
    const char *ok;

    if (size == 0)
        return out;
    if (a->v4)
        ok = inet_ntop(AF_INET, a->b + 12, text, sizeof(text));
    else
        ok = inet_ntop(AF_INET6, a->b, text, sizeof(text));
    if (ok == NULL)
        text[0] = '\0';
    size_t len = strlen(text);
    if (len >= size)
        len = size - 1;
    memcpy(out, text, len);
    out[len] = '\0';
    return out;
}
