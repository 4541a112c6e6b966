/*
 * main.c - the ocigate binary: one front for every subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "log.h"

static int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("ocigate %s\n", OG_VERSION);
    return 0;
}

/* One row per subcommand; each lives in its own server/cmd_<name>.c or cli/cmd_<name>.c. */
static const struct srv_cmd commands[] = {
    {"version", "print the version", cmd_version},
    {"certs", "make a CA and a serving certificate", srv_cmd_certs},
    {"serve", "run the admission webhook over HTTPS", srv_cmd_serve},
    {"config", "check a config file or print the default one", srv_cmd_config},
    {"index", "analyze a Helm repository index", srv_cmd_index},
    {"check", "check manifests against the policy (a CI gate)", srv_cmd_check},
    {"fix", "fix HelmRepository manifests in place", srv_cmd_fix},
    {"migrate", "plan HelmReleases' move to OCIRepository + chartRef", srv_cmd_migrate},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: ocigate <command> [options]\n"
                 "\n"
                 "commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\nRun 'ocigate <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "ocigate: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
