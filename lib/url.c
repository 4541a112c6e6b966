/*
 * url.c - split, normalize and classify urls; OCI bases; the index.yaml join.
 */
#include "ocigate/url.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* The longest IPv6 address in text (INET6_ADDRSTRLEN without the NUL). */
#define IPV6_TEXT_MAX 45
/* The longest DNS name (RFC 1035, without the trailing dot). */
#define HOST_NAME_MAX_LEN 253

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether `c` is in the set of ASCII bytes whose bits are set in `lo` (0-63) and `hi` (64-127). */
static bool in_ascii_set(char c, uint64_t lo, uint64_t hi)
{
    unsigned char u = (unsigned char)c;

    if (u < 64)
        return (lo >> u) & 1u;
    return u < 128 && ((hi >> (u - 64)) & 1u);
}

/*
 * RFC 3986 unreserved, '%' (of a percent-encoding) and sub-delims: a reg-name's bytes,
 * "-.0-9A-Z_a-z~%!$&'()*+,;=". One test per byte.
 */
static bool is_name_char(char c)
{
    return in_ascii_set(c, 0x2bff7ff200000000u, 0x47fffffe87fffffeu);
}

static bool is_ctl_or_space(char c)
{
    return (unsigned char)c <= 0x20 || c == 0x7f;
}

/*
 * True for the bytes og_url_parse() looks at: controls and space, DEL, and "#/?@". Every other
 * byte just goes by.
 */
static bool is_url_special(char c)
{
    return in_ascii_set(c, 0x80008009ffffffffu, 0x8000000000000001u);
}

#if defined(__SSE2__)
/* is_url_special() of the 16 bytes at `p`, one bit each (bit i for byte i). */
static inline unsigned url_special_mask16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    const __m128i space = _mm_set1_epi8(0x20);
    /* An unsigned byte is <= 0x20 exactly when its maximum with 0x20 is 0x20. */
    __m128i m = _mm_cmpeq_epi8(_mm_max_epu8(v, space), space);

    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(0x7f)));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('#')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('/'))));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('?')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('@'))));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/*
 * The first byte at or after `i` of the `len` at `p` that og_url_parse() looks at
 * (is_url_special()), or `len`: 16 bytes per step, the last step over the last 16 bytes again
 * (never reading past `len`), and a byte at a time for a text under 16 bytes.
 */
static inline size_t next_special(const char *p, size_t len, size_t i)
{
#if defined(__SSE2__)
    if (len >= 16) {
        unsigned m;

        for (; i + 16 <= len; i += 16) {
            m = url_special_mask16(p + i);
            if (m != 0)
                return i + (size_t)__builtin_ctz(m);
        }
        if (i >= len)
            return len;
        /* Bit k stands for byte len - 16 + k; the bytes before `i` were looked at. */
        m = url_special_mask16(p + len - 16) >> (i - (len - 16));
        return m != 0 ? i + (size_t)__builtin_ctz(m) : len;
    }
#endif
    while (i < len && !is_url_special(p[i]))
        i++;
    return i;
}

#if defined(__SSE2__)
/* 0xff in each byte of `v` that lies in lo..hi (unsigned). */
static inline __m128i in_range(__m128i v, char lo, char hi)
{
    __m128i d = _mm_sub_epi8(v, _mm_set1_epi8(lo));

    return _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8((char)(hi - lo))), d);
}

/* is_name_char() of the 16 bytes at `p`, one bit each (bit i for byte i). */
static inline unsigned url_name_mask16(const char *p)
{
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* Letters: either case, once 0x20 is set. */
    __m128i m = in_range(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 'z');

    m = _mm_or_si128(m, in_range(v, '$', '.')); /* $%&'()*+,-. */
    m = _mm_or_si128(m, in_range(v, '0', '9'));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('!')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8(';'))));
    m = _mm_or_si128(m, _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('=')),
                                     _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))));
    m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('~')));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/*
 * Length of the run of is_name_char() bytes at the start of the `len` at `p`: 16 bytes per
 * step, the last step over the last 16 bytes again (never reading past `len`), and a byte at a
 * time for a text under 16 bytes.
 */
