#include "harness.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "config_int.h"
#include "key_flags.h"
#include "ocigate/config.h"
#include "reload.h"

/* A snapshot built the way `serve` builds it (srv_config_build()) from one key flag. */
static enum og_err build_with_flag(const char *name, const char *value, struct og_config **out,
                                   struct og_diag *diag)
{
    struct srv_key_flag_arg arg = {srv_key_flag_find(name), value};
    struct srv_config_flags flags = {.path = NULL, .args = &arg, .n_args = 1};

    if (arg.flag == NULL)
        OG_FAIL_("no flag --%s", name);
    og_diag_clear(diag);
    return srv_config_build(&flags, out, diag);
}

/* A snapshot from a config file holding `yaml`. */
static enum og_err parse_file(const char *yaml, struct og_config **out, struct og_diag *diag)
{
    og_diag_clear(diag);
    return og_config_parse(yaml, strlen(yaml), NULL, out, diag);
}

/* The flag of key `path`, or NULL. */
static const struct srv_key_flag *flag_of(const char *path)
{
    for (const struct srv_key_flag *f = srv_key_flags; f->name != NULL; f++) {
        if (strcmp(f->key, path) == 0)
            return f;
    }
    return NULL;
}

/* The YAML that sets key `k` to the scalar `text` (quoted for the string types). */
static void yaml_for(const struct og__key *k, const char *text, char *out, size_t size)
{
    const char *dot = strchr(k->path, '.');
    bool quote = og__config_type_is_string(k->type == OG__KEY_LIST ? k->item : k->type);
    char value[256];

    snprintf(value, sizeof(value), quote ? "\"%s\"" : "%s", text);
    if (dot == NULL)
        snprintf(out, size, "%s: %s\n", k->path, value);
    else if (k->type == OG__KEY_LIST)
        snprintf(out, size, "%.*s:\n  %s:\n    - %s\n", (int)(dot - k->path), k->path, dot + 1,
                 value);
    else
        snprintf(out, size, "%.*s:\n  %s: %s\n", (int)(dot - k->path), k->path, dot + 1, value);
}

/*
 * Every index.* key and maxBodyBytes, each as a file value and as its serve flag: both must
 * give the same effective value, or both refuse it with the same message. A key without a
 * flag fails, so a new index.* key cannot be forgotten.
 */
