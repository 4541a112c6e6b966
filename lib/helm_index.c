/*
 * helm_index.c - streaming analysis of a Helm repository index over libyaml events.
 *
 * The parser pulls bytes through an og_read_fn and hands every libyaml event to a small
 * state machine: a stack of frames for the few collections that matter (the root mapping,
 * `entries`, a chart's list, a version entry, its `urls`) and a bare counter for everything
 * else, which is skipped without copying a byte. A version entry's urls[0], `version` and
 * `created` are copied into reused buffers and folded into the chart's record when the entry
 * ends, so memory grows with the number of charts only.
 *
 * Anchors: YAML lets any node be anchored and repeated by an alias anywhere later, also in
 * the places that matter (a whole version entry, a urls list, a scalar). Every anchored node
 * is therefore recorded as a compact event list in one bounded arena (nested anchors share
 * the bytes of the outer one, aliases met while recording are expanded into it) and an alias
 * replays its record through the same state machine. Both the arena and the total replayed
 * bytes are capped, which also defeats "billion laughs" inputs.
 */
#include "ocigate/helm_index.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "helm_index_int.h"
#include "ocigate/json.h"
#include "ocigate/url.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

void og_index_limits_init(struct og_index_limits *limits)
{
    limits->max_charts = 100000;
    limits->max_bases = 256;
    limits->max_depth = 64;
    limits->max_scalar = MiB;
    limits->max_bytes = 64 * (uint64_t)MiB;
    limits->max_anchored = MiB;
    limits->max_aliased = 64 * (uint64_t)MiB;
    /* A fixed key keeps runs reproducible; servers analyzing untrusted indexes set a random
     * one (og_index_limits.hash_key). */
    limits->hash_key[0] = 0x0706050403020100ull;
    limits->hash_key[1] = 0x0f0e0d0c0b0a0908ull;
}

/* What a frame of the stack stands for. */
enum role {
    R_ROOT,     /* the top-level mapping */
    R_ENTRIES,  /* entries: chart name -> list of versions */
    R_CHART,    /* a chart's list of version entries */
    R_VERSION,  /* one version entry (or a mapping merged into one with `<<`) */
    R_URLS,     /* a version's urls */
    R_MERGE_SEQ /* `<<: [*a, *b]` inside a version entry */
};

/* The mapping keys that matter, per role. */
enum key {
    K_OTHER,
    K_API_VERSION,
    K_GENERATED,
    K_ENTRIES,
    K_CHART,
    K_URLS,
    K_VERSION,
    K_CREATED,
    K_MERGE
};

struct frame {
    uint8_t role;
    uint8_t want_value; /* mapping: the next node is the value of `key` */
    uint8_t key;
    uint8_t weak; /* version mapping merged with `<<`: its keys never override */
};

/* Where a version field's current value came from; explicit keys beat merged ones. */
enum src { SRC_NONE, SRC_MERGED, SRC_EXPLICIT };

struct field {
    struct og_buf buf;
    uint8_t src;
};

struct chart {
    char *name;
    size_t name_len;
    uint32_t hash;
    uint32_t versions;
    uint32_t oci;
    struct og_buf newest_version;
    struct og_buf newest_created;
    struct og_buf newest_url; /* its first KEPT_FIELD_MAX bytes: the order's url key */
    int64_t newest_sec;
    int32_t newest_nsec;
    bool has_newest;
    bool newest_has_time;
    bool newest_has_version;
    bool newest_has_created;
    bool newest_is_oci;
    bool newest_is_http;
};

struct anchor {
    char *name;
    size_t name_len;
    uint32_t hash;
    size_t start, end; /* the node's events in the arena */
    bool done;         /* the node has ended; aliases to an open anchor are recursive */
};

struct open_anchor {
    size_t idx;
    uint32_t depth;
};

/* Open-addressing hash set of 1-based indices into an array of named items. */
struct htab {
    uint32_t *slots;
    uint32_t cap; /* power of two, or 0 */
    uint32_t n;
};

/* The internal event that both libyaml and alias replay feed to the state machine. */
enum ev_type { EV_SCALAR = 1, EV_MAP, EV_SEQ, EV_MAP_END, EV_SEQ_END };

struct ev {
    uint8_t type;
    bool plain;
    const char *s;
    size_t len;
};

struct an {
    struct og_index_limits lim;
    unsigned flags;
    struct og_diag *diag;
    og_read_fn read;
    void *ctx;
    uint64_t consumed;
    uint64_t consumed_at_event;
    enum og_err read_err;
    unsigned line, column;

    struct frame *frames;
    uint32_t n_frames;
    uint32_t skip; /* depth inside a skipped collection */
    bool saw_root;
    bool root_has_index_key;

    struct og_buf arena;
    struct anchor *anchors;
    size_t n_anchors, cap_anchors;
    struct htab anchor_tab;
    size_t anchor_overhead;
    struct open_anchor *open;
    size_t n_open;
    uint32_t raw_depth;
    uint64_t aliased;

    char *api_version;
    char *generated;
    struct chart *charts;
    uint32_t n_charts;
    size_t cap_charts;
    struct htab chart_tab;
    uint32_t cur_chart;

    struct field url0, version, created;
    uint32_t n_urls;
    bool later_oci;

    struct og_index_base *bases;
    size_t n_bases, cap_bases;
    struct og_buf scratch;

    /* The earliest `created` of an oci entry (the text: the first in byte order of equals). */
    bool has_first_oci;
    int64_t first_oci_sec;
    int32_t first_oci_nsec;
    struct og_buf first_oci_created;

    uint32_t versions, oci, https, other, malformed, multi, secondary;
};

/*
 * SipHash-1-3 of `s` under the analysis's key (limits.hash_key). Chart names and anchors
 * come from whoever serves the index: with an unkeyed hash they could all be chosen to
 * collide and turn each lookup into a scan of the whole table.
 */