static size_t name_run(const char *p, size_t len)
{
    size_t i = 0;

#if defined(__SSE2__)
    if (len >= 16) {
        unsigned m;

        for (; i + 16 <= len; i += 16) {
            m = ~url_name_mask16(p + i) & 0xffffu;
            if (m != 0)
                return i + (size_t)__builtin_ctz(m);
        }
        if (i >= len)
            return len;
        /* Bit k stands for byte len - 16 + k; the bytes before `i` were looked at. */
        m = (~url_name_mask16(p + len - 16) & 0xffffu) >> (i - (len - 16));
        return m != 0 ? i + (size_t)__builtin_ctz(m) : len;
    }
#endif
    while (i < len && is_name_char(p[i]))
        i++;
    return i;
}

/* Length of "scheme" when `text` starts with "scheme://", else 0. */
static size_t scheme_len(struct og_str text)
{
    size_t i = 0;

    if (text.len == 0 || !is_alpha(text.ptr[0]))
        return 0;
    while (i < text.len && (is_alpha(text.ptr[i]) || is_digit(text.ptr[i]) || text.ptr[i] == '+' ||
                            text.ptr[i] == '-' || text.ptr[i] == '.'))
        i++;
    if (text.len - i < 3 || memcmp(text.ptr + i, "://", 3) != 0)
        return 0;
    return i;
}

struct og_str og_url_scheme(struct og_str text)
{
    return (struct og_str){text.ptr, scheme_len(text)};
}

/* The kind of the scheme of `len` (> 0) bytes at `p`: the ones ocigate knows are 3 to 5 bytes
 * long, compared in lower case at once. */
static enum og_url_kind scheme_kind(const char *p, size_t len)
{
    char s[5];

    if (len < 3 || len > 5)
        return OG_URL_OTHER;
    for (size_t i = 0; i < len; i++)
        s[i] = og_ascii_lower(p[i]);
    if (len == 4 && memcmp(s, "http", 4) == 0)
        return OG_URL_HTTP;
    if (len == 5 && memcmp(s, "https", 5) == 0)
        return OG_URL_HTTPS;
    if (len == 3 && memcmp(s, "oci", 3) == 0)
        return OG_URL_OCI;
    return OG_URL_OTHER;
}

enum og_url_kind og_url_kind(struct og_str text)
{
    size_t len = scheme_len(text);

    return len == 0 ? OG_URL_NONE : scheme_kind(text.ptr, len);
}

bool og_url_kind_is_http(enum og_url_kind kind)
{
    return kind == OG_URL_HTTP || kind == OG_URL_HTTPS;
}

static bool is_ipv6(struct og_str s)
{
    char text[IPV6_TEXT_MAX + 1];
    unsigned char addr[16];

    if (s.len == 0 || s.len > IPV6_TEXT_MAX)
        return false;
    memcpy(text, s.ptr, s.len);
    text[s.len] = '\0';
    return inet_pton(AF_INET6, text, addr) == 1;
}

/* The digits of a port without its leading zeros ("0" for a port of zeros): its number. */
static struct og_str port_value(struct og_str port)
{
    while (port.len > 1 && port.ptr[0] == '0') {
        port.ptr++;
        port.len--;
    }
    return port;
}

/* Reads the host and port of `hp` (the authority after any userinfo) into `u`. */
static enum og_err parse_host_port(struct og_str hp, struct og_url *u, struct og_diag *diag)
{
    size_t colon;