OG_TEST(every_index_key_same_as_file_and_flag)
{
    static const char *const uint_texts[] = {"64", "0", "-1", "12x", "99999999999999999999"};
    static const char *const size_texts[] = {"8M", "8Mi", "64Mi", "2Mi",   "1000",
                                             "1k", "2Gi", "8MB",  "1.5Mi", "-1"};
    static const char *const duration_texts[] = {"90m",  "1500ms", "2s",  "5m",   "0",  "60",
                                                 "1.5s", "1h30m",  "1ms", "169h", "-1s"};
    static const char *const bool_texts[] = {"true", "false", "yes", "1"};
    static const char *const host_texts[] = {
        "fd00::5",   "charts.example.com", "LOCALHOST", "10.1.2.3",
        "[fd00::5]", "http://x",           "a b",       "h:80"};
    static const char *const cidr_texts[] = {
        "10.0.0.0/8", "fd00::/8", "127.0.0.1/32", "10.0.0.0/33", "10.1.0.0/8", "10.0.0.1", "x/8"};
    size_t keys = 0;

    for (const struct og__key *k = og__config_keys; k->path != NULL; k++) {
        const struct srv_key_flag *f;
        enum og__key_type type = k->type == OG__KEY_LIST ? k->item : k->type;
        const char *const *texts = NULL;
        const char *extra[16];
        char lo[32], hi[32], over[40];
        size_t n = 0, n_ok = 0, n_changed = 0, n_bad = 0;

        if ((strncmp(k->path, "index.", 6) != 0 || k->type == OG__KEY_SECTION) &&
            strcmp(k->path, "maxBodyBytes") != 0)
            continue;
        keys++;
        f = flag_of(k->path);
        if (f == NULL)
            OG_FAIL_("key %s has no serve flag in srv_key_flags[]", k->path);
        switch (type) {
        case OG__KEY_UINT:
            texts = uint_texts;
            n = sizeof(uint_texts) / sizeof(uint_texts[0]);
            break;
        case OG__KEY_SIZE:
            texts = size_texts;
            n = sizeof(size_texts) / sizeof(size_texts[0]);
            break;
        case OG__KEY_DURATION:
            texts = duration_texts;
            n = sizeof(duration_texts) / sizeof(duration_texts[0]);
            break;
        case OG__KEY_BOOL:
            texts = bool_texts;
            n = sizeof(bool_texts) / sizeof(bool_texts[0]);
            break;
        case OG__KEY_HOST:
            texts = host_texts;
            n = sizeof(host_texts) / sizeof(host_texts[0]);
            break;
        case OG__KEY_CIDR:
            texts = cidr_texts;
            n = sizeof(cidr_texts) / sizeof(cidr_texts[0]);
            break;
        case OG__KEY_ENUM:
            break;
        default:
            OG_FAIL_("key %s: no test values for its type", k->path);
        }
        for (size_t i = 0; i < n; i++)
            extra[i] = texts[i];
        if (type == OG__KEY_ENUM) {
            for (size_t i = 0; k->names[i] != NULL; i++)
                extra[n++] = k->names[i];
            extra[n++] = "bogus";
            extra[n++] = "Newest";
        } else if (type == OG__KEY_UINT || type == OG__KEY_SIZE || type == OG__KEY_DURATION) {
            /* The limits themselves, and one past the top, in the key's own notation. */
            extra[n++] = og__config_num_format(k, k->min, lo, sizeof(lo));
            extra[n++] = og__config_num_format(k, k->max, hi, sizeof(hi));
            snprintf(over, sizeof(over), "%llu%s", (unsigned long long)k->max + 1,
                     type == OG__KEY_DURATION ? (k->unit_ms == 1 ? "ms" : "s") : "");
            extra[n++] = over;
        }
        for (size_t i = 0; i < n; i++) {
            struct og_config *from_file = NULL, *from_flag = NULL, *defaults = NULL;
            struct og_diag fd, gd;
            char yaml[512], where[64];
            enum og_err frc, grc;

            yaml_for(k, extra[i], yaml, sizeof(yaml));
            frc = parse_file(yaml, &from_file, &fd);
            grc = build_with_flag(f->name, extra[i], &from_flag, &gd);
            if (frc != grc)
                OG_FAIL_("%s \"%s\": file gives %s (%s), --%s gives %s (%s)", k->path, extra[i],
                         og_strerror(frc), fd.msg, f->name, og_strerror(grc), gd.msg);
            if (frc != OG_OK) {
                /* Refused by both, with the very same message; the flag names itself. */
                ASSERT_STR_EQ(gd.msg, fd.msg);
                snprintf(where, sizeof(where), "--%s", f->name);
                ASSERT_STR_EQ(gd.where, where);
                n_bad++;
                continue;
            }
            n_ok++;
            ASSERT_EQ(og_config_new(&defaults), OG_OK);
            if (k->type == OG__KEY_LIST) {
                char **fl = *(char ***)(void *)((char *)from_file + k->off);
                char **gl = *(char ***)(void *)((char *)from_flag + k->off);

                ASSERT_EQ(*(size_t *)(void *)((char *)from_file + k->n_off), 1);
                ASSERT_EQ(*(size_t *)(void *)((char *)from_flag + k->n_off), 1);
                ASSERT_STR_EQ(gl[0], fl[0]);
                n_changed++;
            } else {
                uint64_t fv = og__config_get_num(k, from_file);

                if (og__config_get_num(k, from_flag) != fv)
                    OG_FAIL_("%s \"%s\": file gives %llu, --%s gives %llu", k->path, extra[i],
                             (unsigned long long)fv, f->name,
                             (unsigned long long)og__config_get_num(k, from_flag));
                n_changed += fv != og__config_get_num(k, defaults);
            }
            /* Nothing else differs: the flag set its own key and no other. */
            {
                struct og_buf a, b;

                og_buf_init(&a, 1u << 20);
                og_buf_init(&b, 1u << 20);
                ASSERT_EQ(og_config_format(from_file, &a), OG_OK);
                ASSERT_EQ(og_config_format(from_flag, &b), OG_OK);
                ASSERT_EQ(a.len, b.len);
                ASSERT(memcmp(a.ptr, b.ptr, a.len) == 0);
                og_buf_cleanup(&a);
                og_buf_cleanup(&b);
            }
            og_config_unref(defaults);
            og_config_unref(from_file);
            og_config_unref(from_flag);
        }
        /* Each key saw a value that changes it and one that both refuse. */
        if (n_ok == 0 || n_changed == 0 || n_bad == 0)
            OG_FAIL_("%s: %zu accepted, %zu changed, %zu refused", k->path, n_ok, n_changed, n_bad);
    }
    ASSERT(keys >= 15);
}