static uint64_t rotl(uint64_t x, unsigned b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

static uint32_t hash_bytes(const struct an *a, const char *s, size_t len)
{
    uint64_t k0 = a->lim.hash_key[0], k1 = a->lim.hash_key[1];
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    uint64_t m, b = (uint64_t)len << 56;
    size_t i = 0;

    for (; i + 8 <= len; i += 8) {
        memcpy(&m, s + i, 8);
        v3 ^= m;
        SIPROUND;
        v0 ^= m;
    }
    for (size_t k = 0; i + k < len; k++)
        b |= (uint64_t)(unsigned char)s[i + k] << (8 * k);
    v3 ^= b;
    SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    SIPROUND;
    SIPROUND;
    SIPROUND;
    return (uint32_t)(v0 ^ v1 ^ v2 ^ v3);
}

#undef SIPROUND

/* Reports `what` at the current event; an allocation failure is always "out of memory". */
static enum og_err fail(struct an *a, enum og_err err, const char *what)
{
    og_diag_at(a->diag, a->line, a->column);
    return og_diag_set(a->diag, err, "%s", err == OG_ENOMEM ? "out of memory" : what);
}

static enum og_err fail_chart(struct an *a, const char *what)
{
    char where[256];

    if (a->n_charts > 0 && a->cur_chart < a->n_charts) {
        int n = snprintf(where, sizeof(where), "entries.%s", a->charts[a->cur_chart].name);

        if (n > 0)
            og_diag_where(a->diag, where);
    }
    return fail(a, OG_EPARSE, what);
}

static bool is_null(const struct ev *e)
{
    if (!e->plain)
        return false;
    switch (e->len) {
    case 0:
        return true;
    case 1:
        return e->s[0] == '~';
    case 4:
        return memcmp(e->s, "null", 4) == 0 || memcmp(e->s, "Null", 4) == 0 ||
               memcmp(e->s, "NULL", 4) == 0;
    default:
        return false;
    }
}

/* Keys are compared by length first: most keys of a version entry are rejected by it. */
static uint8_t version_key(const struct ev *e)
{
    switch (e->len) {
    case 2:
        return e->plain && e->s[0] == '<' && e->s[1] == '<' ? K_MERGE : K_OTHER;
    case 4:
        return memcmp(e->s, "urls", 4) == 0 ? K_URLS : K_OTHER;
    case 7:
        if (memcmp(e->s, "version", 7) == 0)
            return K_VERSION;
        return memcmp(e->s, "created", 7) == 0 ? K_CREATED : K_OTHER;
    default:
        return K_OTHER;
    }
}

static uint8_t root_key(const struct ev *e)
{
    if (e->len == 10 && memcmp(e->s, "apiVersion", 10) == 0)
        return K_API_VERSION;
    if (e->len == 9 && memcmp(e->s, "generated", 9) == 0)
        return K_GENERATED;
    if (e->len == 7 && memcmp(e->s, "entries", 7) == 0)
        return K_ENTRIES;
    return K_OTHER;
}

/*
 * Finds `key` in `tab`; returns its slot (holding 0 when absent). `name_of` gives the name of
 * the item with a 0-based index.
 */
typedef struct og_str (*name_of_fn)(const struct an *a, uint32_t idx);

static uint32_t *htab_slot(const struct an *a, const struct htab *tab, struct og_str key,
                           uint32_t hash, name_of_fn name_of)
{
    uint32_t mask = tab->cap - 1;

    for (uint32_t i = hash & mask;; i = (i + 1) & mask) {
        uint32_t *slot = &tab->slots[i];

        if (*slot == 0 || og_str_eq(name_of(a, *slot - 1), key))
            return slot;
    }
}

/* Makes room for one more item, rehashing at half load. */
static enum og_err htab_grow(struct htab *tab, const uint32_t *hashes, size_t hash_stride)
{
    uint32_t cap, *slots;

    if ((tab->n + 1) * 2 <= tab->cap)
        return OG_OK;
    cap = tab->cap == 0 ? 64 : tab->cap * 2;
    if (cap > UINT32_MAX / 4)
        return OG_ETOOBIG;
    slots = calloc(cap, sizeof(*slots));
    if (slots == NULL)
        return OG_ENOMEM;
    for (uint32_t i = 0; i < tab->cap; i++) {
        uint32_t idx = tab->slots[i], j;

        if (idx == 0)
            continue;
        j = *(const uint32_t *)(const void *)((const char *)hashes + (idx - 1) * hash_stride);
        for (j &= cap - 1; slots[j] != 0; j = (j + 1) & (cap - 1))
            ;
        slots[j] = idx;
    }
    free(tab->slots);
    tab->slots = slots;
    tab->cap = cap;
    return OG_OK;
}

static struct og_str chart_name(const struct an *a, uint32_t idx)
{
    return (struct og_str){a->charts[idx].name, a->charts[idx].name_len};
}

static struct og_str anchor_name(const struct an *a, uint32_t idx)
{
    return (struct og_str){a->anchors[idx].name, a->anchors[idx].name_len};
}

/* Finds or adds the chart named by `e` and makes it the current one. */
static enum og_err intern_chart(struct an *a, const struct ev *e)
{
    struct og_str key = {e->s, e->len};
    uint32_t hash, *slot;
    struct chart *c, *charts;
    enum og_err rc;

    if (e->len > OG_INDEX_MAX_CHART_NAME)
        return fail(a, OG_ETOOBIG, "chart name longer than 255 bytes");
    hash = hash_bytes(a, e->s, e->len);
    if (a->chart_tab.cap > 0) {
        slot = htab_slot(a, &a->chart_tab, key, hash, chart_name);
        if (*slot != 0) {
            /* libyaml does not reject a repeated key; its versions add to the same chart. */
            a->cur_chart = *slot - 1;
            return OG_OK;
        }
    }
    if (a->n_charts >= a->lim.max_charts)
        return fail(a, OG_ETOOBIG, "too many charts (max_charts)");
    charts = og_array_grow(a->charts, &a->cap_charts, a->n_charts, sizeof(*charts), 32,
                           a->lim.max_charts);
    if (charts == NULL)
        return OG_ENOMEM;
    a->charts = charts;
    rc = htab_grow(&a->chart_tab, &a->charts[0].hash, sizeof(struct chart));
    if (rc != OG_OK)
        return rc;
    c = &a->charts[a->n_charts];
    memset(c, 0, sizeof(*c));
    c->name = og_str_dup(key);
    if (c->name == NULL)
        return OG_ENOMEM;
    c->name_len = e->len;
    c->hash = hash;
    og_buf_init(&c->newest_version, a->lim.max_scalar);
    og_buf_init(&c->newest_created, a->lim.max_scalar);
    og_buf_init(&c->newest_url, a->lim.max_scalar);
    a->cur_chart = a->n_charts++;
    slot = htab_slot(a, &a->chart_tab, key, hash, chart_name);
    *slot = a->n_charts;
    a->chart_tab.n++;
    return OG_OK;
}

static void begin_version(struct an *a)
{
    og_buf_reset(&a->url0.buf);
    og_buf_reset(&a->version.buf);
    og_buf_reset(&a->created.buf);
    a->url0.src = a->version.src = a->created.src = SRC_NONE;
    a->n_urls = 0;
    a->later_oci = false;
}

/* May a key of a frame with `weak` set a field whose value came from `src`? */
static bool applies(uint8_t weak, uint8_t src)
{
    return weak ? src == SRC_NONE : true;
}

static enum og_err set_field(struct an *a, struct field *f, uint8_t weak, const struct ev *e)
{
    if (!applies(weak, f->src))
        return OG_OK;
    og_buf_reset(&f->buf);
    f->src = weak ? SRC_MERGED : SRC_EXPLICIT;
    if (is_null(e))
        return OG_OK;
    if (og_buf_append(&f->buf, e->s, e->len) != OG_OK)
        return fail(a, OG_ENOMEM, "out of memory");
    return OG_OK;
}

static enum og_err add_url(struct an *a, const struct ev *e)
{
    struct og_url_chart cls;

    if (++a->n_urls == 1) {
        og_buf_reset(&a->url0.buf);
        if (og_buf_append(&a->url0.buf, e->s, e->len) != OG_OK)
            return fail(a, OG_ENOMEM, "out of memory");
        return OG_OK;
    }
    og_url_chart((struct og_str){e->s, e->len}, &cls);
    if (cls.kind == OG_URL_OCI)
        a->later_oci = true;
    return OG_OK;
}

/* Counts `base` (a view of "oci://host/path"), normalized so that bases differing only in the
 * case of the scheme and host count as one. */
static enum og_err add_base(struct an *a, struct og_str base)
{
    struct og_index_base *bases;
    struct og_str norm;
    enum og_err rc;

    og_buf_reset(&a->scratch);
    /* og_url_chart() gives only bases that parse: the error left is running out of room. */
    rc = og_url_normalize(base, &a->scratch, NULL);
    if (rc != OG_OK)
        return fail(a, rc == OG_EINVAL ? OG_ENOMEM : rc, "out of memory");
    norm = og_buf_view(&a->scratch);
    for (size_t i = 0; i < a->n_bases; i++) {
        if (strlen(a->bases[i].base) == norm.len &&
            memcmp(a->bases[i].base, norm.ptr, norm.len) == 0) {
            a->bases[i].count++;
            return OG_OK;
        }
    }
    if (a->n_bases >= a->lim.max_bases)
        return fail(a, OG_ETOOBIG, "too many distinct OCI bases (max_bases)");
    bases = og_array_grow(a->bases, &a->cap_bases, a->n_bases, sizeof(*bases), 4, SIZE_MAX);
    if (bases == NULL)
        return OG_ENOMEM;
    a->bases = bases;
    a->bases[a->n_bases].base = og_str_dup(norm);
    if (a->bases[a->n_bases].base == NULL)
        return OG_ENOMEM;
    a->bases[a->n_bases++].count = 1;
    return OG_OK;
}

/*
 * Longest `version` and `created` kept for a chart's newest entry: real ones are a few dozen
 * bytes, and every chart keeps one of each, so longer values (which cannot be a SemVer or an
 * RFC 3339 time anyway) count as absent rather than as up to max_scalar bytes per chart. A url
 * (real ones are under 150 bytes) is kept to as many bytes, for the order's url key only.
 */
#define KEPT_FIELD_MAX 256

static struct og_str kept_field(const struct og_buf *b)
{
    struct og_str s = og_buf_view(b);

    if (s.len > KEPT_FIELD_MAX)
        s.len = 0;
    return s;
}

static enum og_err copy_into(struct og_buf *dst, struct og_str src)
{
    og_buf_reset(dst);
    return og_buf_append_str(dst, src);
}

/* Remembers the earliest `created` of an oci entry (the `mixed` verdict compares with it). */
static enum og_err note_oci_time(struct an *a, struct og_str created, int64_t sec, int32_t nsec)
{
    /* > 0: this entry is the earliest so far (or the same instant, spelled first). */
    int c = 1;

    if (a->has_first_oci)
        c = og__helm_index_time_cmp(a->first_oci_sec, a->first_oci_nsec, sec, nsec);
    if (a->has_first_oci && c == 0)
        c = og_str_cmp(og_buf_view(&a->first_oci_created), created);
    if (c <= 0)
        return OG_OK;
    a->has_first_oci = true;
    a->first_oci_sec = sec;
    a->first_oci_nsec = nsec;
    if (copy_into(&a->first_oci_created, created) != OG_OK)
        return fail(a, OG_ENOMEM, "out of memory");
    return OG_OK;
}

/* Folds the version entry that just ended into the current chart. */
static enum og_err finish_version(struct an *a)
{
    struct chart *c = &a->charts[a->cur_chart];
    struct og_url_chart cls = {OG_URL_NONE, false, OG_STR_NULL};
    struct og__index_entry e, newest;
    bool is_oci;
    enum og_err rc;

    if (a->n_urls > 0)
        og_url_chart(og_buf_view(&a->url0.buf), &cls);
    is_oci = cls.kind == OG_URL_OCI;
    a->versions++;
    c->versions++;
    if (a->n_urls > 1)
        a->multi++;
    if (is_oci) {
        a->oci++;
        c->oci++;
        if (cls.malformed)
            a->malformed++;
        if (cls.base.len > 0) {
            rc = add_base(a, cls.base);
            if (rc != OG_OK)
                return rc;
        }
    } else {
        if (og_url_kind_is_http(cls.kind))
            a->https++;
        else
            a->other++;
        if (a->later_oci)
            a->secondary++;
    }
    memset(&e, 0, sizeof(e));
    e.version = kept_field(&a->version.buf);
    e.created = kept_field(&a->created.buf);
    e.url = a->n_urls > 0 ? og_buf_view(&a->url0.buf) : OG_STR_NULL;
    if (e.url.len > KEPT_FIELD_MAX)
        e.url.len = KEPT_FIELD_MAX;
    e.is_oci = is_oci;
    if (e.created.len > 0)
        e.has_time = og__helm_index_parse_time(e.created, &e.sec, &e.nsec);
    if (is_oci && e.has_time) {
        rc = note_oci_time(a, e.created, e.sec, e.nsec);
        if (rc != OG_OK)
            return rc;
    }
    if (c->has_newest) {
        newest = (struct og__index_entry){.version = og_buf_view(&c->newest_version),
                                          .created = og_buf_view(&c->newest_created),
                                          .url = og_buf_view(&c->newest_url),
                                          .has_time = c->newest_has_time,
                                          .sec = c->newest_sec,
                                          .nsec = c->newest_nsec,
                                          .is_oci = c->newest_is_oci};
        if (og__helm_index_entry_cmp(&e, &newest) <= 0)
            return OG_OK;
    }
    rc = copy_into(&c->newest_version, e.version);
    if (rc == OG_OK)
        rc = copy_into(&c->newest_created, e.created);
    if (rc == OG_OK)
        rc = copy_into(&c->newest_url, e.url);
    if (rc != OG_OK)
        return fail(a, rc, "out of memory");
    c->has_newest = true;
    c->newest_has_time = e.has_time;
    c->newest_sec = e.sec;
    c->newest_nsec = e.nsec;
    c->newest_has_version = e.version.len > 0;
    c->newest_has_created = e.created.len > 0;
    c->newest_is_oci = is_oci;
    c->newest_is_http = og_url_kind_is_http(cls.kind);
    return OG_OK;
}

static enum og_err push(struct an *a, uint8_t role, uint8_t weak)
{
    struct frame *f = &a->frames[a->n_frames++];

    f->role = role;
    f->want_value = 0;
    f->key = K_OTHER;
    f->weak = weak;
    return OG_OK;
}

static enum og_err on_scalar(struct an *a, const struct ev *e)
{
    struct frame *f;

    if (a->skip > 0)
        return OG_OK;
    if (a->n_frames == 0)
        return fail(a, OG_EPARSE, "not a Helm index: the document is a scalar, not a mapping");
    f = &a->frames[a->n_frames - 1];
    switch (f->role) {
    case R_ROOT:
        if (!f->want_value) {
            f->key = root_key(e);
            f->want_value = 1;
            if (f->key != K_OTHER && f->key != K_GENERATED)
                a->root_has_index_key = true;
            return OG_OK;
        }
        f->want_value = 0;
        if (f->key == K_API_VERSION || f->key == K_GENERATED) {
            char **dst = f->key == K_API_VERSION ? &a->api_version : &a->generated;
            char *s = is_null(e) ? NULL : og_str_dup((struct og_str){e->s, e->len});

            if (s == NULL && !is_null(e))
                return OG_ENOMEM;
            free(*dst);
            *dst = s;
        } else if (f->key == K_ENTRIES && !is_null(e)) {
            return fail(a, OG_EPARSE, "not a Helm index: entries is not a mapping");
        }
        return OG_OK;
    case R_ENTRIES:
        if (!f->want_value) {
            if (e->plain && e->len == 2 && e->s[0] == '<' && e->s[1] == '<')
                return fail(a, OG_EPARSE, "merge keys (<<) are not supported under entries");
            f->want_value = 1;
            f->key = K_CHART;
            return intern_chart(a, e);
        }
        f->want_value = 0;
        if (!is_null(e))
            return fail_chart(a, "a chart's versions are not a list");
        return OG_OK;
    case R_VERSION:
        if (!f->want_value) {
            f->key = version_key(e);
            f->want_value = 1;
            return OG_OK;
        }
        f->want_value = 0;
        switch (f->key) {
        case K_URLS:
            if (!is_null(e))
                return fail_chart(a, "urls is not a list");
            if (applies(f->weak, a->url0.src)) {
                og_buf_reset(&a->url0.buf);
                a->url0.src = f->weak ? SRC_MERGED : SRC_EXPLICIT;
                a->n_urls = 0;
                a->later_oci = false;
            }
            return OG_OK;
        case K_VERSION:
            return set_field(a, &a->version, f->weak, e);
        case K_CREATED:
            return set_field(a, &a->created, f->weak, e);
        case K_MERGE:
            return fail_chart(a, "a merge key (<<) must hold a mapping or a list of mappings");
        default:
            return OG_OK;
        }
    case R_CHART:
        /* Helm skips null version entries when it loads an index; so does the count. */
        if (is_null(e))
            return OG_OK;
        return fail_chart(a, "a chart version is not a mapping");
    case R_URLS:
        return add_url(a, e);
    default:
        return fail_chart(a, "a merge key (<<) list must hold mappings");
    }
}

static enum og_err on_start(struct an *a, uint8_t type)
{
    struct frame *f;
    bool map = type == EV_MAP;

    if (a->n_frames + a->skip >= a->lim.max_depth)
        return fail(a, OG_ETOOBIG, "collections nested too deep (max_depth)");
    if (a->skip > 0) {
        a->skip++;
        return OG_OK;
    }
    if (a->n_frames == 0) {
        if (!map)
            return fail(a, OG_EPARSE, "not a Helm index: the document is a list, not a mapping");
        a->saw_root = true;
        return push(a, R_ROOT, 0);
    }
    f = &a->frames[a->n_frames - 1];
    switch (f->role) {
    case R_ROOT:
    case R_ENTRIES:
    case R_VERSION:
        if (!f->want_value) {
            /* A complex key: skip it, then skip its value. */
            f->key = K_OTHER;
            f->want_value = 1;
            a->skip = 1;
            return OG_OK;
        }
        f->want_value = 0;
        if (f->role == R_ROOT) {
            if (f->key != K_ENTRIES) {
                a->skip = 1;
                return OG_OK;
            }
            if (!map)
                return fail(a, OG_EPARSE, "not a Helm index: entries is not a mapping");
            return push(a, R_ENTRIES, 0);
        }
        if (f->role == R_ENTRIES) {
            if (map)
                return fail_chart(a, "a chart's versions are not a list");
            return push(a, R_CHART, 0);
        }
        if (f->key == K_URLS) {
            if (map)
                return fail_chart(a, "urls is not a list");
            if (!applies(f->weak, a->url0.src)) {
                a->skip = 1;
                return OG_OK;
            }
            og_buf_reset(&a->url0.buf);
            a->url0.src = f->weak ? SRC_MERGED : SRC_EXPLICIT;
            a->n_urls = 0;
            a->later_oci = false;
            return push(a, R_URLS, 0);
        }
        if (f->key == K_MERGE)
            return push(a, map ? R_VERSION : R_MERGE_SEQ, 1);
        a->skip = 1;
        return OG_OK;
    case R_CHART:
        if (!map)
            return fail_chart(a, "a chart version is not a mapping");
        begin_version(a);
        return push(a, R_VERSION, 0);
    case R_URLS:
        return fail_chart(a, "a url is not a string");
    default:
        if (!map)
            return fail_chart(a, "a merge key (<<) list must hold mappings");
        return push(a, R_VERSION, 1);
    }
}

static enum og_err on_end(struct an *a)
{
    struct frame *f;

    if (a->skip > 0) {
        a->skip--;
        return OG_OK;
    }
    f = &a->frames[--a->n_frames];
    if (f->role == R_VERSION && !f->weak)
        return finish_version(a);
    return OG_OK;
}

static enum og_err dispatch(struct an *a, const struct ev *e)
{
    switch (e->type) {
    case EV_SCALAR:
        return on_scalar(a, e);
    case EV_MAP:
    case EV_SEQ:
        return on_start(a, e->type);
    default:
        return on_end(a);
    }
}

/* Appends `e` to the anchor arena. */
static enum og_err record(struct an *a, const struct ev *e)
{
    uint8_t hdr = e->type;
    uint32_t len;
    enum og_err rc;

    if (e->type != EV_SCALAR) {
        rc = og_buf_append(&a->arena, &hdr, 1);
        return rc == OG_OK ? OG_OK : fail(a, rc, "anchored nodes too large (max_anchored)");
    }
    if (e->len > UINT32_MAX)
        return fail(a, OG_ETOOBIG, "anchored scalar too long");
    len = (uint32_t)e->len;
    hdr = (uint8_t)(e->plain ? 0x80 | EV_SCALAR : EV_SCALAR);
    rc = og_buf_reserve(&a->arena, 1 + sizeof(len) + e->len);
    if (rc != OG_OK)
        return fail(a, rc, "anchored nodes too large (max_anchored)");
    a->arena.ptr[a->arena.len++] = (char)hdr;
    memcpy(a->arena.ptr + a->arena.len, &len, sizeof(len));
    a->arena.len += sizeof(len);
    if (e->len > 0)
        memcpy(a->arena.ptr + a->arena.len, e->s, e->len);
    a->arena.len += e->len;
    return OG_OK;
}

/* Decodes the recorded event at `*off` and advances it. */
static void decode(const struct an *a, size_t *off, struct ev *e)
{
    uint8_t hdr = (uint8_t)a->arena.ptr[(*off)++];
    uint32_t len;

    e->type = hdr & 0x7f;
    e->plain = (hdr & 0x80) != 0;
    e->s = NULL;
    e->len = 0;
    if (e->type != EV_SCALAR)
        return;
    memcpy(&len, a->arena.ptr + *off, sizeof(len));
    *off += sizeof(len);
    e->s = a->arena.ptr + *off;
    e->len = len;
    *off += len;
}

/* Registers an anchor whose node starts at the arena's end; scalars end at once. */
static enum og_err define_anchor(struct an *a, const char *name, bool open)
{
    size_t len = strlen(name);
    uint32_t hash = hash_bytes(a, name, len), *slot;
    struct anchor *an, *anchors;
    enum og_err rc;

    /* Each anchor's bookkeeping counts against the arena cap too. */
    if (len > a->lim.max_anchored ||
        a->anchor_overhead + a->arena.len > a->lim.max_anchored - sizeof(struct anchor) - len)
        return fail(a, OG_ETOOBIG, "too many anchors (max_anchored)");
    anchors =
        og_array_grow(a->anchors, &a->cap_anchors, a->n_anchors, sizeof(*anchors), 8, SIZE_MAX);
    if (anchors == NULL)
        return OG_ENOMEM;
    a->anchors = anchors;
    rc = htab_grow(&a->anchor_tab, &a->anchors[0].hash, sizeof(struct anchor));
    if (rc != OG_OK)
        return rc;
    an = &a->anchors[a->n_anchors];
    an->name = og_str_dup((struct og_str){name, len});
    if (an->name == NULL)
        return OG_ENOMEM;
    an->name_len = len;
    an->hash = hash;
    an->start = a->arena.len;
    an->end = a->arena.len;
    an->done = false;
    a->n_anchors++;
    a->anchor_overhead += sizeof(struct anchor) + len;
    slot = htab_slot(a, &a->anchor_tab, (struct og_str){name, len}, hash, anchor_name);
    if (*slot == 0)
        a->anchor_tab.n++;
    /* A redefined anchor name refers to the newest node from here on. */
    *slot = (uint32_t)a->n_anchors;
    if (open) {
        a->open[a->n_open].idx = a->n_anchors - 1;
        a->open[a->n_open].depth = a->raw_depth;
        a->n_open++;
    }
    return OG_OK;
}

static enum og_err on_alias(struct an *a, const char *name)
{
    struct og_str key = og_str_of(name);
    uint32_t *slot;
    const struct anchor *an;
    size_t off, len;
    enum og_err rc = OG_OK;

    if (a->anchor_tab.cap == 0)
        return fail(a, OG_EPARSE, "alias to an undefined anchor");
    slot = htab_slot(a, &a->anchor_tab, key, hash_bytes(a, key.ptr, key.len), anchor_name);
    if (*slot == 0)
        return fail(a, OG_EPARSE, "alias to an undefined anchor");
    an = &a->anchors[*slot - 1];
    if (!an->done)
        return fail(a, OG_EPARSE, "alias to an anchor inside itself (recursive alias)");
    len = an->end - an->start;
    off = an->start;
    if (a->n_open > 0) {
        /* Expand the alias into the enclosing anchored node's record. */
        rc = og_buf_reserve(&a->arena, len);
        if (rc != OG_OK)
            return fail(a, rc, "anchored nodes too large (max_anchored)");
        memcpy(a->arena.ptr + a->arena.len, a->arena.ptr + off, len);
        a->arena.len += len;
    }
    if (a->skip > 0)
        return OG_OK;
    if (len > a->lim.max_aliased - a->aliased)
        return fail(a, OG_ETOOBIG, "aliases expand to too much (max_aliased)");
    a->aliased += len;
    while (rc == OG_OK && off < an->start + len) {
        struct ev e;

        decode(a, &off, &e);
        rc = dispatch(a, &e);
    }
    return rc;
}

/* Handles one libyaml event: anchors and the arena, then the state machine. */
static enum og_err on_event(struct an *a, const yaml_event_t *y)
{
    struct ev e = {0, false, NULL, 0};
    const yaml_char_t *anchor = NULL;
    enum og_err rc;

    a->line = (unsigned)y->start_mark.line + 1;
    a->column = (unsigned)y->start_mark.column + 1;
    switch (y->type) {
    case YAML_ALIAS_EVENT:
        return on_alias(a, (const char *)y->data.alias.anchor);
    case YAML_SCALAR_EVENT:
        if (y->data.scalar.length > a->lim.max_scalar)
            return fail(a, OG_ETOOBIG, "scalar too long (max_scalar)");
        e.type = EV_SCALAR;
        e.s = (const char *)y->data.scalar.value;
        e.len = y->data.scalar.length;
        e.plain = y->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        anchor = y->data.scalar.anchor;
        break;
    case YAML_MAPPING_START_EVENT:
        e.type = EV_MAP;
        anchor = y->data.mapping_start.anchor;
        break;
    case YAML_SEQUENCE_START_EVENT:
        e.type = EV_SEQ;
        anchor = y->data.sequence_start.anchor;
        break;
    case YAML_MAPPING_END_EVENT:
        e.type = EV_MAP_END;
        break;
    case YAML_SEQUENCE_END_EVENT:
        e.type = EV_SEQ_END;
        break;
    default:
        return OG_OK;
    }
    if (anchor != NULL) {
        rc = define_anchor(a, (const char *)anchor, e.type != EV_SCALAR);
        if (rc != OG_OK)
            return rc;
    }
    if (a->n_open > 0 || anchor != NULL) {
        rc = record(a, &e);
        if (rc != OG_OK)
            return rc;
    }
    if (anchor != NULL && e.type == EV_SCALAR) {
        a->anchors[a->n_anchors - 1].end = a->arena.len;
        a->anchors[a->n_anchors - 1].done = true;
    }
    if (e.type == EV_MAP || e.type == EV_SEQ) {
        a->raw_depth++;
    } else if (e.type == EV_MAP_END || e.type == EV_SEQ_END) {
        a->raw_depth--;
        if (a->n_open > 0 && a->open[a->n_open - 1].depth == a->raw_depth) {
            struct anchor *an = &a->anchors[a->open[--a->n_open].idx];

            an->end = a->arena.len;
            an->done = true;
        }
    }
    return dispatch(a, &e);
}

/* libyaml's read handler: pulls from the og_read_fn and enforces the byte limits. */
static int read_handler(void *data, unsigned char *buffer, size_t size, size_t *size_read)
{
    struct an *a = data;
    size_t n = 0;
    enum og_err rc;

    *size_read = 0;
    /* A scalar (or comment) is held whole by libyaml before it becomes an event, so a long
     * run of bytes without an event is refused before it can grow without bound. */
    if (a->consumed - a->consumed_at_event > (uint64_t)a->lim.max_scalar + 64 * KiB) {
        og_diag_at(a->diag, a->line, a->column);
        a->read_err =
            og_diag_set(a->diag, OG_ETOOBIG,
                        "more than %zu bytes without a YAML event (max_scalar)", a->lim.max_scalar);
        return 0;
    }
    rc = a->read(a->ctx, (char *)buffer, size, &n);
    if (rc == OG_OK && n > size)
        rc = og_diag_set(a->diag, OG_EIO, "reader returned more bytes than asked for");
    if (rc != OG_OK) {
        (void)og_diag_set(a->diag, rc, "reading the index failed: %s", og_strerror(rc));
        a->read_err = rc;
        return 0;
    }
    a->consumed += n;
    if (a->consumed > a->lim.max_bytes) {
        a->read_err = og_diag_set(a->diag, OG_ETOOBIG, "index larger than %llu bytes (max_bytes)",
                                  (unsigned long long)a->lim.max_bytes);
        return 0;
    }
    *size_read = n;
    return 1;
}

static enum og_err parser_error(struct an *a, const yaml_parser_t *p)
{
    switch (p->error) {
    case YAML_MEMORY_ERROR:
        return og_diag_set(a->diag, OG_ENOMEM, "out of memory");
    case YAML_READER_ERROR:
        if (a->read_err != OG_OK)
            return a->read_err;
        /* libyaml decodes input ahead of its events, by as much as the reader happened to
         * return, so the last event's position says nothing about where the bad byte is: the
         * message gives its exact byte offset, and there is no line:column. */
        og_diag_at(a->diag, 0, 0);
        return og_diag_set(a->diag, OG_EPARSE, "not a YAML document: %s at byte %zu",
                           p->problem != NULL ? p->problem : "unreadable input", p->problem_offset);
    default:
        og_diag_at(a->diag, (unsigned)p->problem_mark.line + 1,
                   (unsigned)p->problem_mark.column + 1);
        return og_diag_set(a->diag, OG_EPARSE, "not a YAML document: %s%s%s",
                           p->context != NULL ? p->context : "", p->context != NULL ? ": " : "",
                           p->problem != NULL ? p->problem : "syntax error");
    }
}

static int base_cmp(const void *x, const void *y)
{
    const struct og_index_base *a = x, *b = y;

    if (a->count != b->count)
        return a->count > b->count ? -1 : 1;
    return strcmp(a->base, b->base);
}

static void chart_cleanup(struct chart *c)
{
    free(c->name);
    og_buf_cleanup(&c->newest_version);
    og_buf_cleanup(&c->newest_created);
    og_buf_cleanup(&c->newest_url);
}

static char *take_or_null(struct og_buf *b, bool present, bool *oom)
{
    char *s;

    if (!present)
        return NULL;
    s = og_buf_take(b, NULL);
    if (s == NULL)
        *oom = true;
    return s;
}

/* Whether chart `c`'s newest version is http(s) and released after the first oci entry. */
static bool https_after_oci(const struct an *a, const struct chart *c)
{
    return c->has_newest && c->newest_is_http && c->newest_has_time && a->has_first_oci &&
           og__helm_index_time_cmp(c->newest_sec, c->newest_nsec, a->first_oci_sec,
                                   a->first_oci_nsec) > 0;
}

/* Moves the results into `out`; on failure `out` is left untouched. */

static enum og_err build_summary(struct an *a, struct og_index_summary *out)
{
    struct og_index_summary s;
    bool oom = false;

    memset(&s, 0, sizeof(s));
    s.first_oci_created = take_or_null(&a->first_oci_created, a->has_first_oci, &oom);
    if (!oom && a->flags & OG_INDEX_DETAIL && a->n_charts > 0) {
        s.chart_list = calloc(a->n_charts, sizeof(*s.chart_list));
        oom = s.chart_list == NULL;
    }
    if (s.chart_list != NULL) {
        s.n_chart_list = a->n_charts;
        for (uint32_t i = 0; i < a->n_charts; i++) {
            struct chart *c = &a->charts[i];
            struct og_index_chart *d = &s.chart_list[i];

            d->name = c->name;
            c->name = NULL;
            d->versions = c->versions;
            d->oci_entries = c->oci;
            d->newest_is_oci = c->has_newest && c->newest_is_oci;
            d->newest_is_https = c->has_newest && c->newest_is_http;
            d->https_after_oci = https_after_oci(a, c);
            d->newest_version = take_or_null(&c->newest_version, c->newest_has_version, &oom);
            d->newest_created = take_or_null(&c->newest_created, c->newest_has_created, &oom);
        }
    }
    if (oom) {
        og_index_summary_cleanup(&s);
        return OG_ENOMEM;
    }
    for (uint32_t i = 0; i < a->n_charts; i++) {
        const struct chart *c = &a->charts[i];

        s.charts_newest_oci += c->has_newest && c->newest_is_oci;
        s.charts_newest_https += c->has_newest && c->newest_is_http;
        s.charts_https_after_oci += https_after_oci(a, c);
    }
    s.api_version = a->api_version;
    a->api_version = NULL;
    s.generated = a->generated;
    a->generated = NULL;
    s.charts = a->n_charts;
    s.versions = a->versions;
    s.oci_entries = a->oci;
    s.https_entries = a->https;
    s.other_entries = a->other;
    s.malformed_oci_entries = a->malformed;
    s.multi_url_entries = a->multi;
    s.secondary_oci_entries = a->secondary;
    if (a->n_bases > 1)
        qsort(a->bases, a->n_bases, sizeof(*a->bases), base_cmp);
    s.bases = a->bases;
    s.n_bases = a->n_bases;
    a->bases = NULL;
    a->n_bases = 0;
    *out = s;
    return OG_OK;
}

static void an_cleanup(struct an *a)
{
    for (uint32_t i = 0; i < a->n_charts; i++)
        chart_cleanup(&a->charts[i]);
    free(a->charts);
    free(a->chart_tab.slots);
    for (size_t i = 0; i < a->n_anchors; i++)
        free(a->anchors[i].name);
    free(a->anchors);
    free(a->anchor_tab.slots);
    free(a->open);
    free(a->frames);
    og_buf_cleanup(&a->arena);
    og_buf_cleanup(&a->url0.buf);
    og_buf_cleanup(&a->version.buf);
    og_buf_cleanup(&a->created.buf);
    og_buf_cleanup(&a->scratch);
    og_buf_cleanup(&a->first_oci_created);
    for (size_t i = 0; i < a->n_bases; i++)
        free(a->bases[i].base);
    free(a->bases);
    free(a->api_version);
    free(a->generated);
}

static void limits_fill(struct og_index_limits *dst, const struct og_index_limits *src)
{
    struct og_index_limits def;

    og_index_limits_init(&def);
    if (src == NULL) {
        *dst = def;
        return;
    }
    dst->max_charts = src->max_charts != 0 ? src->max_charts : def.max_charts;
    dst->max_bases = src->max_bases != 0 ? src->max_bases : def.max_bases;
    dst->max_depth = src->max_depth != 0 ? src->max_depth : def.max_depth;
    dst->max_scalar = src->max_scalar != 0 ? src->max_scalar : def.max_scalar;
    dst->max_bytes = src->max_bytes != 0 ? src->max_bytes : def.max_bytes;
    dst->max_anchored = src->max_anchored != 0 ? src->max_anchored : def.max_anchored;
    dst->max_aliased = src->max_aliased != 0 ? src->max_aliased : def.max_aliased;
}

enum og_err og_helm_index_analyze(og_read_fn read, void *ctx, const struct og_index_limits *limits,
                                  unsigned flags, struct og_index_summary *out,
                                  struct og_diag *diag)
{
    struct an a;
    yaml_parser_t parser;
    yaml_event_t event;
    bool parser_ready = false, done = false;
    enum og_err rc = OG_OK;

    if (read == NULL || out == NULL)
        return OG_EINVAL;
    memset(&a, 0, sizeof(a));
    limits_fill(&a.lim, limits);
    a.flags = flags;
    a.diag = diag;
    a.read = read;
    a.ctx = ctx;
    og_buf_init(&a.arena, a.lim.max_anchored);
    og_buf_init(&a.url0.buf, a.lim.max_scalar);
    og_buf_init(&a.version.buf, a.lim.max_scalar);
    og_buf_init(&a.created.buf, a.lim.max_scalar);
    og_buf_init(&a.scratch, a.lim.max_scalar);
    og_buf_init(&a.first_oci_created, a.lim.max_scalar);
    a.frames = calloc(a.lim.max_depth, sizeof(*a.frames));
    a.open = calloc(a.lim.max_depth + 1, sizeof(*a.open));
    if (a.frames == NULL || a.open == NULL) {
        rc = OG_ENOMEM;
        goto out;
    }
    if (!yaml_parser_initialize(&parser)) {
        rc = OG_ENOMEM;
        goto out;
    }
    parser_ready = true;
    yaml_parser_set_input(&parser, read_handler, &a);
    while (!done) {
        if (!yaml_parser_parse(&parser, &event)) {
            rc = parser_error(&a, &parser);
            goto out;
        }
        a.consumed_at_event = a.consumed;
        /* Only the first document is analyzed; later ones are never read. */
        done = event.type == YAML_STREAM_END_EVENT || event.type == YAML_DOCUMENT_END_EVENT;
        rc = on_event(&a, &event);
        yaml_event_delete(&event);
        if (rc != OG_OK)
            goto out;
    }
    if (!a.saw_root || !a.root_has_index_key) {
        og_diag_at(diag, a.saw_root ? 1 : 0, a.saw_root ? 1 : 0);
        rc = og_diag_set(diag, OG_EPARSE, "%s",
                         a.saw_root ? "not a Helm index: no apiVersion or entries key"
                                    : "not a Helm index: the input holds no YAML document");
        goto out;
    }
    rc = build_summary(&a, out);
out:
    if (parser_ready)
        yaml_parser_delete(&parser);
    an_cleanup(&a);
    return rc;
}

void og_index_summary_cleanup(struct og_index_summary *summary)
{
    if (summary == NULL)
        return;
    free(summary->api_version);
    free(summary->generated);
    free(summary->first_oci_created);
    for (size_t i = 0; i < summary->n_bases; i++)
        free(summary->bases[i].base);
    free(summary->bases);
    for (size_t i = 0; i < summary->n_chart_list; i++) {
        free(summary->chart_list[i].name);
        free(summary->chart_list[i].newest_version);
        free(summary->chart_list[i].newest_created);
    }
    free(summary->chart_list);
    memset(summary, 0, sizeof(*summary));
}

/* The writer's result; on failure `out` is cut back to `start` (it promises no change). */
static enum og_err finish_json(const struct og_json *w, struct og_buf *out, size_t start)
{
    enum og_err rc = og_json_finish(w);

    if (rc != OG_OK && out->ptr != NULL) {
        out->len = start;
        out->ptr[start] = '\0';
    }
    return rc;
}

enum og_err og_index_summary_format_json(const struct og_index_summary *s, struct og_buf *out)
{
    size_t start = out->len;
    struct og_json w;

    og_json_init(&w, out);
    og_json_object_begin(&w);
    og_json_key(&w, "apiVersion");
    og_json_cstr(&w, s->api_version);
    og_json_key(&w, "generated");
    og_json_cstr(&w, s->generated);
    og_json_key(&w, "charts");
    og_json_uint(&w, s->charts);
    og_json_key(&w, "versions");
    og_json_uint(&w, s->versions);
    og_json_key(&w, "ociEntries");
    og_json_uint(&w, s->oci_entries);
    og_json_key(&w, "httpsEntries");
    og_json_uint(&w, s->https_entries);
    og_json_key(&w, "otherEntries");
    og_json_uint(&w, s->other_entries);
    og_json_key(&w, "malformedOciEntries");
    og_json_uint(&w, s->malformed_oci_entries);
    og_json_key(&w, "chartsNewestOci");
    og_json_uint(&w, s->charts_newest_oci);
    og_json_key(&w, "chartsNewestHttps");
    og_json_uint(&w, s->charts_newest_https);
    og_json_key(&w, "chartsHttpsAfterOci");
    og_json_uint(&w, s->charts_https_after_oci);
    og_json_key(&w, "firstOciCreated");
    og_json_cstr(&w, s->first_oci_created);
    og_json_key(&w, "multiUrlEntries");
    og_json_uint(&w, s->multi_url_entries);
    og_json_key(&w, "secondaryOciEntries");
    og_json_uint(&w, s->secondary_oci_entries);
    og_json_key(&w, "bases");
    og_json_array_begin(&w);
    for (size_t i = 0; i < s->n_bases; i++) {
        og_json_object_begin(&w);
        og_json_key(&w, "base");
        og_json_cstr(&w, s->bases[i].base);
        og_json_key(&w, "count");
        og_json_uint(&w, s->bases[i].count);
        og_json_object_end(&w);
    }
    og_json_array_end(&w);
    if (s->chart_list != NULL) {
        og_json_key(&w, "chartDetails");
        og_json_array_begin(&w);
        for (size_t i = 0; i < s->n_chart_list; i++) {
            const struct og_index_chart *c = &s->chart_list[i];

            og_json_object_begin(&w);
            og_json_key(&w, "name");
            og_json_cstr(&w, c->name);
            og_json_key(&w, "versions");
            og_json_uint(&w, c->versions);
            og_json_key(&w, "ociEntries");
            og_json_uint(&w, c->oci_entries);
            og_json_key(&w, "newestVersion");
            og_json_cstr(&w, c->newest_version);
            og_json_key(&w, "newestCreated");
            og_json_cstr(&w, c->newest_created);
            og_json_key(&w, "newestIsOci");
            og_json_bool(&w, c->newest_is_oci);
            og_json_key(&w, "newestIsHttps");
            og_json_bool(&w, c->newest_is_https);
            og_json_key(&w, "httpsAfterOci");
            og_json_bool(&w, c->https_after_oci);
            og_json_object_end(&w);
        }
        og_json_array_end(&w);
    }
    og_json_object_end(&w);
    return finish_json(&w, out, start);
}

const char *og_index_state_name(enum og_index_state state)
{
    switch (state) {
    case OG_INDEX_STATE_NONE:
        return "none";
    case OG_INDEX_STATE_PENDING:
        return "pending";
    case OG_INDEX_STATE_UNKNOWN:
        return "unknown";
    case OG_INDEX_STATE_CLEAN:
        return "clean";
    case OG_INDEX_STATE_OCI:
        return "oci";
    case OG_INDEX_STATE_MIXED:
        return "mixed";
    }
    return "invalid";
}

void og_index_verdict_cleanup(struct og_index_verdict *v)
{
    if (v == NULL)
        return;
    free(v->oci_base);
    for (size_t i = 0; i < v->n_bases; i++)
        free(v->bases[i]);
    free(v->bases);
    for (size_t i = 0; i < v->n_oci_charts; i++)
        free(v->oci_charts[i]);
    free(v->oci_charts);
    for (size_t i = 0; i < v->n_https_charts; i++)
        free(v->https_charts[i]);
    free(v->https_charts);
    free(v->detail);
    memset(v, 0, sizeof(*v));
}

static char *dup_or_null(const char *s, bool *oom)
{
    char *d;

    if (s == NULL)
        return NULL;
    d = og_str_dup(og_str_of(s));
    if (d == NULL)
        *oom = true;
    return d;
}

/* Copies `n` strings into a new array (`*out`, `*n_out`); sets *oom on failure. */
static void dup_list(char *const *src, size_t n, char ***out, size_t *n_out, bool *oom)
{
    *out = NULL;
    *n_out = 0;
    if (n == 0)
        return;
    *out = calloc(n, sizeof(**out));
    if (*out == NULL) {
        *oom = true;
        return;
    }
    *n_out = n;
    for (size_t i = 0; i < n; i++)
        (*out)[i] = dup_or_null(src[i], oom);
}

/* Which charts a verdict names. */
typedef bool (*chart_pick_fn)(const struct og_index_chart *c, enum og_index_threshold t);

static bool is_moved(const struct og_index_chart *c, enum og_index_threshold t)
{
    return t == OG_INDEX_THRESHOLD_NEWEST ? c->newest_is_oci : c->oci_entries > 0;
}

static bool is_https_after_oci(const struct og_index_chart *c, enum og_index_threshold t)
{
    (void)t;
    return c->https_after_oci;
}

static int name_cmp(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

/*
 * Copies into `*out` the names of the charts of `s` that `pick` selects: the first
 * OG_INDEX_VERDICT_MAX_CHARTS in byte order, so that the list does not depend on the order of
 * the charts in the index. Sets *oom on failure.
 */
static void pick_charts(const struct og_index_summary *s, chart_pick_fn pick,
                        enum og_index_threshold t, char ***out, size_t *n_out, bool *oom)
{
    char **names;
    size_t n = 0;

    *out = NULL;
    *n_out = 0;
    if (s->n_chart_list == 0)
        return;
    names = calloc(s->n_chart_list, sizeof(*names));
    if (names == NULL) {
        *oom = true;
        return;
    }
    for (size_t i = 0; i < s->n_chart_list; i++) {
        if (pick(&s->chart_list[i], t))
            names[n++] = s->chart_list[i].name;
    }
    if (n > 1)
        qsort(names, n, sizeof(*names), name_cmp);
    dup_list(names, n < OG_INDEX_VERDICT_MAX_CHARTS ? n : OG_INDEX_VERDICT_MAX_CHARTS, out, n_out,
             oom);
    free(names);
}

static char *format_detail(const char *fmt, ...) OG_PRINTF(1, 2);

static char *format_detail(const char *fmt, ...)
{
    char text[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    return og_str_dup(og_str_of(text));
}

enum og_err og_helm_index_decide(const struct og_index_summary *s,
                                 enum og_index_threshold threshold, struct og_index_verdict *out)
{
    struct og_index_verdict v;
    const char *first_oci = s != NULL && s->first_oci_created != NULL ? s->first_oci_created : "?";
    bool oci, mixed, oom = false;

    if (s == NULL || out == NULL ||
        (threshold != OG_INDEX_THRESHOLD_NEWEST && threshold != OG_INDEX_THRESHOLD_ANY))
        return OG_EINVAL;
    memset(&v, 0, sizeof(v));
    oci = threshold == OG_INDEX_THRESHOLD_NEWEST ? s->charts_newest_oci > 0 : s->oci_entries > 0;
    /* Still releasing over http(s) after the first oci:// entry: rewriting the repository to
     * type oci would cut those charts off. */
    mixed = oci && s->charts_https_after_oci > 0;
    v.state = mixed ? OG_INDEX_STATE_MIXED : oci ? OG_INDEX_STATE_OCI : OG_INDEX_STATE_CLEAN;
    v.charts = s->charts;
    v.versions = s->versions;
    v.oci_entries = s->oci_entries;
    v.charts_newest_oci = s->charts_newest_oci;
    v.charts_https_after_oci = mixed ? s->charts_https_after_oci : 0;
    if (s->n_bases > 0) {
        v.bases = calloc(s->n_bases, sizeof(*v.bases));
        if (v.bases == NULL)
            return OG_ENOMEM;
        v.n_bases = s->n_bases;
        for (size_t i = 0; i < s->n_bases; i++)
            v.bases[i] = dup_or_null(s->bases[i].base, &oom);
    }
    if (oci && s->n_bases == 1)
        v.oci_base = dup_or_null(s->bases[0].base, &oom);
    if (oci && !oom)
        pick_charts(s, is_moved, threshold, &v.oci_charts, &v.n_oci_charts, &oom);
    if (mixed && !oom)
        pick_charts(s, is_https_after_oci, threshold, &v.https_charts, &v.n_https_charts, &oom);
    if (mixed && threshold == OG_INDEX_THRESHOLD_NEWEST)
        v.detail =
            format_detail("%u of %u charts' newest versions are oci://, yet %u released "
                          "over http(s) after the first oci:// entry (%.64s)",
                          s->charts_newest_oci, s->charts, s->charts_https_after_oci, first_oci);
    else if (mixed)
        v.detail = format_detail("%u of %u chart versions are oci://, yet %u charts released "
                                 "over http(s) after the first one (%.64s)",
                                 s->oci_entries, s->versions, s->charts_https_after_oci, first_oci);
    else if (oci && threshold == OG_INDEX_THRESHOLD_NEWEST)
        v.detail = format_detail("%u of %u charts' newest versions are oci://",
                                 s->charts_newest_oci, s->charts);
    else if (oci)
        v.detail = format_detail("%u of %u chart versions are oci://", s->oci_entries, s->versions);
    else if (s->oci_entries > 0)
        v.detail = format_detail("no chart's newest version is oci:// (%u of %u versions are)",
                                 s->oci_entries, s->versions);
    else
        v.detail = format_detail("none of %u chart versions is oci://", s->versions);
    if (oom || v.detail == NULL) {
        og_index_verdict_cleanup(&v);
        return OG_ENOMEM;
    }
    *out = v;
    return OG_OK;
}

enum og_err og_index_verdict_init_state(struct og_index_verdict *out, enum og_index_state state,
                                        const char *detail)
{
    bool oom = false;
    char *d = dup_or_null(detail, &oom);

    if (oom)
        return OG_ENOMEM;
    memset(out, 0, sizeof(*out));
    out->state = state;
    out->detail = d;
    return OG_OK;
}

enum og_err og_index_verdict_copy(const struct og_index_verdict *src, struct og_index_verdict *dst)
{
    struct og_index_verdict v = *src;
    bool oom = false;

    v.oci_base = dup_or_null(src->oci_base, &oom);
    v.detail = dup_or_null(src->detail, &oom);
    dup_list(src->bases, src->n_bases, &v.bases, &v.n_bases, &oom);
    dup_list(src->oci_charts, src->n_oci_charts, &v.oci_charts, &v.n_oci_charts, &oom);
    dup_list(src->https_charts, src->n_https_charts, &v.https_charts, &v.n_https_charts, &oom);
    if (oom) {
        og_index_verdict_cleanup(&v);
        memset(dst, 0, sizeof(*dst));
        return OG_ENOMEM;
    }
    *dst = v;
    return OG_OK;
}

/* Writes `name`: an array of the `n` strings of `list` (NULL entries as ""). */
static void write_str_array(struct og_json *w, const char *name, char *const *list, size_t n)
{
    og_json_key(w, name);
    og_json_array_begin(w);
    for (size_t i = 0; i < n; i++)
        og_json_cstr(w, list[i] != NULL ? list[i] : "");
    og_json_array_end(w);
}

enum og_err og_index_verdict_format_json(const struct og_index_verdict *v, struct og_buf *out)
{
    size_t start = out->len;
    struct og_json w;

    og_json_init(&w, out);
    og_json_object_begin(&w);
    og_json_key(&w, "state");
    og_json_cstr(&w, og_index_state_name(v->state));
    og_json_key(&w, "ociBase");
    og_json_cstr(&w, v->oci_base);
    write_str_array(&w, "bases", v->bases, v->n_bases);
    og_json_key(&w, "charts");
    og_json_uint(&w, v->charts);
    og_json_key(&w, "versions");
    og_json_uint(&w, v->versions);
    og_json_key(&w, "ociEntries");
    og_json_uint(&w, v->oci_entries);
    og_json_key(&w, "chartsNewestOci");
    og_json_uint(&w, v->charts_newest_oci);
    write_str_array(&w, "ociCharts", v->oci_charts, v->n_oci_charts);
    og_json_key(&w, "chartsHttpsAfterOci");
    og_json_uint(&w, v->charts_https_after_oci);
    write_str_array(&w, "httpsCharts", v->https_charts, v->n_https_charts);
    og_json_key(&w, "detail");
    og_json_cstr(&w, v->detail);
    og_json_object_end(&w);
    return finish_json(&w, out, start);
}
