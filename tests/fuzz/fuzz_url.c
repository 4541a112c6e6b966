/*
 * fuzz_url.c - the url module on arbitrary bytes (the input is a view with no NUL after it).
 * Whatever parses normalizes; the normal form parses, has the same kind and normalizes to
 * itself; whatever does not parse does not normalize either. Chart bases, OCI bases and the
 * index.yaml join stay inside their input and keep their documented shape. Redacting changes
 * only the userinfo (or, for text that does not parse, what lies before an '@'), at most 5 bytes
 * longer, and a second time changes nothing.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ocigate/url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* True when `v` lies within `s` (an empty view anywhere counts). */
static bool inside(struct og_str v, struct og_str s)
{
    return v.len == 0 || (v.ptr >= s.ptr && v.ptr + v.len <= s.ptr + s.len);
}

static void check_normal_form(struct og_str s, enum og_url_kind kind)
{
    struct og_buf again;
    struct og_url u;

    if (og_url_parse(s, &u, NULL) != OG_OK || og_url_kind(s) != kind || u.fragment.ptr != NULL)
        abort();
    /* Scheme and host in lower case, no trailing '/', no default port. */
    for (size_t i = 0; i < u.scheme.len; i++) {
        if (u.scheme.ptr[i] >= 'A' && u.scheme.ptr[i] <= 'Z')
            abort();
    }
    for (size_t i = 0; i < u.host.len; i++) {
        if (u.host.ptr[i] >= 'A' && u.host.ptr[i] <= 'Z')
            abort();
    }
    if (u.path.len > 0 && u.path.ptr[u.path.len - 1] == '/')
        abort();
    if (u.port.ptr != NULL && u.port.len == 0)
        abort();
    og_buf_init(&again, s.len);
    if (og_url_normalize(s, &again, NULL) != OG_OK || !og_str_eq(og_buf_view(&again), s))
        abort();
    og_buf_cleanup(&again);
}

static void check_redacted(struct og_str s, enum og_err parsed, const struct og_url *u)
{
    struct og_buf shown, again;
    struct og_url r;

    og_buf_init(&shown, s.len + 5);
    og_buf_init(&again, s.len + 5);
    if (og_url_redact(s, &shown) != OG_OK || og_url_redact(og_buf_view(&shown), &again) != OG_OK)
        abort();
    /* Idempotent: what is shown may be shown again. */
    if (!og_str_eq(og_buf_view(&shown), og_buf_view(&again)))
        abort();
    /* Without an '@' there is nothing to hide; without userinfo neither. */
    if ((og_str_find_char(s, 0, '@') == s.len || (parsed == OG_OK && u->userinfo.ptr == NULL)) &&
        !og_str_eq(og_buf_view(&shown), s))
        abort();
    if (parsed == OG_OK && u->userinfo.len > 0) {
        /* The same url, the userinfo "xxxxx" or "<user>:xxxxx". */
        size_t colon = og_str_find_char(u->userinfo, 0, ':');
        struct og_str user = {u->userinfo.ptr, colon < u->userinfo.len ? colon + 1 : 0};

        if (og_url_parse(og_buf_view(&shown), &r, NULL) != OG_OK || !og_str_eq(r.host, u->host) ||
            !og_str_eq(r.port, u->port) || !og_str_eq(r.path, u->path) ||
            !og_str_eq(r.query, u->query) || !og_str_eq(r.fragment, u->fragment) ||
            r.userinfo.len != user.len + 5 || !og_str_has_prefix(r.userinfo, user, false) ||
            memcmp(r.userinfo.ptr + user.len, OG_URL_REDACTED, 5) != 0)
            abort();
    }
    og_buf_cleanup(&shown);
    og_buf_cleanup(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly `size` bytes, so that the sanitizer sees any read past the view. */
    char *copy = malloc(size > 0 ? size : 1);
    struct og_str s;
    struct og_url u;
    struct og_buf norm, join;
    struct og_url_chart chart;
    struct og_str base;
    enum og_err parsed, rc;

    if (copy == NULL)
        return 0;
    if (size > 0)
        memcpy(copy, data, size);
    s = (struct og_str){copy, size};
    og_buf_init(&norm, size);
    og_buf_init(&join, size + 16);

    parsed = og_url_parse(s, &u, NULL);
    rc = og_url_normalize(s, &norm, NULL);
    if ((parsed == OG_OK) != (rc == OG_OK) || (rc != OG_OK && rc != OG_EINVAL))
        abort();
    if (parsed != OG_OK && og_url_check_repo(s, NULL) == OG_OK)
        abort();
    check_redacted(s, parsed, &u);
    if (parsed == OG_OK) {
        if (!inside(u.scheme, s) || !inside(u.userinfo, s) || !inside(u.host, s) ||
            !inside(u.port, s) || !inside(u.path, s) || !inside(u.query, s) ||
            !inside(u.fragment, s) || u.host.len == 0 || u.kind != og_url_kind(s))
            abort();
        if (norm.len > size)
            abort();
        check_normal_form(og_buf_view(&norm), og_url_kind(s));
        /* What a configuration accepts, it accepts in its stored (normal) form too. */
        if (og_url_check_repo(s, NULL) == OG_OK &&
            og_url_check_repo(og_buf_view(&norm), NULL) != OG_OK)
            abort();
        if (og_url_kind_is_http(u.kind)) {
            struct og_buf key;

            og_buf_init(&key, size + 16);
            if (og_url_origin(&u, &key) != OG_OK)
                abort();
            og_buf_cleanup(&key);
        }
    }

    og_url_chart(s, &chart);
    if (!inside(chart.base, s))
        abort();
    if (chart.base.len > 0) {
        og_buf_reset(&norm);
        if (chart.kind != OG_URL_OCI || og_url_normalize(chart.base, &norm, NULL) != OG_OK)
            abort();
    }
    if (og_url_kind(s) == OG_URL_OCI) {
        base = og_url_oci_base(s);
        if (!inside(base, s) || base.len < 6)
            abort();
    }

    if (og_url_index_yaml(s, &join) != OG_OK || join.len < sizeof("/index.yaml") - 1)
        abort();
    if (og_url_host_valid(s) && og_str_find_char(s, 0, ':') < s.len) {
        /* A bare IPv6 address in an allow list matches the bracketed host of a url. */
        og_buf_reset(&join);
        if (og_buf_append_cstr(&join, "[") != OG_OK || og_buf_append_str(&join, s) != OG_OK ||
            og_buf_append_cstr(&join, "]") != OG_OK)
            abort();
        if (!og_url_host_eq(og_buf_view(&join), s) || !og_url_host_eq(s, og_buf_view(&join)))
            abort();
    }
    og_buf_cleanup(&norm);
    og_buf_cleanup(&join);
    free(copy);
    return 0;
}
