/* Which CPU path and number format a command runs, decided and described
 * in one place for train, val, predict and bench.
 *
 * precision_resolve applies amp= through the ops rule (ops_amp_bf16: bf16
 * where the CPU has bf16 instructions) and says once why amp=True falls
 * back to fp32. precision_describe is the start-up line every command
 * prints: the CPU, the instruction set oneDNN's kernels use, the one
 * yoloc's own loops use, and the precision. */
#ifndef YOLOC_TRAIN_PRECISION_H
#define YOLOC_TRAIN_PRECISION_H

#include <stddef.h>
#include <stdio.h>

/* 1: convolutions in bf16 (model_options.bf16). With amp requested and no
 * native bf16, returns 0 and, when the user gave amp=True explicitly
 * (amp_given; the default is on), prints "amp=True: running fp32: <reason>"
 * to out (NULL: silent). */
int precision_resolve(int amp_requested, int amp_given, FILE *out);

/* "bf16" or "fp32", as bench.json's dtype. */
const char *precision_dtype(int bf16);

/* "cpu: <model>; oneDNN isa <isa>; yoloc kernels <isa>; precision <...>". */
void precision_describe(int bf16, char *buf, size_t cap);

#endif
