/* NumPy-exact numeric helpers for the validators' formulas.
 *
 * The Ultralytics metrics and pycocotools are written with NumPy; these
 * reproduce the NumPy functions they call, down to the order of the
 * floating-point operations where that order is specified by NumPy's C code
 * (linspace, interp, pairwise summation of add.reduce), so that yoloc's
 * numbers agree with theirs to the last bits rather than to a tolerance.
 * Not here: np.convolve (its dot product may go through BLAS; the smoothing
 * in metrics.c sums in index order and says so). */
#ifndef YOLOC_EVAL_NPMATH_H
#define YOLOC_EVAL_NPMATH_H

#include <stddef.h>

/* np.linspace(start, stop, num)[i]: i * ((stop - start) / (num - 1)) + start,
 * the last one exactly stop. */
double np_linspace_at(double start, double stop, size_t num, size_t i);

/* np.interp(x, xp, fp, left, right) for one x; xp ascending (ties allowed:
 * the last index j with xp[j] <= x is used, as NumPy's binary search does);
 * n >= 1. */
double np_interp(double x, const double *xp, const double *fp, size_t n, double left, double right);

/* np.sum / add.reduce of a contiguous float64 array: NumPy's pairwise
 * summation (8 accumulators over blocks of up to 128, halving above). */
double np_sum(const double *a, size_t n);

#endif