/* Regression: a size means the same in the file and as a flag (was 8388608 for the flag). */
OG_TEST(max_body_8M_is_8000000_both_ways)
{
    struct og_config *cfg = NULL;
    struct og_diag d;

    ASSERT_EQ(build_with_flag("max-body", "8M", &cfg, &d), OG_OK);
    ASSERT_EQ(cfg->max_body, 8000000);
    og_config_unref(cfg);
    ASSERT_EQ(parse_file("maxBodyBytes: 8M\n", &cfg, &d), OG_OK);
    ASSERT_EQ(cfg->max_body, 8000000);
    og_config_unref(cfg);
    ASSERT_EQ(build_with_flag("max-body", "8Mi", &cfg, &d), OG_OK);
    ASSERT_EQ(cfg->max_body, 8u << 20);
    og_config_unref(cfg);
}

/* Regression: an IPv6 host is accepted as a flag as in the file (was refused for the ':'). */
OG_TEST(allow_host_ipv6_like_the_file)
{
    struct og_config *cfg = NULL;
    struct og_diag d;

    ASSERT_EQ(build_with_flag("index-allow-host", "fd00::5", &cfg, &d), OG_OK);
    ASSERT_EQ(cfg->index.n_allow_hosts, 1);
    ASSERT_STR_EQ(cfg->index.allow_hosts[0], "fd00::5");
    og_config_unref(cfg);
    cfg = NULL;
    ASSERT_EQ(build_with_flag("index-allow-host", "[fd00::5]", &cfg, &d), OG_EINVAL);
    ASSERT(cfg == NULL);
    ASSERT_STR_EQ(d.where, "--index-allow-host");
    ASSERT_STR_EQ(d.msg, "invalid host \"[fd00::5]\" (expected a host name or IP address, "
                         "without scheme or port)");
}

OG_TEST(flags_apply_over_the_file)
{
    static const struct {
        const char *name, *value;
    } given[] = {
        {"mode", "enforce"},
        {"max-body", "2Mi"},
        {"index-enabled", "false"},
        {"index-threshold", "any"},
        {"index-ttl", "1m"},
        {"index-negative-ttl", "5s"},
        {"index-cache-entries", "16"},
        {"index-max-fetches", "4096"},
        {"index-max-fetches-per-host", "1"},
        {"index-budget", "0"},
        {"index-connect-timeout", "100ms"},
        {"index-timeout", "1s"},
        {"index-max-bytes", "2M"},
        {"index-on-unknown", "deny"},
        {"index-allow-host", "charts.internal"},
        {"index-allow-cidr", "10.20.0.0/16"},
        {"index-allow-cidr", "fd00::/8"},
        {"index-ttl", "2m"}, /* a later flag beats an earlier one */
    };
    struct srv_key_flag_arg args[sizeof(given) / sizeof(given[0])];
    struct og_config *cfg = NULL;
    struct og_diag d;
    static const char yaml[] = "mode: audit\nindex: {ttl: 5m, allowHosts: [from.file]}\n";

    for (size_t i = 0; i < sizeof(given) / sizeof(given[0]); i++) {
        args[i].flag = srv_key_flag_find(given[i].name);
        args[i].value = given[i].value;
        ASSERT(args[i].flag != NULL);
    }
    ASSERT_EQ(parse_file(yaml, &cfg, &d), OG_OK);
    ASSERT_EQ(srv_key_flags_apply(args, sizeof(args) / sizeof(args[0]), cfg, &d), OG_OK);
    ASSERT_EQ(cfg->mode, OG_MODE_ENFORCE);
    ASSERT_EQ(cfg->max_body, 2u << 20);
    ASSERT_EQ(cfg->index.enabled, false);
    ASSERT_EQ(cfg->index.threshold, OG_INDEX_THRESHOLD_ANY);
    ASSERT_EQ(cfg->index.ttl_s, 120);
    ASSERT_EQ(cfg->index.negative_ttl_s, 5);
    ASSERT_EQ(cfg->index.cache_entries, 16);
    ASSERT_EQ(cfg->index.max_fetches, 4096);
    ASSERT_EQ(cfg->index.max_fetches_per_host, 1);
    ASSERT_EQ(cfg->index.budget_ms, 0);
    ASSERT_EQ(cfg->index.connect_timeout_ms, 100);
    ASSERT_EQ(cfg->index.fetch_timeout_ms, 1000);
    ASSERT_EQ(cfg->index.max_bytes, 2000000u);
    ASSERT_EQ(cfg->index.on_unknown, OG_ON_UNKNOWN_DENY);
    /* List flags add to the file's list. */
    ASSERT_EQ(cfg->index.n_allow_hosts, 2);
    ASSERT_STR_EQ(cfg->index.allow_hosts[0], "from.file");
    ASSERT_STR_EQ(cfg->index.allow_hosts[1], "charts.internal");
    ASSERT_EQ(cfg->index.n_allow_cidrs, 2);
    ASSERT_STR_EQ(cfg->index.allow_cidrs[1], "fd00::/8");
    og_config_unref(cfg);
}

