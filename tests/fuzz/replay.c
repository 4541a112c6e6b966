/*
 * replay.c - runs a libFuzzer target without libFuzzer: feeds every file of the directory
 * argv[1] to LLVMFuzzerTestOneInput, so that ctest replays each corpus in ordinary builds.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Reads the regular file `path` into a new buffer; NULL when it cannot. */
static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *data = NULL;

    if (f == NULL)
        return NULL;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode)) {
        /* One spare byte so that an empty file still gets a non-NULL buffer. */
        data = malloc((size_t)st.st_size + 1);
        if (data != NULL && fread(data, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        *len = (size_t)st.st_size;
    }
    fclose(f);
    return data;
}

int main(int argc, char **argv)
{
    DIR *dir;
    struct dirent *de;
    int passed = 0, failed = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    dir = opendir(argv[1]);
    if (dir == NULL) {
        perror(argv[1]);
        return 1;
    }
    while ((de = readdir(dir)) != NULL) {
        char path[4096];
        uint8_t *data;
        size_t len = 0;
        int n;

        if (de->d_name[0] == '.')
            continue;
        n = snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            failed++;
            continue;
        }
        data = slurp(path, &len);
        if (data == NULL) {
            fprintf(stderr, "replay: cannot read %s\n", path);
            failed++;
            continue;
        }
        /* A crash or sanitizer report ends the process; returning means the input passed. */
        (void)LLVMFuzzerTestOneInput(data, len);
        free(data);
        passed++;
    }
    closedir(dir);
    printf("%d passed, %d failed\n", passed, failed);
    return failed > 0 || passed == 0 ? 1 : 0;
}
