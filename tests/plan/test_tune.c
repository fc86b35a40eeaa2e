/* yoloc tune without training: the scrambled Halton sampler (deterministic
 * per seed, different across seeds, inside [0, 1), one point per cell of
 * b1^m1 x b2^m2 grids, a lower centred L2 discrepancy than random points),
 * the value mapping (ranges, log-uniform medians, integers, choices, trial 0
 * = the configured values), space files (forms, canonical choices, errors
 * naming file:line, the written space read back), the default space, the
 * rungs, the promotion rule on constructed fitness tables (a whole
 * sequential ASHA run included), the ranking, and results.csv written and
 * read back for resuming (and refused when it belongs to another search). */
#include "harness.h"
#include "core/rng.h"
#include "core/status.h"
#include "plan/tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Hickernell's centred L2 discrepancy (squared) of n points in d dims. */
static double cd2(const double *x, int n, int d) {
    double a = pow(13.0 / 12.0, d), b = 0, c = 0;
    for (int i = 0; i < n; i++) {
        double p = 1;
        for (int k = 0; k < d; k++) {
            double z = fabs(x[i * d + k] - 0.5);
            p *= 1 + 0.5 * z - 0.5 * z * z;
        }
        b += p;
        for (int j = 0; j < n; j++) {
            double q = 1;
            for (int k = 0; k < d; k++) {
                double zi = fabs(x[i * d + k] - 0.5), zj = fabs(x[j * d + k] - 0.5);
                q *= 1 + 0.5 * zi + 0.5 * zj - 0.5 * fabs(x[i * d + k] - x[j * d + k]);
            }
            c += q;
        }
    }
    return a - 2.0 / n * b + c / ((double)n * n);
}

static void test_sampler(void) {
    double u[TUNE_MAX_DIMS], v[TUNE_MAX_DIMS];
    /* deterministic per seed, different across seeds */
    int differ = 0;
    for (long i = 0; i < 20; i++) {
        tune_halton(7, i, 6, u);
        tune_halton(7, i, 6, v);
        CHECK(memcmp(u, v, sizeof(double) * 6) == 0);
        tune_halton(8, i, 6, v);
        for (int k = 0; k < 6; k++) differ += u[k] != v[k];
    }
    CHECK_MSG(differ > 100, "seeds 7 and 8 share %d of 120 coordinates", 120 - differ);
    /* inside [0, 1) */
    int inside = 1;
    for (long i = 0; i < 2000; i++) {
        tune_halton(3, i, TUNE_MAX_DIMS, u);
        for (int k = 0; k < TUNE_MAX_DIMS; k++) inside &= u[k] >= 0 && u[k] < 1;
    }
    CHECK(inside);
    /* one point per cell: base 2 (dim 0) x base 3 (dim 1), grids 2x3, 4x9,
     * 8x3; base 5 (dim 2) x base 7 (dim 3), 5x7 */
    int grids[4][4] = {{0, 2, 1, 3}, {0, 4, 1, 9}, {0, 8, 1, 3}, {2, 5, 3, 7}};
    for (int g = 0; g < 4; g++) {
        int da = grids[g][0], na = grids[g][1], db = grids[g][2], nb = grids[g][3];
        int cnt[81] = {0}, ok = 1;
        for (long i = 0; i < na * nb; i++) {
            tune_halton(11, i, 4, u);
            cnt[(int)(u[da] * na) * nb + (int)(u[db] * nb)]++;
        }
        for (int k = 0; k < na * nb; k++) ok &= cnt[k] == 1;
        CHECK_MSG(ok, "grid %dx%d of dims %d, %d: not one point per cell", na, nb, da, db);
    }
    /* low discrepancy: 7 points (a budget of 8) in 5 dims, against random */
    double h[7 * 5], r[7 * 5];
    for (int i = 0; i < 7; i++) tune_halton(0, i, 5, h + i * 5);
    double dh = cd2(h, 7, 5), mean = 0;
    int worse = 0, sets = 300;
    rng g;
    rng_seed(&g, 123);
    for (int s = 0; s < sets; s++) {
        for (int k = 0; k < 35; k++) r[k] = rng_uniform(&g);
        double dr = cd2(r, 7, 5);
        mean += dr / sets;
        worse += dr > dh;
    }
    printf("centred L2 discrepancy^2 of 7 points in 5 dims: Halton (seed 0) %.5f, random %.5f on average; %d of %d "
           "random sets are worse\n",
           dh, mean, worse, sets);
    CHECK(dh < 0.75 * mean);
    CHECK(worse > sets * 8 / 10);
    /* 64 points in 4 dims over seeds: always clearly below random */
    double big[64 * 4], rb[64 * 4], rmean = 0;
    for (int s = 0; s < 50; s++) {
        for (int k = 0; k < 64 * 4; k++) rb[k] = rng_uniform(&g);
        rmean += cd2(rb, 64, 4) / 50;
    }
    for (uint64_t seed = 0; seed < 5; seed++) {
        for (int i = 0; i < 64; i++) tune_halton(seed, i, 4, big + i * 4);
        double db = cd2(big, 64, 4);
        CHECK_MSG(db < 0.5 * rmean, "seed %d: %.5f against random %.5f", (int)seed, db, rmean);
    }
}

