/*
 * url.h - the one place that reads urls: split, normalize, classify, OCI bases and the
 * index.yaml join.
 *
 * Urls come from users (HelmRepository spec.url, the configuration, the CLI) and from indexes
 * anyone may write. Every function here is pure, reentrant and bounded by the input: it reads
 * (ptr, len) views that need not end in NUL, allocates nothing except into a caller's og_buf,
 * and keeps no state.
 *
 * What is accepted (og_url_parse()): "scheme://[userinfo@]host[:port][/path][?query][#fragment]"
 *   scheme    a letter, then letters, digits, '+', '-' or '.' (RFC 3986), any case
 *   userinfo  everything up to the last '@' of the authority, in the RFC 3986 character set
 *   host      a registered name in the RFC 3986 character set (letters, digits, "-._~%" and
 *             "!$&'()*+,;="), not empty; or an IPv6 address in brackets ("[fd00::1]")
 *   port      digits, at most 65535 (leading zeros allowed, as Go's url.Parse does); may be
 *             empty ("http://h:/")
 *   rest      any bytes but whitespace and controls; percent-encoding is kept as written
 * Whitespace and ASCII controls are refused anywhere. Only the authority is checked closely:
 * it decides where a request goes. The path, query and fragment are carried, not judged.
 *
 * Normalizing is for comparison (the index cache key, the known-migrations table), never for
 * what is fetched beyond what cannot change the answer: see og_url_normalize().
 */
#ifndef OG_URL_H
#define OG_URL_H

#include <stdbool.h>
#include <stddef.h>

#include "ocigate/buf.h"
#include "ocigate/err.h"
#include "ocigate/str.h"

/** What a url is by its scheme alone (no other part is checked). */
enum og_url_kind {
    OG_URL_NONE,  /**< no "scheme://" prefix: empty, a relative path, "oci:x" */
    OG_URL_HTTP,  /**< http:// (any case) */
    OG_URL_HTTPS, /**< https:// (any case) */
    OG_URL_OCI,   /**< oci:// (any case) */
    OG_URL_OTHER  /**< another scheme: file://, s3://, ftp:// */
};

/**
 * The parts of a parsed url: views into the text given to og_url_parse(), valid while it is.
 * Delimiters are not included ("://", '@', ':', '?', '#'). A part that is absent has a NULL
 * ptr and length 0; one that is present but empty ("http://h/?") has a non-NULL ptr. `path`
 * starts with '/' when present. Filled by og_url_parse() only.
 */
struct og_url {
    enum og_url_kind kind;  /**< og_url_kind() of the text */
    struct og_str scheme;   /**< as written, e.g. "HTTPS" */
    struct og_str userinfo; /**< "user:password", or absent */
    struct og_str host;     /**< as written; an IPv6 address keeps its brackets */
    struct og_str port;     /**< digits, or absent (or empty when written as "h:") */
    struct og_str path;     /**< "/a/b", or empty */
    struct og_str query;    /**< after '?', or absent */
    struct og_str fragment; /**< after '#', or absent */
};

/**
 * The scheme of `text` as written, a view into it ("HTTPS" of "HTTPS://h/"); empty when
 * `text` has no "scheme://" prefix (og_url_kind() OG_URL_NONE).
 */
struct og_str og_url_scheme(struct og_str text);

/** The kind of `text` by its scheme; neither trims nor checks the rest. */
enum og_url_kind og_url_kind(struct og_str text);

/** True for OG_URL_HTTP and OG_URL_HTTPS. */
bool og_url_kind_is_http(enum og_url_kind kind);

/**
 * Splits `text` into `*out` as described at the top of this file. OG_EINVAL with a message in
 * `diag` (may be NULL) that reads after the url, e.g. "has no host", "has an invalid port",
 * "has an invalid IPv6 address", "contains whitespace or control characters"; `*out` is then
 * unchanged. Never allocates.
 */
OG_NODISCARD enum og_err og_url_parse(struct og_str text, struct og_url *out, struct og_diag *diag);

/**
 * Checks that `text` may name a Helm repository in a configuration (a known migration's
 * `from` or `to`): it parses, holds no userinfo, no query and no fragment; an oci:// url
 * also has a host that og_url_host_valid() accepts (and a port) and a repository path of
 * lower-case segments (a-z, 0-9, '.', '_', '-') without a tag or digest; trailing '/' are
 * tolerated. The kind is the caller's to check. OG_EINVAL with a message in `diag` that
 * reads after the url ("must not hold credentials", "has no repository path ...").
 */
OG_NODISCARD enum og_err og_url_check_repo(struct og_str text, struct og_diag *diag);

/**
 * Appends the comparable form of `text`: scheme and host in lower case, the port as a number
 * (no leading zeros), the default one dropped (80 for http, 443 for https, and an empty one),
 * an http(s) path cleaned as Go's path.Clean() does (runs of '/', "." and ".." segments), every
 * trailing '/' of the path
 * dropped, the query kept exactly as written (Flux sends it with the index request: signed
 * urls), the fragment dropped (never sent). Userinfo, the path's case and its percent-encoding
 * are kept. Two urls whose index Flux fetches from the same place compare equal, and
 * normalizing twice changes nothing. Errors: those of og_url_parse() (OG_EINVAL, `diag`
 * filled), OG_ETOOBIG past the buffer's cap, OG_ENOMEM; `out` is unchanged on error.
 */
OG_NODISCARD enum og_err og_url_normalize(struct og_str text, struct og_buf *out,
                                          struct og_diag *diag);

