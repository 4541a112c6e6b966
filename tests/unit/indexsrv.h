/*
 * indexsrv.h - starts tests/integration/indexsrv.py (the test Helm index server, on
 * 127.0.0.1 only) from a C unit test and reads its request counters.
 */
#ifndef OG_TEST_INDEXSRV_H
#define OG_TEST_INDEXSRV_H

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

struct og_indexsrv {
    pid_t pid;
    int stdin_fd; /* closing it makes the server exit */
    int port;
    int sentinel_port; /* 0 without a sentinel */
    char base[64];     /* "http://127.0.0.1:PORT" */
};

/* Reads one line from `fd` (byte at a time: the child prints only a couple of lines). */
static inline int og_indexsrv_line(int fd, char *line, size_t size)
{
    size_t n = 0;

    while (n + 1 < size) {
        char c;
        ssize_t r = read(fd, &c, 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        if (c == '\n')
            break;
        line[n++] = c;
    }
    line[n] = '\0';
    return 0;
}

/* Starts the server; `sentinel` is a second loopback address to watch, or NULL. 0 on
 * success. */
static inline int og_indexsrv_start_tls(struct og_indexsrv *s, const char *sentinel,
                                        const char *cert, const char *key);

static inline int og_indexsrv_start(struct og_indexsrv *s, const char *sentinel)
{
    return og_indexsrv_start_tls(s, sentinel, NULL, NULL);
}

/* Runs `script` with /bin/sh; returns its exit status (or -1). */
static inline int og_sh(const char *script)
{
    static char sh[] = "/bin/sh", dash_c[] = "-c";
    char *argv[] = {sh, dash_c, (char *)(uintptr_t)script, NULL};
    pid_t pid;
    int st = 0;

    if (posix_spawn(&pid, sh, NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}

/* Starts the server, over HTTPS when `cert` and `key` are given (the base url says so). */
static inline int og_indexsrv_start_tls(struct og_indexsrv *s, const char *sentinel,
                                        const char *cert, const char *key)
{
    static char python[] = "/usr/bin/python3",
                script[] = OG_SOURCE_DIR "/tests/integration/indexsrv.py", flag[] = "--sentinel",
                tls[] = "--tls";
    char addr[64], cert_arg[512], key_arg[512];
    char *argv[] = {python, script, flag, addr, NULL, NULL, NULL, NULL};
    int n = 4;
    int in[2], out[2];
    posix_spawn_file_actions_t fa;
    char line[128];
    char *end;

    memset(s, 0, sizeof(*s));
    if (sentinel == NULL)
        n = 2;
    else
        snprintf(addr, sizeof(addr), "%s", sentinel);
    if (cert != NULL && key != NULL) {
        snprintf(cert_arg, sizeof(cert_arg), "%s", cert);
        snprintf(key_arg, sizeof(key_arg), "%s", key);
        argv[n++] = tls;
        argv[n++] = cert_arg;
        argv[n++] = key_arg;
    }
    argv[n] = NULL;
    if (pipe(in) != 0 || pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (posix_spawn(&s->pid, argv[0], &fa, NULL, argv, environ) != 0) {
        posix_spawn_file_actions_destroy(&fa);
        return -1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    s->stdin_fd = in[1];
    if (og_indexsrv_line(out[0], line, sizeof(line)) != 0 || strncmp(line, "port ", 5) != 0)
        goto fail;
    s->port = (int)strtol(line + 5, &end, 10);
    if (sentinel != NULL) {
        if (og_indexsrv_line(out[0], line, sizeof(line)) != 0 || strncmp(line, "sentinel ", 9) != 0)
            goto fail;
        s->sentinel_port = (int)strtol(line + 9, &end, 10);
    }
    close(out[0]);
    snprintf(s->base, sizeof(s->base), "%s://127.0.0.1:%d", cert != NULL ? "https" : "http",
             s->port);
    return 0;
fail:
    close(out[0]);
    close(s->stdin_fd);
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    return -1;
}

static inline void og_indexsrv_stop(struct og_indexsrv *s)
{
    if (s->pid <= 0)
        return;
    close(s->stdin_fd);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static inline size_t og_indexsrv_sink(char *data, size_t size, size_t nmemb, void *ud)
{
    cJSON **out = ud;
    size_t n = size * nmemb;

    /* The stats document is tiny and arrives in one piece from http.server. */
    if (*out == NULL)
        *out = cJSON_ParseWithLength(data, n);
    return n;
}

/* GETs /_stats or /_reset (plain libcurl, no guard) and returns the parsed JSON or NULL. */
static inline cJSON *og_indexsrv_get_json(const struct og_indexsrv *s, const char *path)
{
    char url[128];
    cJSON *doc = NULL;
    CURL *e = curl_easy_init();

    if (e == NULL)
        return NULL;
    snprintf(url, sizeof(url), "%s%s", s->base, path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, og_indexsrv_sink);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &doc);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 5000L);
    if (curl_easy_perform(e) != CURLE_OK) {
        cJSON_Delete(doc);
        doc = NULL;
    }
    curl_easy_cleanup(e);
    return doc;
}

/* The number `group`[`path`] of the stats when `path` is a path ("/..."), else the counter
 * `path` ("connections", "sentinel_connections", "not_modified"); 0 when absent, -1 when the
 * stats cannot be read. */
static inline long og_indexsrv_stat(const struct og_indexsrv *s, const char *group,
                                    const char *path)
{
    cJSON *doc = og_indexsrv_get_json(s, "/_stats");
    const cJSON *item;
    long n = -1;

    if (doc == NULL)
        return -1;
    if (path[0] == '/')
        item = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, group), path);
    else
        item = cJSON_GetObjectItemCaseSensitive(doc, path);
    n = cJSON_IsNumber(item) ? (long)item->valuedouble : 0;
    cJSON_Delete(doc);
    return n;
}

/* Requests the server saw for `path`, or a counter ("connections", "sentinel_connections")
 * when `path` is such a name; -1 when the stats cannot be read. */
static inline long og_indexsrv_count(const struct og_indexsrv *s, const char *path)
{
    return og_indexsrv_stat(s, "requests", path);
}

/* Response bytes the server wrote for `path` (status line and headers included). */
static inline long og_indexsrv_bytes_sent(const struct og_indexsrv *s, const char *path)
{
    return og_indexsrv_stat(s, "bytes_sent", path);
}

/* The value of request header `name` (lower case) of the last request, as a new string. */
static inline char *og_indexsrv_last_header(const struct og_indexsrv *s, const char *name)
{
    cJSON *doc = og_indexsrv_get_json(s, "/_stats");
    const cJSON *item;
    char *v = NULL;

    if (doc == NULL)
        return NULL;
    item = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, "last_headers"),
                                            name);
    if (cJSON_IsString(item))
        v = strdup(item->valuestring);
    cJSON_Delete(doc);
    return v;
}

static inline void og_indexsrv_reset(const struct og_indexsrv *s)
{
    cJSON_Delete(og_indexsrv_get_json(s, "/_reset"));
}

/* A TCP port on 127.0.0.1 with nothing listening (bound, then closed). */
static inline int og_closed_port(void)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

#endif