static void test_values(void) {
    tune_space s;
    const char *y = "lr0: [0.0001, 0.1]\n"
                    "momentum: [0.8, 0.95]\n"
                    "close_mosaic: [0, 4]\n"
                    "optimizer: [SGD, adamw]\n"
                    "batch: [8, 16]\n"
                    "warmup_epochs: {min: 0.5, max: 8, log: True}\n";
    status st = tune_space_parse(&s, y, strlen(y), "t.yaml");
    CHECK_EQ_INT(st, YOLOC_OK);
    if (st < 0) {
        fprintf(stderr, "%s\n", yoloc_last_error());
        return;
    }
    CHECK_EQ_INT(s.ndims, 6);
    CHECK_EQ_INT(s.dims[0].kind, TUNE_LOG);
    CHECK_EQ_INT(s.dims[1].kind, TUNE_UNIFORM);
    CHECK_EQ_INT(s.dims[2].kind, TUNE_INT);
    CHECK_EQ_INT(s.dims[3].kind, TUNE_CHOICE);
    CHECK_STR(s.dims[3].choices[1], "AdamW"); /* canonical */
    CHECK_EQ_INT(s.dims[4].kind, TUNE_CHOICE); /* batch: a list is choices */
    CHECK_EQ_INT(s.dims[4].nchoices, 2);
    CHECK_EQ_INT(s.dims[5].kind, TUNE_LOG);
    /* every value inside its range; medians: geometric for log, arithmetic
     * for uniform; every integer and choice taken */
    int N = 256, in = 1, below_geo = 0, below_mid = 0, below_geo_w = 0, ints[5] = {0}, opt_sgd = 0, b8 = 0;
    for (int t = 1; t <= N; t++) {
        char v[TUNE_MAX_DIMS][TUNE_VALUE_LEN];
        tune_trial_values(&s, 42, t, NULL, v);
        double lr = atof(v[0]), m = atof(v[1]), w = atof(v[5]);
        int cm = atoi(v[2]);
        in &= lr >= 1e-4 && lr <= 0.1 && m >= 0.8 && m <= 0.95 && cm >= 0 && cm <= 4 && w >= 0.5 && w <= 8;
        in &= strchr(v[2], '.') == NULL;
        below_geo += lr < sqrt(1e-4 * 0.1);
        below_geo_w += w < 2;
        below_mid += m < 0.875;
        if (cm >= 0 && cm <= 4) ints[cm]++;
        opt_sgd += strcmp(v[3], "SGD") == 0;
        b8 += strcmp(v[4], "8") == 0;
        in &= strcmp(v[3], "SGD") == 0 || strcmp(v[3], "AdamW") == 0;
        in &= strcmp(v[4], "8") == 0 || strcmp(v[4], "16") == 0;
    }
    CHECK(in);
    printf("256 trials: %d lr0 below the geometric middle 0.00316, %d momentum below 0.875, close_mosaic 0-4 taken "
           "%d/%d/%d/%d/%d times, SGD %d, batch 8 %d\n",
           below_geo, below_mid, ints[0], ints[1], ints[2], ints[3], ints[4], opt_sgd, b8);
    CHECK(abs(below_geo - N / 2) <= 2);  /* dim 0, base 2: stratified halves */
    CHECK(abs(below_mid - N / 2) <= 12); /* base 3 */
    CHECK(abs(below_geo_w - N / 2) <= 12);
    for (int k = 0; k < 5; k++) CHECK(ints[k] >= 40 && ints[k] <= 62);
    CHECK(opt_sgd >= 110 && opt_sgd <= 146);
    CHECK(b8 >= 110 && b8 <= 146);
    /* log scaling: a uniform range would put only ~3 % below 0.00316 */
    /* 4 significant digits */
    char v[TUNE_MAX_DIMS][TUNE_VALUE_LEN];
    tune_trial_values(&s, 42, 3, NULL, v);
    char re[64];
    snprintf(re, sizeof re, "%.4g", atof(v[0]));
    CHECK_STR(v[0], re);
    /* the edges: u = 0 gives lo, u -> 1 stays <= hi */
    char b[64];
    tune_dim_value(&s.dims[0], 0, b, sizeof b);
    CHECK_STR(b, "0.0001");
    tune_dim_value(&s.dims[0], 0.9999999999, b, sizeof b);
    CHECK(atof(b) <= 0.1);
    tune_dim_value(&s.dims[2], 0.9999999999, b, sizeof b);
    CHECK_STR(b, "4");
    /* trial 0: the configured values */
    config c;
    config_init(&c);
    config_set(&c, "lr0", "0.02", NULL);
    config_set(&c, "optimizer", "SGD", NULL);
    tune_trial_values(&s, 42, 0, &c, v);
    CHECK_STR(v[0], "0.02");
    CHECK_STR(v[1], "0.937");
    CHECK_STR(v[2], "10");
    CHECK_STR(v[3], "SGD");
    CHECK_STR(v[4], "16");
    CHECK_STR(v[5], "3");
    config_free(&c);
    /* the written space reads back to the same space */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    tune_space_write(&s, f);
    fclose(f);
    tune_space s2;
    CHECK_EQ_INT(tune_space_parse(&s2, text, len, "written"), YOLOC_OK);
    CHECK(memcmp(&s, &s2, sizeof s) == 0);
    free(text);
}