OG_TEST(no_flags_change_nothing)
{
    struct og_config *cfg = NULL, *ref = NULL;
    struct og_buf a, b;

    ASSERT_EQ(og_config_new(&cfg), OG_OK);
    ASSERT_EQ(og_config_new(&ref), OG_OK);
    ASSERT_EQ(srv_key_flags_apply(NULL, 0, cfg, NULL), OG_OK);
    og_buf_init(&a, 1u << 20);
    og_buf_init(&b, 1u << 20);
    ASSERT_EQ(og_config_format(cfg, &a), OG_OK);
    ASSERT_EQ(og_config_format(ref, &b), OG_OK);
    ASSERT_EQ(a.len, b.len);
    ASSERT(memcmp(a.ptr, b.ptr, a.len) == 0);
    og_buf_cleanup(&a);
    og_buf_cleanup(&b);
    og_config_unref(cfg);
    og_config_unref(ref);
}

OG_TEST(bad_flags_are_named)
{
    static const struct {
        const char *name, *value, *msg;
    } rows[] = {
        {"index-enabled", "yes",
         "--index-enabled: invalid boolean \"yes\" (expected true or "
         "false)"},
        {"index-threshold", "most",
         "--index-threshold: invalid value \"most\" (expected newest "
         "or any)"},
        {"index-on-unknown", "maybe",
         "--index-on-unknown: invalid value \"maybe\" (expected "
         "allow or deny)"},
        {"index-ttl", "0s", "--index-ttl: duration \"0s\" is out of range (1s to 168h)"},
        {"index-ttl", "60", "--index-ttl: invalid duration \"60\" (expected a number with a unit"},
        {"index-negative-ttl", "25h", "--index-negative-ttl: duration \"25h\" is out of range"},
        {"index-cache-entries", "-1", "--index-cache-entries: invalid number \"-1\""},
        {"index-max-fetches", "0", "--index-max-fetches: number \"0\" is out of range (1 to 4096)"},
        {"index-max-fetches-per-host", "4097",
         "--index-max-fetches-per-host: number \"4097\" is out of range (1 to 4096)"},
        {"index-budget", "25001ms",
         "--index-budget: duration \"25001ms\" is out of range (0s to "
         "25s)"},
        {"index-connect-timeout", "99ms", "(100ms to 1m)"},
        {"index-timeout", "500ms",
         "--index-timeout: duration \"500ms\" is out of range (1s to "
         "10m)"},
        {"index-max-bytes", "2G", "--index-max-bytes: size \"2G\" is out of range (1Ki to 1Gi)"},
        {"index-max-bytes", "1000", "--index-max-bytes: size \"1000\" is out of range"},
        {"max-body", "1G", "--max-body: size \"1G\" is out of range (1Ki to 64Mi)"},
        {"mode", "strict",
         "--mode: invalid value \"strict\" (expected off, audit, mutate or "
         "enforce)"},
        {"index-allow-host", "http://x", "--index-allow-host: invalid host \"http://x\""},
        {"index-allow-cidr", "10.0.0.0/40",
         "--index-allow-cidr: invalid CIDR \"10.0.0.0/40\" "
         "(prefix length over 32)"},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct og_config *cfg = NULL;
        struct og_diag d;
        char line[512];

        if (build_with_flag(rows[i].name, rows[i].value, &cfg, &d) != OG_EINVAL)
            OG_FAIL_("--%s %s was not refused", rows[i].name, rows[i].value);
        ASSERT(cfg == NULL);
        ASSERT_STR_CONTAINS(og_diag_format(&d, line, sizeof(line)), rows[i].msg);
    }
}

