/*
 * netaddr.h - IP address and CIDR classification for the SSRF guard of the index fetcher.
 *
 * Pure: parses text and compares bytes, never opens a socket nor resolves a name. Every
 * address is held in the 16-byte IPv6 form; an IPv4 address is stored as its IPv4-mapped
 * IPv6 address (::ffff:a.b.c.d) with `v4` set, so that an IPv4 CIDR such as 127.0.0.0/8 is
 * the IPv6 prefix ::ffff:127.0.0.0/104 and matches both 127.0.0.1 and ::ffff:127.0.0.1.
 */
#ifndef OG_NETADDR_H
#define OG_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ocigate/err.h"

/** An IPv4 or IPv6 address. Value type; fields are set by the og_netaddr_* API only. */
struct og_ipaddr {
    uint8_t b[16]; /**< network byte order; IPv4 as ::ffff:a.b.c.d */
    bool v4;       /**< it was an IPv4 address (printed dotted) */
};

/** A CIDR block over the 16-byte form: an IPv4 /n is stored as the IPv6 /(96 + n). */
struct og_cidr {
    struct og_ipaddr addr; /**< host bits cleared */
    unsigned prefix;       /**< 0..128 on the 16-byte form */
};

/** The longest text og_netaddr_format() writes, NUL included (INET6_ADDRSTRLEN). */
#define OG_IPADDR_STRLEN 46

/** An IPv4 address from its 4 bytes in network order. */
void og_netaddr_from_v4(const uint8_t v4[4], struct og_ipaddr *out);

/** An IPv6 address from its 16 bytes in network order (`v4` stays false, even if mapped). */
void og_netaddr_from_v6(const uint8_t v6[16], struct og_ipaddr *out);

/**
 * Parses a numeric IPv4 ("10.0.0.1", dotted decimal with exactly four parts) or IPv6
 * ("fe80::1", "::ffff:10.0.0.1") address from the NUL-terminated `text`. OG_EPARSE for
 * anything else (names, brackets, zones, octal or hex forms); `*out` untouched then.
 */
OG_NODISCARD enum og_err og_netaddr_parse(const char *text, struct og_ipaddr *out);

/**
 * Parses "addr/prefix" ("10.0.0.0/8", "fc00::/7") or a bare address (a host route: /32 or
 * /128). Host bits set below the prefix ("10.1.2.3/8") are an error, as is a prefix longer
 * than the family allows or written with a sign, leading zeros or spaces. OG_EPARSE with a
 * message in `diag` (may be NULL); `*out` untouched on failure.
 */
OG_NODISCARD enum og_err og_netaddr_cidr_parse(const char *text, struct og_cidr *out,
                                               struct og_diag *diag);

/** True when `a` lies inside `cidr`. */
bool og_netaddr_cidr_match(const struct og_cidr *cidr, const struct og_ipaddr *a);

/**
 * Classifies `a` for the SSRF guard. Returns a static name of the forbidden range it falls
 * in ("loopback", "private", "link-local", ...) or NULL when it is a public unicast address
 * that may be fetched. IPv6 forms that embed an IPv4 address (IPv4-mapped ::ffff:0:0/96,
 * IPv4-translated ::ffff:0:0:0/96, IPv4-compatible ::/96, NAT64 64:ff9b::/96 and
 * 64:ff9b:1::/48, 6to4 2002::/16) are judged by the embedded IPv4 address as well.
 */
const char *og_netaddr_forbidden(const struct og_ipaddr *a);

/** True when og_netaddr_forbidden() names a range for `a`. */
bool og_netaddr_is_forbidden(const struct og_ipaddr *a);

/**
 * Writes `a` as text into `out` (`size` bytes, OG_IPADDR_STRLEN always suffice): dotted
 * quad when `v4`, else RFC 5952 IPv6. Always NUL-terminates when `size` > 0. Returns `out`.
 */
const char *og_netaddr_format(const struct og_ipaddr *a, char *out, size_t size);

#endif