static void expect_error(const char *yaml, const char *needle) {
    tune_space s;
    status st = tune_space_parse(&s, yaml, strlen(yaml), "space.yaml");
    CHECK_MSG(st < 0, "accepted: %s", yaml);
    if (st < 0) CHECK_CONTAINS(yoloc_last_error(), needle);
}

static void test_space_errors(void) {
    expect_error("lr0: [0.001, 0.1]\nlr_zero: [1, 2]\n", "space.yaml:2: unknown key 'lr_zero'");
    expect_error("momentun: [0.8, 0.9]\n", "did you mean 'momentum'");
    expect_error("epochs: [1, 5]\n", "space.yaml:1: key 'epochs' cannot be searched");
    expect_error("model: [a.yaml, b.yaml]\n", "key 'model' cannot be searched");
    expect_error("momentum: [0.95, 0.9]\n", "space.yaml:1:11: key 'momentum': the range needs lo < hi");
    expect_error("momentum: [0.5, 1.5]\n", "leaves the key's allowed [0, 0.9999]");
    expect_error("weight_decay: [0, 0.001]\n", "a log-uniform range needs lo > 0");
    expect_error("optimizer: [SGD, Lion]\n", "space.yaml:1:18: key 'optimizer': 'Lion' is not one of");
    expect_error("lr0: 0.01\n", "space.yaml:1:6: key 'lr0': expected [lo, hi]");
    expect_error("lr0: {min: 0.001}\n", "a range needs min and max");
    expect_error("lr0: {min: 0.001, max: 0.1, step: 2}\n", "unknown field 'step'");
    expect_error("close_mosaic: [0.5, 3]\n", "an integer key needs whole numbers");
    expect_error("batch: [8, 8]\n", "choice '8' is listed twice");
    expect_error("lr0: [0.001, abc]\n", "expected a number");
    expect_error("", "at least one key");
    expect_error("- lr0\n", "expected a mapping");
}