    if (hp.len > 0 && hp.ptr[0] == '[') {
        size_t close = og_str_find_char(hp, 1, ']');

        if (close == hp.len)
            return og_diag_set(diag, OG_EINVAL, "has an unclosed '[' in its host");
        if (!is_ipv6((struct og_str){hp.ptr + 1, close - 1}))
            return og_diag_set(diag, OG_EINVAL, "has an invalid IPv6 address");
        u->host = (struct og_str){hp.ptr, close + 1};
        if (close + 1 < hp.len && hp.ptr[close + 1] != ':')
            return og_diag_set(diag, OG_EINVAL, "has an invalid host");
        colon = close + 1;
    } else {
        /* The host is a run of name bytes up to the first ':' (or the end): a byte of
         * another kind before it is an invalid host, even where no ':' follows. */
        colon = name_run(hp.ptr, hp.len);
        if (colon < hp.len && hp.ptr[colon] != ':')
            return og_diag_set(diag, OG_EINVAL, "has an invalid host");
        u->host = (struct og_str){hp.ptr, colon};
        if (colon == 0)
            return og_diag_set(diag, OG_EINVAL, "has no host");
    }
    if (colon < hp.len) {
        struct og_str port = og_str_from(hp, colon + 1);
        unsigned long v = 0;

        /* og_str_from gives a NULL ptr for "h:"; an empty port is still a written one. */
        u->port = (struct og_str){hp.ptr + colon + 1, port.len};
        for (size_t i = 0; i < port.len; i++) {
            if (!is_digit(port.ptr[i]))
                return og_diag_set(diag, OG_EINVAL, "has an invalid port");
        }
        /* Leading zeros do not count (Go's url.Parse and dialer take "000443" as 443). */
        port = port_value(port);
        if (port.len > 5)
            return og_diag_set(diag, OG_EINVAL, "has an invalid port");
        for (size_t i = 0; i < port.len; i++)
            v = v * 10 + (unsigned long)(port.ptr[i] - '0');
        if (v > 65535)
            return og_diag_set(diag, OG_EINVAL, "has an invalid port");
    }
    return OG_OK;
}

enum og_err og_url_parse(struct og_str text, struct og_url *out, struct og_diag *diag)
{
    struct og_url u;
    size_t slen = scheme_len(text), auth, auth_end, at = SIZE_MAX, query = SIZE_MAX;
    size_t frag = text.len, i;
    enum og_err rc;

    if (slen == 0)
        return og_diag_set(diag, OG_EINVAL, "has no scheme (expected scheme://host)");
    /* One pass finds the delimiters and refuses whitespace and controls anywhere (before any
     * other complaint, so that the message does not depend on where they are). */
    auth = slen + 3;
    for (i = next_special(text.ptr, text.len, auth); i < text.len;
         i = next_special(text.ptr, text.len, i + 1)) {
        char c = text.ptr[i];

        if (c == '/' || c == '?' || c == '#')
            break;
        if (c == '@')
            at = i; /* the last '@' ends the userinfo, as libcurl and Go split it */
        else if (is_ctl_or_space(c))
            return og_diag_set(diag, OG_EINVAL, "contains whitespace or control characters");
    }
    auth_end = i;
    for (; i < text.len; i = next_special(text.ptr, text.len, i + 1)) {
        char c = text.ptr[i];

        if (c == '?' && query == SIZE_MAX && frag == text.len)
            query = i;
        else if (c == '#' && frag == text.len)
            frag = i;
        else if (is_ctl_or_space(c))
            return og_diag_set(diag, OG_EINVAL, "contains whitespace or control characters");
    }
    memset(&u, 0, sizeof(u));
    u.kind = scheme_kind(text.ptr, slen);
    u.scheme = (struct og_str){text.ptr, slen};
    if (at != SIZE_MAX) {
        u.userinfo = (struct og_str){text.ptr + auth, at - auth};
        for (size_t k = 0; k < u.userinfo.len; k++) {
            if (!is_name_char(u.userinfo.ptr[k]) && u.userinfo.ptr[k] != ':')
                return og_diag_set(diag, OG_EINVAL, "has an invalid userinfo");
        }
        auth = at + 1;
    }
    rc = parse_host_port((struct og_str){text.ptr + auth, auth_end - auth}, &u, diag);
    if (rc != OG_OK)
        return rc;
    u.path = (struct og_str){text.ptr + auth_end, (query < frag ? query : frag) - auth_end};
    if (query != SIZE_MAX)
        u.query = (struct og_str){text.ptr + query + 1, frag - query - 1};
    if (frag < text.len)
        u.fragment = (struct og_str){text.ptr + frag + 1, text.len - frag - 1};
    *out = u;
    return OG_OK;
}

static bool is_repo_char(char c)
{
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '.' || c == '_' || c == '-';
}

enum og_err og_url_check_repo(struct og_str text, struct og_diag *diag)
{
    struct og_url u;
    struct og_str path;
    enum og_err rc = og_url_parse(text, &u, diag);

