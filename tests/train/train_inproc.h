/* `yoloc train` in the test's own process: the tests of the trainer call it
 * with key=value tokens and read the run directory it fills. */
#ifndef YOLOC_TESTS_TRAIN_INPROC_H
#define YOLOC_TESTS_TRAIN_INPROC_H

#include "core/kv.h"
#include "dist/dist.h"
#include "train/config.h"
#include "train/trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Runs one training of n tokens (copied: kv_parse splits them in place) on
 * one process, its stdout to /dev/null; dir receives the run directory.
 * Returns the status. */
static status train_tokens(char *dir, size_t cap, int n, const char *const *tokens) {
    char *toks[64];
    if (n > 64) n = 64;
    for (int i = 0; i < n; i++) toks[i] = strdup(tokens[i]);
    config c;
    kv_args a;
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, n, toks);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    fflush(stdout);
    int saved = dup(1);
    if (!freopen("/dev/null", "w", stdout)) return YOLOC_ERR_IO;
    dist one;
    dist_single(&one);
    if (st == YOLOC_OK) st = train_run(&c, &one, dir, cap);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    config_free(&c);
    for (int i = 0; i < n; i++) free(toks[i]);
    return st;
}

#endif
