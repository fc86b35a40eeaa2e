/* Stand-in for libFuzzer when fuzz targets are built as ordinary tests:
 * feeds every file of the corpus folder given as argv[1] to the target, then
 * seeded random mutations of them (byte flips, truncations, insertions), so
 * `make test` exercises every parser on hostile input. A crash or sanitizer
 * report fails the test. */
#include "core/rng.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)(n > 0 ? n : 1));
    if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)(n > 0 ? n : 0);
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [iterations]\n", argv[0]);
        return 2;
    }
    int iters = argc > 2 ? atoi(argv[2]) : 300;
    DIR *dir = opendir(argv[1]);
    if (!dir) {
        fprintf(stderr, "%s: no corpus folder\n", argv[1]);
        return 1;
    }
    rng r;
    rng_seed(&r, 1234);
    int files = 0, runs = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        if (de->d_name[0] == '.') continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        size_t len;
        unsigned char *buf = read_all(path, &len);
        if (!buf) continue;
        files++;
        LLVMFuzzerTestOneInput(buf, len);
        runs++;
        unsigned char *mut = malloc(len + 64);
        for (int it = 0; it < iters; it++) {
            size_t n = len;
            memcpy(mut, buf, len);
            int edits = 1 + (int)rng_below(&r, 4);
            for (int e = 0; e < edits; e++) {
                uint32_t kind = rng_below(&r, 4);
                if (kind == 0 && n) { /* flip a byte */
                    mut[rng_below(&r, (uint32_t)n)] ^= (unsigned char)(1u << rng_below(&r, 8));
                } else if (kind == 1 && n) { /* truncate */
                    n = rng_below(&r, (uint32_t)n + 1);
                } else if (kind == 2 && n + 1 < len + 64) { /* insert a byte */
                    size_t at = rng_below(&r, (uint32_t)n + 1);
                    memmove(mut + at + 1, mut + at, n - at);
                    mut[at] = (unsigned char)rng_below(&r, 256);
                    n++;
                } else if (n) { /* set a random byte to an interesting value */
                    static const unsigned char vals[] = {0, 0xff, '"', '{', '[', ':', '\n', '-', '9'};
                    mut[rng_below(&r, (uint32_t)n)] = vals[rng_below(&r, sizeof vals)];
                }
            }
            unsigned char *exact = malloc(n ? n : 1); /* exact-size copy so ASan sees overreads */
            memcpy(exact, mut, n);
            LLVMFuzzerTestOneInput(exact, n);
            free(exact);
            runs++;
        }
        free(mut);
        free(buf);
    }
    closedir(dir);
    printf("%s: %d corpus files, %d inputs, no crash\n", argv[0], files, runs);
    return files > 0 ? 0 : 1;
}
