/* replay_main.c - runs fuzz_config.c's LLVMFuzzerTestOneInput on files,
 * without libFuzzer, so any C compiler (and `make test`, also with
 * SANITIZE=1) replays the seed corpus and every past crash:
 *
 *     fuzz-replay FILE_OR_DIR...
 *
 * A directory stands for the regular files in it (not recursive, dot
 * files skipped). A crash or sanitizer report ends the run; otherwise it
 * prints "fuzz replay: N input(s) ok" and exits 0. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;

    if (f == NULL) {
        perror(path);
        return -1;
    }
    do {
        if (len == cap) {
            char *grown = realloc(buf, cap ? cap * 2 : 4096);
            if (grown == NULL) {
                fclose(f);
                free(buf);
                return -1;
            }
            buf = grown;
            cap = cap ? cap * 2 : 4096;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    fclose(f);
    /* An exact-size copy, so ASan sees a read past the end. */
    {
        uint8_t *exact = malloc(len ? len : 1);
        if (exact == NULL) {
            free(buf);
            return -1;
        }
        if (len)
            memcpy(exact, buf, len);
        free(buf);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    return 0;
}

static int
replay(const char *path, unsigned *count)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    int rc = 0;

    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        (*count)++;
        return replay_file(path);
    }
    d = opendir(path);
    if (d == NULL) {
        perror(path);
        return -1;
    }
    while (rc == 0 && (e = readdir(d)) != NULL) {
        char full[4096];
        if (e->d_name[0] == '.')
            continue;
        snprintf(full, sizeof(full), "%s/%s", path, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode)) {
            (*count)++;
            rc = replay_file(full);
        }
    }
    closedir(d);
    return rc;
}

int
main(int argc, char **argv)
{
    unsigned count = 0;

    for (int i = 1; i < argc; i++)
        if (replay(argv[i], &count) != 0)
            return 1;
    printf("fuzz replay: %u input(s) ok\n", count);
    return 0;
}