/**
 * True when two normalized urls name the same Helm repository, whatever their scheme (an
 * http:// and an https:// url of the same host and path do).
 */
bool og_url_same_repo(struct og_str a, struct og_str b);

/**
 * Appends "scheme://host:port" of a parsed http(s) url in lower case, the port as a number,
 * the default one written out when absent or empty: the key under which connections to one server
 * are counted. OG_EINVAL when `u` is not http(s); OG_ETOOBIG, OG_ENOMEM; `out` unchanged on error.
 */
OG_NODISCARD enum og_err og_url_origin(const struct og_url *u, struct og_buf *out);

/**
 * The OCI repository base of an oci:// HelmRepository url, as a view into `url`: every
 * trailing '/' dropped, and a last path segment that names a chart version (`chart:tag`,
 * `chart@digest`, `chart-1.0.0.tgz`) dropped too, since Flux would take it as part of the
 * repository path. "oci://r.io/charts/redis:1.2/" gives "oci://r.io/charts". The host and
 * anything else are kept as written. `url` should be of kind OG_URL_OCI.
 */
struct og_str og_url_oci_base(struct og_str url);

/**
 * Appends the url of the index of the Helm repository at `base` as Flux's source-controller
 * builds it (path.Join(u.Path, "index.yaml")): "index.yaml" joined to the path with one '/'
 * whatever the path ends with, the path cleaned as path.Join cleans it (runs of '/', "." and
 * ".." segments), the query kept after it (signed urls), a fragment dropped.
 * `https://example.com/charts/?sig=x#top` gives `https://example.com/charts/index.yaml?sig=x`.
 * A plain join: `base` is not checked (the fetcher does that). The one join for every user:
 * the fetcher, the CLI and the warnings. OG_ENOMEM, or OG_ETOOBIG past the buffer's cap; `out`
 * unchanged on error.
 */
OG_NODISCARD enum og_err og_url_index_yaml(struct og_str base, struct og_buf *out);

/** What a chart url in an index is (og_url_chart()). */
struct og_url_chart {
    enum og_url_kind kind; /**< OG_URL_OCI also for an Artifactory-style embedded reference */
    bool malformed;        /**< OCI without "<chart>:<tag>" or "<chart>@<digest>", or without a
                                base that may be written into an object */
    struct og_str base;    /**< view into the url: "oci://host[/path]", empty when none */
};

/**
 * Classifies urls[0] of an index entry (surrounding whitespace ignored) and finds its OCI
 * base, as helm_index.h documents: "oci://host/path/<chart>:<tag>" (or "@<digest>") has the
 * base "oci://host/path"; an http(s) url whose path embeds "/oci://..." (Artifactory) is OCI
 * with the base of the embedded reference; other http(s) urls keep their kind; anything else
 * is OG_URL_OTHER or OG_URL_NONE. A base is only given when it parses, holds no userinfo and
 * only letters, digits and "-._~/:%" (brackets around an IPv6 host): an index is anyone's
 * text, and a base may end up in a patch.
 */
void og_url_chart(struct og_str url, struct og_url_chart *out);

/** What og_url_redact() writes in place of a secret, as Go's URL.Redacted() does. */
#define OG_URL_REDACTED "xxxxx"

/**
 * Appends `text` as it may be shown to people (logs, warnings, audit annotations, messages,
 * CLI reports): the same bytes with the credentials of its userinfo replaced by
 * OG_URL_REDACTED, modelled on Go's URL.Redacted():
 *   "https://user:secret@h/x"  gives "https://user:xxxxx@h/x" (the user name is kept, as Go
 *                                    keeps it; an empty password "user:@" is redacted too)
 *   "https://TOKEN@h/x"        gives "https://xxxxx@h/x": unlike Go, a user name without a
 *                                    password is hidden, since that is where a token goes
 *                                    ("https://<token>@github.com/..."); "https://@h" stays
 * The userinfo is split at its first ':' (percent-encoded ":" and "@" are part of the parts).
 * Robust on malformed text, which never shows a secret for failing to parse: when `text`
 * does not parse (og_url_parse()) and holds an '@' after its "scheme://" (its start when it has
 * none), everything from there up to the last '@' of its authority (or, when the authority
 * holds none, the last '@' of the text: a password with a raw '/', '?' or '#' ends the
 * authority early) is replaced, user name included. Nothing else changes: no normalizing.
 * A url that parses without userinfo is appended as it is. Query parameters (signed urls) are
 * not redacted. For urls that are data the user applies (a patch, a manifest `fix` rewrites),
 * use the url itself. Reserves its room at once (at most text.len + 5 bytes) and allocates
 * nothing else: OG_ETOOBIG past the buffer's cap, OG_ENOMEM; `out` unchanged on error.
 * Pure and reentrant.
 */
OG_NODISCARD enum og_err og_url_redact(struct og_str text, struct og_buf *out);

/**
 * True when `host` is a bare host as an allow list holds it: a DNS name (letters, digits, '-'
 * and '.', not starting with '.' or '-', at most 253 bytes) or an IPv4 or IPv6 address
 * without brackets. No scheme, port, path or brackets.
 */
bool og_url_host_valid(struct og_str host);

/**
 * True when hosts `a` and `b` are the same, ASCII case ignored, and brackets around an IPv6
 * address ignored on either side ("[FD00::5]" equals "fd00::5").
 */
bool og_url_host_eq(struct og_str a, struct og_str b);

#endif