    if (rc != OG_OK)
        return rc;
    if (u.userinfo.ptr != NULL)
        return og_diag_set(diag, OG_EINVAL, "must not hold credentials");
    if (u.kind == OG_URL_OCI && !og_url_host_valid(u.host))
        return og_diag_set(diag, OG_EINVAL, "has an invalid host");
    if (u.query.ptr != NULL || u.fragment.ptr != NULL)
        return og_diag_set(diag, OG_EINVAL, "must not have a query or fragment");
    if (u.kind != OG_URL_OCI)
        return OG_OK;
    path = u.path;
    while (path.len > 0 && path.ptr[path.len - 1] == '/')
        path.len--;
    if (path.len == 0)
        return og_diag_set(diag, OG_EINVAL, "has no repository path (expected oci://host/path)");
    for (size_t i = 1; i < path.len; i++) {
        if (path.ptr[i] == ':' || path.ptr[i] == '@')
            return og_diag_set(diag, OG_EINVAL, "must not have a tag or digest");
        if (path.ptr[i] == '/' && path.ptr[i - 1] == '/')
            return og_diag_set(diag, OG_EINVAL, "has an empty path segment");
        if (path.ptr[i] != '/' && !is_repo_char(path.ptr[i]))
            return og_diag_set(diag, OG_EINVAL,
                               "has a repository path that is not lower case (a-z, 0-9, '.', "
                               "'_', '-', '/')");
    }
    return OG_OK;
}

/* The port to write, as its number: none when it is empty or the scheme's default. */
static struct og_str port_to_keep(const struct og_url *u)
{
    struct og_str port = port_value(u->port);

    if (port.len == 0 || (u->kind == OG_URL_HTTP && og_str_eq(port, OG_STR_LIT("80"))) ||
        (u->kind == OG_URL_HTTPS && og_str_eq(port, OG_STR_LIT("443"))))
        return OG_STR_NULL;
    return port;
}

/*
 * `w` with each byte in 'A'..'Z' in lower case (eight at once): a byte's top bit, once the byte
 * without it has 0x80 - 'A' added, tells that it is >= 'A', and likewise for > 'Z'; only bytes
 * below 0x80 count.
 */
static inline uint64_t lower8(uint64_t w)
{
    const uint64_t top = 0x8080808080808080ull, seven = 0x7f7f7f7f7f7f7f7full;
    uint64_t h = w & seven;
    uint64_t ge_a = h + (0x80 - 'A') * 0x0101010101010101ull;
    uint64_t gt_z = h + (0x80 - 'Z' - 1) * 0x0101010101010101ull;

    return w | ((ge_a & ~gt_z & ~w & top) >> 2);
}

/* lower8() of `n` (4 to 8) bytes from `s` to `o`: two words that overlap where n < 8. */
static inline void lower_short(char *o, const char *s, size_t n)
{
    if (n == 8) {
        uint64_t w;

        memcpy(&w, s, 8);
        w = lower8(w);
        memcpy(o, &w, 8);
    } else {
        uint32_t a, b;

        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        a = (uint32_t)lower8(a);
        b = (uint32_t)lower8(b);
        memcpy(o, &a, 4);
        memcpy(o + n - 4, &b, 4);
    }
}

/* Appends `s` in ASCII lower case; the caller has reserved the room. */
static void put_lower(struct og_buf *out, struct og_str s)
{
    char *o = out->ptr + out->len;
    size_t i = 0;

    if (s.len >= 4) {
        for (; i + 8 <= s.len; i += 8)
            lower_short(o + i, s.ptr + i, 8);
        /* The rest as the last bytes of a word, which may go over bytes done already. */
        if (i < s.len)
            lower_short(o + s.len - (s.len >= 8 ? 8 : s.len),
                        s.ptr + s.len - (s.len >= 8 ? 8 : s.len), s.len >= 8 ? 8 : s.len);
    } else {
        for (; i < s.len; i++)
            o[i] = og_ascii_lower(s.ptr[i]);
    }
    out->len += s.len;
    out->ptr[out->len] = '\0';
}

/* Appends `s` as it is; the caller has reserved the room. */
static void put(struct og_buf *out, struct og_str s)
{
    if (s.len > 0)
        memcpy(out->ptr + out->len, s.ptr, s.len);
    out->len += s.len;
    out->ptr[out->len] = '\0';
}

