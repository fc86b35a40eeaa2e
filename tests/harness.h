/* A tiny test harness: checks print both values and file:line, count
 * failures, and the test's main() returns test_finish(). A test that cannot
 * run (missing ../shared/data) calls TEST_SKIP with the reason: exit code 77,
 * which CTest reports as skipped. */
#ifndef YOLOC_TEST_HARNESS_H
#define YOLOC_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int test_failures_ = 0;
static int test_checks_ = 0;

#define CHECK(cond)                                                              \
    do {                                                                         \
        test_checks_++;                                                          \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_MSG(cond, ...)                                                     \
    do {                                                                         \
        test_checks_++;                                                          \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                       \
    do {                                                                         \
        long long a_ = (long long)(a), b_ = (long long)(b);                      \
        test_checks_++;                                                          \
        if (a_ != b_) {                                                          \
            fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, #b, \
                    a_, b_);                                                     \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                    \
    do {                                                                         \
        double a_ = (double)(a), b_ = (double)(b), t_ = (double)(tol);           \
        test_checks_++;                                                          \
        if (!(fabs(a_ - b_) <= t_)) {                                            \
            fprintf(stderr, "%s:%d: |%s - %s| <= %g failed: %.9g vs %.9g (diff %.3g)\n", __FILE__, \
                    __LINE__, #a, #b, t_, a_, b_, fabs(a_ - b_));                 \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

#define CHECK_STR(a, b)                                                          \
    do {                                                                         \
        const char *a_ = (a), *b_ = (b);                                         \
        test_checks_++;                                                          \
        if (!a_ || !b_ || strcmp(a_, b_) != 0) {                                 \
            fprintf(stderr, "%s:%d: %s == %s failed: \"%s\" vs \"%s\"\n", __FILE__, __LINE__, #a, \
                    #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)");                 \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

/* Checks that a string contains a substring. */
#define CHECK_CONTAINS(hay, needle)                                              \
    do {                                                                         \
        const char *h_ = (hay), *n_ = (needle);                                  \
        test_checks_++;                                                          \
        if (!h_ || !strstr(h_, n_)) {                                            \
            fprintf(stderr, "%s:%d: \"%s\" does not contain \"%s\"\n", __FILE__, __LINE__, \
                    h_ ? h_ : "(null)", n_);                                     \
            test_failures_++;                                                    \
        }                                                                        \
    } while (0)

#define TEST_SKIP(...)                                                           \
    do {                                                                         \
        printf("SKIPPED: ");                                                     \
        printf(__VA_ARGS__);                                                     \
        printf("\n");                                                            \
        exit(77);                                                                \
    } while (0)

/* Compares two float arrays: max |a-b| <= atol + rtol*|b|. Prints the name,
 * the max difference and the tolerance; returns 1 when they match. */
static inline int test_allclose(const char *name, const float *a, const float *b, size_t n,
                                double rtol, double atol) {
    double maxd = 0, maxrel = 0;
    size_t worst = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        double lim = atol + rtol * fabs((double)b[i]);
        if (!(d <= lim)) bad++;
        if (d > maxd || d != d) {
            maxd = d;
            worst = i;
        }
        double rel = d / (fabs((double)b[i]) + 1e-12);
        if (rel > maxrel) maxrel = rel;
    }
    test_checks_++;
    if (bad) {
        fprintf(stderr, "  %-40s FAIL max|diff| %.3g at %zu (%.9g vs %.9g), %zu of %zu outside rtol %g atol %g\n",
                name, maxd, worst, (double)a[worst], (double)b[worst], bad, n, rtol, atol);
        test_failures_++;
        return 0;
    }
    if (getenv("YOLOC_TEST_VERBOSE"))
        printf("  %-40s ok   max|diff| %.3g (rtol %g atol %g)\n", name, maxd, rtol, atol);
    return 1;
}

/* Path under ../shared/data (relative to the source tree), or NULL when the
 * folder does not exist (a user's clone has no ../shared). */
static inline const char *test_shared_data(const char *rel, char *buf, size_t cap) {
    snprintf(buf, cap, "%s/../shared/data/%s", YOLOC_SOURCE_DIR, rel);
    struct stat st;
    return stat(buf, &st) == 0 ? buf : NULL;
}

static inline int test_finish(const char *name) {
    if (test_failures_) {
        fprintf(stderr, "%s: %d of %d checks FAILED\n", name, test_failures_, test_checks_);
        return 1;
    }
    printf("%s: %d checks passed\n", name, test_checks_);
    return 0;
}

#endif