static void test_default_space(void) {
    config c;
    config_init(&c);
    config_set(&c, "epochs", "6", NULL);
    tune_space s;
    tune_space_default(&s, &c, 1);
    CHECK_EQ_INT(s.ndims, 5);
    int i = tune_space_find(&s, "lr0");
    CHECK(i >= 0 && s.dims[i].kind == TUNE_LOG);
    if (i >= 0) {
        CHECK_NEAR(s.dims[i].lo, 0.003, 1e-12);
        CHECK_NEAR(s.dims[i].hi, 0.03, 1e-12);
    }
    i = tune_space_find(&s, "warmup_epochs");
    CHECK(i >= 0 && s.dims[i].kind == TUNE_UNIFORM);
    if (i >= 0) {
        CHECK_NEAR(s.dims[i].lo, 1, 0);
        CHECK_NEAR(s.dims[i].hi, 3, 0); /* at most half of 6 epochs */
    }
    i = tune_space_find(&s, "momentum");
    CHECK(i >= 0 && s.dims[i].lo == 0.85 && s.dims[i].hi == 0.98);
    i = tune_space_find(&s, "weight_decay");
    CHECK(i >= 0 && s.dims[i].kind == TUNE_LOG);
    if (i >= 0) CHECK_NEAR(s.dims[i].hi, 0.0015, 1e-15);
    i = tune_space_find(&s, "accumulate"); /* batch 16, nbs 64: a = 4 */
    CHECK(i >= 0 && s.dims[i].kind == TUNE_CHOICE && s.dims[i].nchoices == 3);
    if (i >= 0) {
        CHECK_STR(s.dims[i].choices[0], "2");
        CHECK_STR(s.dims[i].choices[2], "8");
    }
    config_set(&c, "epochs", "100", NULL);
    config_set(&c, "batch", "64", NULL);
    config_set(&c, "weight_decay", "0", NULL);
    tune_space_default(&s, &c, 1);
    CHECK_EQ_INT(s.ndims, 4); /* no weight_decay */
    i = tune_space_find(&s, "warmup_epochs");
    CHECK(i >= 0 && s.dims[i].hi == 5);
    i = tune_space_find(&s, "accumulate"); /* a = 1: {1, 2} */
    CHECK(i >= 0 && s.dims[i].nchoices == 2);
    config_set(&c, "batch", "-1", NULL); /* auto batch: accumulate left out */
    tune_space_default(&s, &c, 1);
    CHECK_EQ_INT(tune_space_find(&s, "accumulate"), -1);
    config_free(&c);
}

static void check_rungs_min(int epochs, int eta, int min_epochs, const int *want, int nwant) {
    int r[TUNE_MAX_RUNGS];
    int n = tune_rungs(epochs, eta, min_epochs, r);
    int ok = n == nwant;
    for (int i = 0; ok && i < n; i++) ok = r[i] == want[i];
    CHECK_MSG(ok, "rungs of %d epochs, eta %d, min %d: got %d rungs (first %d, last %d)", epochs, eta, min_epochs, n,
              r[0], r[n - 1]);
}
static void check_rungs(int epochs, int eta, const int *want, int nwant) {
    check_rungs_min(epochs, eta, 1, want, nwant);
}

static tune_score S(double f, double l) { return (tune_score){f, l}; }

static void test_halving(void) {
    check_rungs(6, 3, (int[]){2, 6}, 2);
    check_rungs(2, 2, (int[]){1, 2}, 2);
    check_rungs(2, 3, (int[]){2}, 1);
    check_rungs(27, 3, (int[]){1, 3, 9, 27}, 4);
    check_rungs(100, 3, (int[]){1, 3, 11, 33, 100}, 5);
    check_rungs(1, 3, (int[]){1}, 1);
    /* a grace period: no rung before min_epochs; the last rung always stays */
    check_rungs_min(15, 3, 3, (int[]){5, 15}, 2);
    check_rungs_min(15, 3, 0, (int[]){1, 5, 15}, 3);
    check_rungs_min(27, 3, 4, (int[]){9, 27}, 2);
    check_rungs_min(6, 3, 10, (int[]){6}, 1);

    /* the first trial at a rung always goes on */
    CHECK(tune_promote(NULL, 0, S(0, NAN), 3));
    /* top max(1, floor(n/eta)) */
    tune_score two[2] = {S(0.5, 1), S(0.4, 1)};
    CHECK(!tune_promote(two, 2, S(0.3, 1), 3));
    CHECK(tune_promote(two, 2, S(0.6, 1), 3));
    CHECK(tune_promote(two, 2, S(0.5, 1), 3)); /* a tie with the best goes on */
    CHECK(!tune_promote(two, 2, S(0.45, 1), 3));
    tune_score five[5] = {S(0.1, 1), S(0.2, 1), S(0.3, 1), S(0.4, 1), S(0.5, 1)};
    CHECK(tune_promote(five, 5, S(0.45, 1), 3));  /* n 6: top 2 */
    CHECK(!tune_promote(five, 5, S(0.35, 1), 3));
    CHECK(tune_promote(five, 5, S(0.35, 1), 2));  /* eta 2: top 3 */
    CHECK(!tune_promote(five, 5, S(0.25, 1), 2));
    /* equal fitness: the lower validation loss wins; NaN is the worst */
    tune_score z[1] = {S(0, 3.0)};
    CHECK(tune_promote(z, 1, S(0, 2.9), 3));
    CHECK(!tune_promote(z, 1, S(0, 3.1), 3));
    CHECK(!tune_promote(z, 1, S(NAN, NAN), 3));
    CHECK(tune_score_better(S(0.1, 9), S(0.05, 1)));
    CHECK(tune_score_better(S(0, 1), S(NAN, 0)));
    CHECK(!tune_score_better(S(NAN, 0), S(0, 1)));
    CHECK(!tune_score_better(S(0.2, 1), S(0.2, 1)));

    /* a sequential ASHA run, eta 3: fitness at the first rung of 9 trials */
    double f[9] = {0.5, 0.3, 0.6, 0.2, 0.55, 0.7, 0.1, 0.65, 0.4};
    int want[9] = {1, 0, 1, 0, 0, 1, 0, 1, 0};
    tune_score seen[9];
    for (int t = 0; t < 9; t++) {
        int go = tune_promote(seen, t, S(f[t], 1), 3);
        CHECK_MSG(go == want[t], "trial %d (fitness %g): %s", t, f[t], go ? "goes on" : "stops");
        seen[t] = S(f[t], 1);
    }
}

