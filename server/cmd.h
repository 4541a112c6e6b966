/*
 * cmd.h - the subcommands of the ocigate binary. Each takes the arguments after its own name
 * (argv[0] is the subcommand) and returns the process exit status: 0 success, 1 failure at
 * run time, 2 bad usage or invalid input.
 */
#ifndef SRV_CMD_H
#define SRV_CMD_H

struct srv_cmd {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

/** `ocigate certs`: a CA and a serving certificate (server/cmd_certs.c). */
int srv_cmd_certs(int argc, char **argv);

/** `ocigate serve`: the admission webhook server (server/cmd_serve.c). */
int srv_cmd_serve(int argc, char **argv);

/** `ocigate config check FILE | default` (server/cmd_config.c). */
int srv_cmd_config(int argc, char **argv);

/** `ocigate index analyze FILE|-` (server/cmd_index.c). */
int srv_cmd_index(int argc, char **argv);

/** `ocigate check [options] PATH...`: the policy as a CI gate (cli/cmd_check.c). */
int srv_cmd_check(int argc, char **argv);

/** `ocigate fix [--dry-run] PATH...`: fixes HelmRepositories in place (cli/cmd_fix.c). */
int srv_cmd_fix(int argc, char **argv);

/** `ocigate migrate [options] PATH...`: plans OCIRepository + chartRef batches (cli/cmd_migrate.c).
 */
int srv_cmd_migrate(int argc, char **argv);

#endif
