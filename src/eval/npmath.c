/* NumPy-exact linspace, interp and pairwise sum (see npmath.h). */
#include "eval/npmath.h"

double np_linspace_at(double start, double stop, size_t num, size_t i) {
    if (num < 2) return start;
    if (i == num - 1) return stop;
    double step = (stop - start) / (double)(num - 1);
    return (double)i * step + start;
}

/* Largest j with xp[j] <= x, given xp[0] <= x <= xp[n-1] (NumPy's
 * binary_search_with_guess returns this index for sorted xp, ties included). */
static size_t last_le(double x, const double *xp, size_t n) {
    size_t lo = 0, hi = n; /* answer in [lo, hi) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (x >= xp[mid])
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

double np_interp(double x, const double *xp, const double *fp, size_t n, double left,
                 double right) {
    if (x != x) return x;
    if (x > xp[n - 1]) return right;
    if (x < xp[0]) return left;
    size_t j = last_le(x, xp, n);
    if (j == n - 1) return fp[j];
    if (xp[j] == x) return fp[j];
    double slope = (fp[j + 1] - fp[j]) / (xp[j + 1] - xp[j]);
    double r = slope * (x - xp[j]) + fp[j];
    if (r != r) {
        r = slope * (xp[j + 1] - x) + fp[j + 1];
        if (r != r && fp[j] == fp[j + 1]) r = fp[j];
    }
    return r;
}

double np_sum(const double *a, size_t n) {
    if (n < 8) {
        double r = 0.0;
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i = 8;
        for (; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_sum(a, n2) + np_sum(a + n2, n - n2);
}