/*
 * Appends the rooted path `path` cleaned as Go's path.Clean() does, which Flux applies when it
 * joins index.yaml (path.Join): runs of '/' count as one, "." segments go, and ".." takes the
 * segment before it away (never going above the root). No trailing '/' is written, and an
 * empty result stays empty. Never longer than `path`: the caller has reserved that much.
 */
static void put_clean_path(struct og_buf *out, struct og_str path)
{
    size_t start = out->len, i = 0;

    /* Nothing to clean, the usual path ("/a/b", no trailing '/'): no empty segment and none
     * that starts with '.' (some that do are kept, but they go the long way). */
    if (path.len > 0 && path.ptr[0] == '/' && path.ptr[path.len - 1] != '/') {
        bool clean = true;

        for (size_t k = 0; k + 1 < path.len; k++)
            clean &= !(path.ptr[k] == '/' && (path.ptr[k + 1] == '/' || path.ptr[k + 1] == '.'));
        if (clean) {
            put(out, path);
            return;
        }
    }

    while (i < path.len) {
        size_t end = og_str_find_char(path, i, '/');
        struct og_str seg = {path.ptr + i, end - i};

        i = end + 1;
        if (seg.len == 0 || og_str_eq(seg, OG_STR_LIT(".")))
            continue;
        if (og_str_eq(seg, OG_STR_LIT(".."))) {
            while (out->len > start && out->ptr[out->len - 1] != '/')
                out->len--;
            if (out->len > start)
                out->len--;
            continue;
        }
        out->ptr[out->len++] = '/';
        memcpy(out->ptr + out->len, seg.ptr, seg.len);
        out->len += seg.len;
    }
    out->ptr[out->len] = '\0';
}

enum og_err og_url_normalize(struct og_str text, struct og_buf *out, struct og_diag *diag)
{
    struct og_url u;
    struct og_str port, path;
    enum og_err rc = og_url_parse(text, &u, diag);

    if (rc != OG_OK)
        return rc;
    port = port_to_keep(&u);
    path = u.path;
    while (path.len > 0 && path.ptr[path.len - 1] == '/')
        path.len--;
    /* Everything reserved at once, so that `out` is either complete or untouched (a cleaned
     * path is never longer than the path). */
    rc = og_buf_reserve(out, text.len);
    if (rc != OG_OK)
        return rc;
    put_lower(out, u.scheme);
    put(out, OG_STR_LIT("://"));
    if (u.userinfo.ptr != NULL) {
        put(out, u.userinfo);
        put(out, OG_STR_LIT("@"));
    }
    put_lower(out, u.host);
    if (port.len > 0) {
        put(out, OG_STR_LIT(":"));
        put(out, port);
    }
    if (og_url_kind_is_http(u.kind))
        put_clean_path(out, path);
    else
        put(out, path);
    if (u.query.ptr != NULL) {
        put(out, OG_STR_LIT("?"));
        put(out, u.query);
    }
    return OG_OK;
}

bool og_url_same_repo(struct og_str a, struct og_str b)
{
    a = og_str_from(a, og_str_find_char(a, 0, ':'));
    b = og_str_from(b, og_str_find_char(b, 0, ':'));
    return og_str_eq(a, b);
}

enum og_err og_url_origin(const struct og_url *u, struct og_buf *out)
{
    struct og_str port = port_value(u->port);
    enum og_err rc;

    if (!og_url_kind_is_http(u->kind))
        return OG_EINVAL;
    if (port.len == 0)
        port = u->kind == OG_URL_HTTP ? OG_STR_LIT("80") : OG_STR_LIT("443");
    rc = og_buf_reserve(out, u->scheme.len + 3 + u->host.len + 1 + port.len);
    if (rc != OG_OK)
        return rc;
    put_lower(out, u->scheme);
    put(out, OG_STR_LIT("://"));
    put_lower(out, u->host);
    put(out, OG_STR_LIT(":"));
    put(out, port);
    return OG_OK;
}

/*
 * The part of `text` that og_url_redact() hides, as offsets [*from, *to); false when there is
 * none. A parsed userinfo keeps its user name when a ':' follows it; text that does not parse
 * hides all it may hold before an '@' (see url.h).
 */