static tune_record rec(int trial, int epochs, double fit, trial_status st) {
    tune_record r;
    memset(&r, 0, sizeof r);
    r.trial = trial;
    r.epochs = epochs;
    r.best = S(fit, 2.5 + trial * 0.001);
    r.map50 = fit * 2;
    r.map5095 = fit;
    r.status = st;
    r.b_eff = 64;
    for (int k = 0; k < TUNE_MAX_RUNGS; k++) r.rung[k] = S(NAN, NAN);
    return r;
}

static void test_rank_and_csv(void) {
    tune_space s;
    const char *y = "lr0: [0.001, 0.1]\naccumulate: [1, 2, 4]\n";
    CHECK_EQ_INT(tune_space_parse(&s, y, strlen(y), "t.yaml"), YOLOC_OK);
    int rungs[2] = {2, 6};
    tune_record r[5];
    r[0] = rec(0, 6, 0.20, TRIAL_DONE);
    r[1] = rec(1, 2, 0.05, TRIAL_STOPPED);
    r[2] = rec(2, 6, 0.25, TRIAL_DONE);
    r[3] = rec(3, 0, NAN, TRIAL_FAILED);
    r[4] = rec(4, 6, 0.20, TRIAL_DONE); /* ties trial 0's fitness, worse val loss */
    r[3].best = S(NAN, NAN);
    r[3].map50 = r[3].map5095 = NAN;
    r[3].b_eff = 0;
    snprintf(r[3].note, sizeof r[3].note, "key 'lr0': refused; force=True runs it");
    for (int t = 0; t < 5; t++) {
        if (t > 0) tune_trial_values(&s, 0, t, NULL, r[t].values);
        if (t == 0) {
            snprintf(r[t].values[0], TUNE_VALUE_LEN, "0.01");
            snprintf(r[t].values[1], TUNE_VALUE_LEN, "0");
        }
        if (t != 3) r[t].rung[0] = S(r[t].best.fitness * 0.5, 3.0);
        if (r[t].epochs == 6) r[t].rung[1] = r[t].best;
    }
    int order[5];
    tune_rank(r, 5, order);
    CHECK_EQ_INT(order[0], 2);
    CHECK_EQ_INT(order[1], 0);
    CHECK_EQ_INT(order[2], 4);
    CHECK_EQ_INT(order[3], 1); /* stopped early: after every full trial */
    CHECK_EQ_INT(order[4], 3); /* failed: last */

    char dir[] = "/tmp/yoloc_test_tune_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    CHECK_EQ_INT(tune_results_write(path, &s, rungs, 2, r, 5), YOLOC_OK);
    char buf[4096] = "";
    FILE *f = fopen(path, "r");
    size_t nb = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[nb] = 0;
    if (f) fclose(f);
    CHECK_CONTAINS(buf, "trial,lr0,accumulate,b_eff,epochs,best_fitness,mAP50,mAP50-95,val_loss,fitness@2,val_loss@2,"
                        "fitness@6,val_loss@6,rank,status,note\n");
    CHECK_CONTAINS(buf, "\n0,0.01,0,64,6,0.2,0.4,0.2,2.5,0.1,3,0.2,2.5,2,done,\n");
    CHECK_CONTAINS(buf, ",5,failed,key 'lr0': refused; force=True runs it\n");

    tune_record back[8];
    int n = -1;
    CHECK_EQ_INT(tune_results_read(path, &s, rungs, 2, back, 8, &n), YOLOC_OK);
    CHECK_EQ_INT(n, 5);
    for (int t = 0; t < n && t < 5; t++) {
        CHECK_EQ_INT(back[t].trial, t);
        CHECK_EQ_INT(back[t].epochs, r[t].epochs);
        CHECK_EQ_INT(back[t].status, r[t].status);
        CHECK_EQ_INT(back[t].b_eff, r[t].b_eff);
        CHECK_STR(back[t].values[0], r[t].values[0]);
        CHECK_STR(back[t].values[1], r[t].values[1]);
        CHECK_STR(back[t].note, r[t].note);
        for (int k = 0; k < 2; k++) {
            int same = (isnan(back[t].rung[k].fitness) && isnan(r[t].rung[k].fitness)) ||
                       fabs(back[t].rung[k].fitness - r[t].rung[k].fitness) < 1e-12;
            CHECK_MSG(same, "trial %d rung %d: %g read back as %g", t, k, r[t].rung[k].fitness, back[t].rung[k].fitness);
        }
        int same = (isnan(back[t].best.fitness) && isnan(r[t].best.fitness)) ||
                   (back[t].best.fitness == r[t].best.fitness && back[t].best.val_loss == r[t].best.val_loss);
        CHECK_MSG(same, "trial %d best score", t);
    }
    /* the promotion decisions after reading back equal those before */
    tune_score before[5], after[5];
    int nb2 = 0;
    for (int t = 0; t < 5; t++)
        if (!isnan(r[t].rung[0].fitness)) before[nb2] = r[t].rung[0], after[nb2++] = back[t].rung[0];
    CHECK_EQ_INT(tune_promote(before, nb2, S(0.11, 3), 3), tune_promote(after, nb2, S(0.11, 3), 3));

    /* another search's file, or a broken one, is refused */
    tune_space other;
    const char *y2 = "lr0: [0.001, 0.1]\nmomentum: [0.8, 0.9]\n";
    CHECK_EQ_INT(tune_space_parse(&other, y2, strlen(y2), "o.yaml"), YOLOC_OK);
    CHECK(tune_results_read(path, &other, rungs, 2, back, 8, &n) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "results.csv:1: the columns are not those of this search");
    int rungs3[1] = {6};
    CHECK(tune_results_read(path, &s, rungs3, 1, back, 8, &n) < 0);
    FILE *g = fopen(path, "w");
    fprintf(g, "trial,lr0,accumulate,b_eff,epochs,best_fitness,mAP50,mAP50-95,val_loss,fitness@2,val_loss@2,fitness@6,"
               "val_loss@6,rank,status,note\n0,0.01,0,64,6,0.2,0.4,0.2,2.5,0.1,3,0.2,2.5,1,done,\n"
               "2,0.02,1,64,6,0.2,0.4,0.2,2.5,0.1,3,0.2,2.5,1,done,\n");
    fclose(g);
    CHECK(tune_results_read(path, &s, rungs, 2, back, 8, &n) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "results.csv:3: expected trial 1, got '2'");
    g = fopen(path, "w");
    fprintf(g, "trial,lr0,accumulate,b_eff,epochs,best_fitness,mAP50,mAP50-95,val_loss,fitness@2,val_loss@2,fitness@6,"
               "val_loss@6,rank,status,note\n0,0.01,0,64,6,0.2x,0.4,0.2,2.5,0.1,3,0.2,2.5,1,done,\n");
    fclose(g);
    CHECK(tune_results_read(path, &s, rungs, 2, back, 8, &n) < 0);
    CHECK_CONTAINS(yoloc_last_error(), "results.csv:2:");
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_sampler();
    test_values();
    test_space_errors();
    test_default_space();
    test_halving();
    test_rank_and_csv();
    return test_finish("test_tune");
}