/* A bad flag is reported even when the file is bad too, and a bad file still fails. */
OG_TEST(flags_are_checked_before_the_file)
{
    struct srv_key_flag_arg arg = {srv_key_flag_find("index-ttl"), "1x"};
    struct srv_config_flags flags = {
        .path = "/nonexistent-og-dir/config.yaml", .args = &arg, .n_args = 1};
    struct og_config *cfg = NULL;
    struct og_diag d;

    og_diag_clear(&d);
    ASSERT_EQ(srv_config_build(&flags, &cfg, &d), OG_EINVAL);
    ASSERT_STR_EQ(d.where, "--index-ttl");
    arg.value = "1h";
    ASSERT(srv_config_build(&flags, &cfg, &d) != OG_OK);
    ASSERT(cfg == NULL);
}

/* The help text comes from the key table: syntax, documentation, default. */
OG_TEST(usage_from_the_table)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);

    ASSERT(out != NULL);
    srv_key_flags_usage(out, srv_key_flags);
    fclose(out);
    for (const char *line = text; *line != '\0';) {
        size_t n = strcspn(line, "\n");

        if (n > 80)
            OG_FAIL_("help line longer than 80 columns: %.*s", (int)n, line);
        line += n + (line[n] == '\n');
    }
    for (const struct srv_key_flag *f = srv_key_flags; f->name != NULL; f++) {
        struct og_config_key_doc d;
        char want[128];

        ASSERT_EQ(og_config_key_describe(f->key, &d), OG_OK);
        snprintf(want, sizeof(want), "  --%s %s", f->name, d.syntax);
        ASSERT_STR_CONTAINS(text, want);
    }
    /* The text with every run of white space as one space: lines joined. */
    for (size_t i = 0, o = 0;; i++) {
        if ((text[i] == ' ' || text[i] == '\n') && o > 0 && text[o - 1] == ' ')
            continue;
        text[o++] = text[i] == '\n' ? ' ' : text[i];
        if (text[i] == '\0')
            break;
    }
    ASSERT_STR_CONTAINS(text, "--index-ttl DURATION How long an analysis stays fresh (1s to "
                              "168h). (index.ttl; default: 1h)");
    ASSERT_STR_CONTAINS(text, "(maxBodyBytes; default: 8Mi)");
    ASSERT_STR_CONTAINS(text, "(index.allowHosts; repeatable)");
    free(text);
    /* Every renamed flag points at a flag that exists. */
    for (const struct srv_key_flag_rename *r = srv_key_flag_renames; r->old_name != NULL; r++) {
        ASSERT(srv_key_flag_find(r->new_name) != NULL);
        ASSERT(srv_key_flag_find(r->old_name) == NULL);
    }
}

OG_TEST_MAIN(OG_T(every_index_key_same_as_file_and_flag), OG_T(max_body_8M_is_8000000_both_ways),
             OG_T(allow_host_ipv6_like_the_file), OG_T(flags_apply_over_the_file),
             OG_T(no_flags_change_nothing), OG_T(bad_flags_are_named),
             OG_T(flags_are_checked_before_the_file), OG_T(usage_from_the_table))