static bool secret_span(struct og_str text, size_t *from, size_t *to)
{
    struct og_url u;
    size_t start, colon, at, end;

    /* Both ways below hide only what comes before an '@': without one there is nothing to
     * hide, and no need to parse (the usual url, redacted for every message). */
    if (og_str_find_char(text, 0, '@') == text.len)
        return false;
    start = scheme_len(text);
    if (og_url_parse(text, &u, NULL) == OG_OK) {
        if (u.userinfo.len == 0)
            return false; /* no userinfo, or an empty one ("https://@h"): nothing to hide */
        start = (size_t)(u.userinfo.ptr - text.ptr);
        colon = og_str_find_char(u.userinfo, 0, ':');
        *from = colon < u.userinfo.len ? start + colon + 1 : start;
        *to = start + u.userinfo.len;
        return true;
    }
    if (start > 0)
        start += 3;
    end = start;
    while (end < text.len && text.ptr[end] != '/' && text.ptr[end] != '?' && text.ptr[end] != '#')
        end++;
    at = og_str_rfind_char((struct og_str){text.ptr + start, end - start}, '@');
    if (at == end - start)
        at = og_str_rfind_char(og_str_from(text, start), '@');
    if (at == text.len - start)
        return false;
    *from = start;
    *to = start + at;
    return true;
}

enum og_err og_url_redact(struct og_str text, struct og_buf *out)
{
    const struct og_str mask = OG_STR_LIT(OG_URL_REDACTED);
    size_t from, to;
    enum og_err rc;

    if (!secret_span(text, &from, &to))
        return og_buf_append_str(out, text);
    /* Reserved at once, so that `out` is either complete or untouched. */
    rc = og_buf_reserve(out, text.len - (to - from) + mask.len);
    if (rc != OG_OK)
        return rc;
    put(out, (struct og_str){text.ptr, from});
    put(out, mask);
    put(out, og_str_from(text, to));
    return OG_OK;
}

struct og_str og_url_oci_base(struct og_str url)
{
    size_t slash, host_start = scheme_len(url) + 3, host_end;
    struct og_str last;

    while (url.len > host_start && url.ptr[url.len - 1] == '/')
        url.len--;
    host_end = og_str_find_char(url, host_start, '/');
    slash = og_str_rfind_char(url, '/');
    if (slash < url.len && slash >= host_end) {
        last = og_str_from(url, slash + 1);
        if (og_str_find_char(last, 0, ':') < last.len ||
            og_str_find_char(last, 0, '@') < last.len ||
            og_str_has_suffix(last, OG_STR_LIT(".tgz")))
            url.len = slash;
    }
    return url;
}

enum og_err og_url_index_yaml(struct og_str base, struct og_buf *out)
{
    static const char file[] = "/index.yaml";
    size_t frag = og_str_find_char(base, 0, '#');
    size_t path_end = og_str_find_char(base, 0, '?');
    struct og_str query;
    size_t len;
    enum og_err rc;

    if (path_end > frag)
        path_end = frag;
    query = (struct og_str){base.ptr + path_end, frag - path_end};
    len = path_end;
    if (scheme_len(base) > 0) {
        /* The authority ends at the first '/' after "scheme://"; the path is cleaned as
         * path.Join does it ("http://" keeps its "//" and stays a url without a host). */
        struct og_str head = {base.ptr, path_end};

        len = og_str_find_char(head, scheme_len(base) + 3, '/');
    } else {
        while (len > 0 && base.ptr[len - 1] == '/')
            len--;
    }
    /* Reserved at once, so that the appends below cannot fail half way. */
    rc = og_buf_reserve(out, path_end + sizeof(file) - 1 + query.len);
    if (rc != OG_OK)
        return rc;
    put(out, (struct og_str){base.ptr, len});
    put_clean_path(out, (struct og_str){base.ptr + len, path_end - len});
    put(out, (struct og_str){file, sizeof(file) - 1});
    put(out, query);
    return OG_OK;
}

/* Offset of the first "/oci://" in `s` (ASCII case ignored), or s.len. */
static size_t find_embedded_oci(struct og_str s)
{
    for (size_t i = 0; i < s.len; i++) {
        if (s.ptr[i] == '/' && og_str_has_prefix(og_str_from(s, i), OG_STR_LIT("/oci://"), true))
            return i;
    }
    return s.len;
}

