/*
 * cmd_certs.c - `ocigate certs`: a CA and a serving certificate for the webhook.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "certs.h"
#include "cmd.h"
#include "ocigate/config.h"

#define MAX_HOSTS 64

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ocigate certs --out DIR [--host NAME]... [--days N]\n"
            "       ocigate certs --renew DIR [--host NAME]... [--days N]\n"
            "\n"
            "Makes an ECDSA P-256 CA and a serving certificate signed by it, writes\n"
            "DIR/ca.crt, DIR/tls.crt, DIR/tls.key and the CA's key DIR/ca.key (keys mode\n"
            "0600; keep ca.key out of the cluster), and prints the base64 caBundle (of\n"
            "ca.crt) for the webhook configurations on stdout.\n"
            "Existing files are never overwritten.\n"
            "\n"
            "--renew DIR makes a new key and serving certificate signed by the CA in DIR\n"
            "(ca.crt, ca.key), so the caBundle stays valid, for the SANs of the current\n"
            "DIR/tls.crt unless --host is given, and replaces DIR/tls.key and DIR/tls.crt\n"
            "atomically (a running 'ocigate serve' picks them up). It prints the caBundle.\n"
            "\n"
            "options:\n"
            "  --out DIR     output directory, created with mode 0700 if missing\n"
            "  --renew DIR   renew the serving certificate in DIR (instead of --out)\n"
            "  --host NAME   a DNS name or IP address for the subjectAltName; repeat for more;\n"
            "                the first is also the subject CN (default: localhost, 127.0.0.1;\n"
            "                with --renew: those of the current certificate)\n"
            "  --days N      validity in days, 1..36500 (default: 365; with --renew at most\n"
            "                the CA's remaining days)\n"
            "  -h, --help    show this help\n");
}

int srv_cmd_certs(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},  {"renew", required_argument, NULL, 'r'},
        {"host", required_argument, NULL, 'H'}, {"days", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    static const char *const default_hosts[] = {"localhost", "127.0.0.1"};
    const char *hosts[MAX_HOSTS];
    struct srv_certs_opts opts = {NULL, default_hosts, 2, 365};
    struct og_diag diag;
    char *bundle = NULL;
    size_t n_hosts = 0;
    const char *renew = NULL;
    unsigned days_given = 0;
    uint64_t days;
    int c;

    og_diag_clear(&diag);
    opterr = 0;
    optind = 1;
    for (c = getopt_long(argc, argv, ":h", longopts, NULL); c != -1;
         c = getopt_long(argc, argv, ":h", longopts, NULL)) {
        switch (c) {
        case 'o':
            opts.out_dir = optarg;
            break;
        case 'r':
            renew = optarg;
            break;
        case 'H':
            if (n_hosts == MAX_HOSTS) {
                fprintf(stderr, "ocigate certs: at most %d --host flags\n", MAX_HOSTS);
                return 2;
            }
            hosts[n_hosts++] = optarg;
            break;
        case 'd':
            og_diag_clear(&diag);
            if (og_config_value_parse(OG_CONFIG_NUMBER, optarg, strlen(optarg), 1, 36500, &days,
                                      &diag) != OG_OK) {
                fprintf(stderr, "ocigate certs: --days: %s\n", diag.msg);
                return 2;
            }
            opts.days = (unsigned)days;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case ':':
            fprintf(stderr, "ocigate certs: %s needs a value\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "ocigate certs: unknown option '%s'\n", argv[optind - 1]);
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ocigate certs: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if ((opts.out_dir == NULL) == (renew == NULL)) {
        fprintf(stderr, "ocigate certs: give either --out DIR or --renew DIR\n");
        usage(stderr);
        return 2;
    }
    if (n_hosts > 0) {
        opts.hosts = hosts;
        opts.n_hosts = n_hosts;
    }
    if (renew != NULL) {
        opts.out_dir = renew;
        if (n_hosts == 0)
            opts.n_hosts = 0; /* the current certificate's */
        if (srv_certs_renew(&opts, &bundle, &days_given, &diag) != OG_OK) {
            fprintf(stderr, "ocigate certs: %s\n", diag.msg);
            return 1;
        }
        printf("%s\n", bundle);
        free(bundle);
        fprintf(stderr,
                "ocigate certs: renewed %s/tls.crt and %s/tls.key (valid %u days, same CA)\n",
                renew, renew, days_given);
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (srv_certs_make(&opts, &bundle, &diag) != OG_OK) {
        fprintf(stderr, "ocigate certs: %s\n", diag.msg);
        return 1;
    }
    printf("%s\n", bundle);
    free(bundle);
    fprintf(stderr, "ocigate certs: wrote %s/ca.crt, %s/tls.crt, %s/tls.key and %s/ca.key\n",
            opts.out_dir, opts.out_dir, opts.out_dir, opts.out_dir);
    return fflush(stdout) == 0 ? 0 : 1;
}
