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
            "\n"
            "Makes an ECDSA P-256 CA and a serving certificate signed by it, writes\n"
            "DIR/ca.crt, DIR/tls.crt and DIR/tls.key (mode 0600), and prints the base64\n"
            "caBundle (of ca.crt) for the webhook configurations on stdout.\n"
            "Existing files are never overwritten.\n"
            "\n"
            "options:\n"
            "  --out DIR     output directory, created with mode 0700 if missing (required)\n"
            "  --host NAME   a DNS name or IP address for the subjectAltName; repeat for more;\n"
            "                the first is also the subject CN (default: localhost, 127.0.0.1)\n"
            "  --days N      validity in days, 1..36500 (default: 365)\n"
            "  -h, --help    show this help\n");
}

int srv_cmd_certs(int argc, char **argv)
{
    static const struct option longopts[] = {{"out", required_argument, NULL, 'o'},
                                             {"host", required_argument, NULL, 'H'},
                                             {"days", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    static const char *const default_hosts[] = {"localhost", "127.0.0.1"};
    const char *hosts[MAX_HOSTS];
    struct srv_certs_opts opts = {NULL, default_hosts, 2, 365};
    struct og_diag diag;
    char *bundle = NULL;
    size_t n_hosts = 0;
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
    if (opts.out_dir == NULL) {
        fprintf(stderr, "ocigate certs: --out DIR is required\n");
        usage(stderr);
        return 2;
    }
    if (n_hosts > 0) {
        opts.hosts = hosts;
        opts.n_hosts = n_hosts;
    }
    if (srv_certs_make(&opts, &bundle, &diag) != OG_OK) {
        fprintf(stderr, "ocigate certs: %s\n", diag.msg);
        return 1;
    }
    printf("%s\n", bundle);
    free(bundle);
    fprintf(stderr, "ocigate certs: wrote %s/ca.crt, %s/tls.crt and %s/tls.key\n", opts.out_dir,
            opts.out_dir, opts.out_dir);
    return fflush(stdout) == 0 ? 0 : 1;
}