/* `s` up to its query or fragment. */
static struct og_str before_query(struct og_str s)
{
    size_t q = og_str_find_char(s, 0, '?'), h = og_str_find_char(s, 0, '#');

    s.len = q < h ? q : h;
    return s;
}

/*
 * True when `base` ("oci://host/path") may become a HelmRepository url: it parses, has no
 * userinfo, and holds ASCII letters, digits and "-._~/:%" only ('[' and ']' around an IPv6
 * host). Whatever else an index holds (spaces, quotes, controls, credentials) must never
 * reach a patch.
 */
static bool base_is_clean(struct og_str base)
{
    struct og_url u;

    if (og_url_parse(base, &u, NULL) != OG_OK || u.userinfo.ptr != NULL)
        return false;
    for (size_t i = u.scheme.len + 3; i < base.len; i++) {
        char c = base.ptr[i];

        if (is_alpha(c) || is_digit(c) || strchr("-._~/:%[]", c) != NULL)
            continue;
        return false;
    }
    return true;
}

void og_url_chart(struct og_str url, struct og_url_chart *out)
{
    static const size_t prefix = sizeof("oci://") - 1;
    struct og_str s = og_str_trim(url), oci, ref, last;
    size_t slash, host_end, at, colon;

    out->kind = og_url_kind(s);
    out->malformed = false;
    out->base = OG_STR_NULL;
    if (out->kind == OG_URL_OCI) {
        oci = s;
    } else if (og_url_kind_is_http(out->kind)) {
        /* An Artifactory-style proxy url embeds the OCI reference it stands for; a client
         * ends up pulling that reference, so it decides both the kind and the base. */
        /* Only in the path: "?from=/oci://..." in a query is not where the chart comes from. */
        struct og_str path = before_query(s);
        size_t pos = find_embedded_oci(path);

        if (pos == path.len)
            return;
        oci = og_str_from(s, pos + 1);
        out->kind = OG_URL_OCI;
    } else {
        return;
    }
    oci = before_query(oci);
    ref = og_str_from(oci, prefix);
    host_end = og_str_find_char(ref, 0, '/');
    slash = og_str_rfind_char(ref, '/');
    if (ref.len == 0 || host_end == 0 || slash == ref.len) {
        /* "oci://", "oci:///x" or "oci://host": no repository path to derive a base from. */
        out->malformed = true;
        return;
    }
    out->base = (struct og_str){oci.ptr, prefix + slash};
    if (!base_is_clean(out->base)) {
        /* Credentials, spaces, quotes or controls: not a url to write into anyone's object. */
        out->base = OG_STR_NULL;
        out->malformed = true;
        return;
    }
    /* The last segment must name the chart and pin it: "<chart>:<tag>" or "<chart>@<digest>".
     * A "<chart>-<version>.tgz" file name or a bare "<chart>" is not a pullable reference. */
    last = og_str_from(ref, slash + 1);
    at = og_str_find_char(last, 0, '@');
    if (at < last.len) {
        out->malformed = at == 0 || at + 1 == last.len;
        return;
    }
    colon = og_str_rfind_char(last, ':');
    out->malformed = colon == last.len || colon == 0 || colon + 1 == last.len;
}

bool og_url_host_valid(struct og_str host)
{
    bool ok =
        host.len > 0 && host.len <= HOST_NAME_MAX_LEN && host.ptr[0] != '.' && host.ptr[0] != '-';

    for (size_t i = 0; ok && i < host.len; i++)
        ok = is_alpha(host.ptr[i]) || is_digit(host.ptr[i]) || host.ptr[i] == '-' ||
             host.ptr[i] == '.';
    return ok || (og_str_find_char(host, 0, ':') < host.len && is_ipv6(host));
}

/* `h` without the brackets around an IPv6 address. */
static struct og_str unbracket(struct og_str h)
{
    if (h.len >= 2 && h.ptr[0] == '[' && h.ptr[h.len - 1] == ']')
        return (struct og_str){h.ptr + 1, h.len - 2};
    return h;
}

bool og_url_host_eq(struct og_str a, struct og_str b)
{
    return og_str_ieq(unbracket(a), unbracket(b));
}
