/*
 * fuzz_netaddr.c - the SSRF guard's address and CIDR parsers on arbitrary bytes. Whatever
 * parses must format back to text that parses to the same address; a parsed CIDR must
 * contain its own network address; the classifier must give the same answer for an
 * IPv4 address and its IPv4-mapped IPv6 form.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[128], back[OG_IPADDR_STRLEN];
    struct og_ipaddr a, b;
    struct og_cidr c;

    if (size >= sizeof(text))
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (og_netaddr_parse(text, &a) == OG_OK) {
        og_netaddr_format(&a, back, sizeof(back));
        if (og_netaddr_parse(back, &b) != OG_OK || memcmp(a.b, b.b, 16) != 0 || a.v4 != b.v4)
            abort();
        if (a.v4) {
            /* The same address as an IPv6 ::ffff:a.b.c.d is judged alike. */
            og_netaddr_from_v6(a.b, &b);
            if (og_netaddr_is_forbidden(&a) != og_netaddr_is_forbidden(&b))
                abort();
        }
    }
    if (og_netaddr_cidr_parse(text, &c, NULL) == OG_OK) {
        if (c.prefix > 128 || !og_netaddr_cidr_match(&c, &c.addr))
            abort();
    }
    return 0;
}
