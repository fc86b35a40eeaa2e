/* Schedule tests: closed-form values of every yoloc kind (with and without
 * warmup, W = 0, W >= T, T = 1, step milestones, the bias lr falling from
 * warmup_bias_lr, the momentum ramp) to 1e-12 relative; SCHED_ULTRALYTICS
 * against values derived by hand from Ultralytics 8.3's loop (nb = 8,
 * epochs = 3: the whole run is warmup; nb = 200: nw = 600; cos_lr; no
 * warmup; Adam's fixed beta1) and the accumulate ramp with Python's
 * half-to-even rounding; validation messages; the printed table and CSV. */
#include "harness.h"
#include "train/sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REL 1e-12

/* |a - b| <= REL * |b| (plus a tiny floor for exact zeros). */
#define CHECK_REL(a, b) CHECK_NEAR(a, b, REL *fabs((double)(b)) + 1e-300)

static sched_config base(sched_kind kind, long W, long T) {
    sched_config c;
    sched_config_default(&c);
    c.kind = kind;
    c.lr_peak[0] = c.lr_peak[1] = c.lr_peak[2] = 0.01;
    c.lrf = 0.1;
    c.warmup_steps = W;
    c.total_steps = T;
    c.steps_per_epoch = 10;
    return c;
}

static sched_point at(const sched_config *c, long t) {
    sched_point p;
    sched_at(c, t, &p);
    return p;
}

static void test_cos(void) {
    /* W = 0, T = 11: p = t/10; lr = 0.01*(0.1 + 0.9*(1 + cos(pi p))/2) */
    sched_config c = base(SCHED_COS, 0, 11);
    c.lr_peak[1] = 0.02;
    CHECK(sched_validate(&c) == YOLOC_OK);
    sched_point p = at(&c, 0);
    CHECK_REL(p.lr[0], 0.01);
    CHECK_REL(p.lr[1], 0.02);
    CHECK_REL(p.momentum, 0.937); /* no warmup: momentum from the start */
    p = at(&c, 5);
    CHECK_REL(p.lr[0], 0.0055); /* cos(pi/2) = 0: 0.1 + 0.45 */
    CHECK_REL(p.lr[1], 0.011);
    p = at(&c, 2); /* cos(0.2 pi) = (1 + sqrt 5)/4 */
    double h = (1 + (1 + sqrt(5.0)) / 4) / 2;
    CHECK_REL(p.lr[2], 0.01 * (0.1 + 0.9 * h));
    CHECK_REL(p.lr[2], 0.009140576474687263);
    p = at(&c, 10);
    CHECK_REL(p.lr[0], 0.001);
    CHECK_REL(p.lr[1], 0.002);
    p = at(&c, 50); /* past the end: the final value */
    CHECK_REL(p.lr[1], 0.002);
    p = at(&c, -3);
    CHECK_REL(p.lr[1], 0.02);
    for (long t = 0; t < 11; t++) {
        double want = 0.02 * (0.1 + 0.9 * (1 + cos(M_PI * t / 10.0)) / 2);
        CHECK_REL(at(&c, t).lr[1], want);
    }

    /* W = 4, T = 14: warmup f = t/4, then cos over p = (t-4)/9 */
    c = base(SCHED_COS, 4, 14);
    CHECK(sched_validate(&c) == YOLOC_OK);
    p = at(&c, 0);
    CHECK(p.lr[1] == 0.0);
    CHECK(p.lr[2] == 0.0);
    CHECK_REL(p.lr[0], 0.1);
    CHECK_REL(p.momentum, 0.8);
    p = at(&c, 2);
    CHECK_REL(p.lr[1], 0.005);
    CHECK_REL(p.lr[0], 0.055); /* 0.1 + (0.01 - 0.1)/2 */
    CHECK_REL(p.momentum, 0.8685);
    p = at(&c, 3);
    CHECK_REL(p.lr[0], 0.0325);
    CHECK_REL(p.momentum, 0.90275);
    p = at(&c, 4); /* main schedule starts at the peak */
    CHECK_REL(p.lr[0], 0.01);
    CHECK_REL(p.lr[1], 0.01);
    CHECK_REL(p.momentum, 0.937);
    p = at(&c, 13);
    CHECK_REL(p.lr[0], 0.001);
    CHECK_REL(p.lr[2], 0.001);
    for (long t = 4; t < 14; t++)
        CHECK_REL(at(&c, t).lr[1], 0.01 * (0.1 + 0.9 * (1 + cos(M_PI * (t - 4) / 9.0)) / 2));

    /* warmup_start_factor 0.1: weights from 0.001 */
    c.warmup_start_factor = 0.1;
    CHECK_REL(at(&c, 0).lr[1], 0.001);
    CHECK_REL(at(&c, 2).lr[1], 0.0055);
    CHECK_REL(at(&c, 0).lr[0], 0.1); /* bias unaffected */
}

static void test_warmup_shape(void) {
    /* The bias lr falls from 0.1 to the peak while the weight lr rises from
     * 0; momentum rises 0.8 -> 0.937; all linear in t. */
    sched_config c = base(SCHED_LINEAR, 100, 1000);
    double prev0 = 1, prev1 = -1, prevm = 0;
    int mono = 1;
    for (long t = 0; t <= 100; t++) {
        sched_point p = at(&c, t);
        double f = t / 100.0;
        CHECK_REL(p.lr[0], 0.1 + (0.01 - 0.1) * f);
        CHECK_REL(p.lr[1], 0.01 * f + 1e-300);
        CHECK_REL(p.momentum, 0.8 + (0.937 - 0.8) * f);
        if (t > 0 && !(p.lr[0] < prev0 && p.lr[1] > prev1 && p.momentum > prevm)) mono = 0;
        prev0 = p.lr[0];
        prev1 = p.lr[1];
        prevm = p.momentum;
    }
    CHECK_MSG(mono, "warmup not monotone (bias down, weights and momentum up)");
}

static void test_linear(void) {
    /* W = 2, T = 12: p = (t-2)/9, lr = peak*((1-p) + lrf*p) */
    sched_config c = base(SCHED_LINEAR, 2, 12);
    CHECK_REL(at(&c, 1).lr[1], 0.005);
    CHECK_REL(at(&c, 2).lr[1], 0.01);
    CHECK_REL(at(&c, 5).lr[1], 0.01 * (2.0 / 3 + 0.1 / 3)); /* 0.007 */
    CHECK_REL(at(&c, 5).lr[1], 0.007);
    CHECK_REL(at(&c, 11).lr[1], 0.001);
    CHECK_REL(at(&c, 11).lr[0], 0.001);
    CHECK_REL(at(&c, 11).momentum, 0.937);
}

static void test_step(void) {
    /* W = 0, T = 11, default milestones 0.8, 0.9, lrf 0.01: x0.1 each */
    sched_config c = base(SCHED_STEP, 0, 11);
    c.lrf = 0.01;
    CHECK(sched_validate(&c) == YOLOC_OK);
    CHECK_REL(at(&c, 0).lr[1], 0.01);
    CHECK_REL(at(&c, 7).lr[1], 0.01);
    CHECK_REL(at(&c, 8).lr[1], 0.001);
    CHECK_REL(at(&c, 9).lr[1], 0.0001);
    CHECK_REL(at(&c, 10).lr[1], 0.0001);
    /* W = 5, T = 26: span 20, milestones at t = 5 + 16 and 5 + 18 */
    c = base(SCHED_STEP, 5, 26);
    c.lrf = 0.04;
    CHECK_REL(at(&c, 5).lr[1], 0.01);
    CHECK_REL(at(&c, 20).lr[1], 0.01);
    CHECK_REL(at(&c, 21).lr[1], 0.002); /* 0.04^(1/2) = 0.2 */
    CHECK_REL(at(&c, 22).lr[1], 0.002);
    CHECK_REL(at(&c, 23).lr[1], 0.0004);
    CHECK_REL(at(&c, 25).lr[1], 0.0004);
    CHECK_REL(at(&c, 25).lr[0], 0.0004);
    /* three milestones: lrf^(1/3) each */
    c.n_milestones = 3;
    c.milestones[0] = 0.25;
    c.milestones[1] = 0.5;
    c.milestones[2] = 1.0;
    c.lrf = 0.001;
    CHECK(sched_validate(&c) == YOLOC_OK);
    CHECK_REL(at(&c, 9).lr[1], 0.01);   /* p = 0.2 */
    CHECK_REL(at(&c, 10).lr[1], 0.001); /* p = 0.25: x0.1 */
    CHECK_REL(at(&c, 15).lr[1], 0.0001);
    CHECK_REL(at(&c, 24).lr[1], 0.0001);
    CHECK_REL(at(&c, 25).lr[1], 0.00001);
}

static void test_const(void) {
    sched_config c = base(SCHED_CONST, 3, 10);
    CHECK_REL(at(&c, 0).lr[0], 0.1);
    CHECK(at(&c, 0).lr[1] == 0.0);
    CHECK_REL(at(&c, 3).lr[1], 0.01);
    CHECK_REL(at(&c, 9).lr[1], 0.01);
    CHECK_REL(at(&c, 9).momentum, 0.937);
}

static void test_edges(void) {
    /* W >= T: warmup capped at T-1 = 4, the last step is peak*lrf */
    sched_config c = base(SCHED_COS, 10, 5);
    CHECK(sched_validate(&c) == YOLOC_OK);
    CHECK_REL(at(&c, 3).lr[1], 0.0075);
    CHECK_REL(at(&c, 3).lr[0], 0.1 + (0.01 - 0.1) * 0.75);
    CHECK_REL(at(&c, 3).momentum, 0.8 + 0.137 * 0.75);
    CHECK_REL(at(&c, 4).lr[1], 0.001);
    CHECK_REL(at(&c, 4).lr[0], 0.001);
    CHECK_REL(at(&c, 4).momentum, 0.937);
    /* W = T-1 exactly: the same */
    c.warmup_steps = 4;
    CHECK_REL(at(&c, 4).lr[1], 0.001);
    /* T = 1: the single step is the final one */
    for (int k = 0; k < 3; k++) {
        sched_kind kinds[3] = {SCHED_COS, SCHED_LINEAR, SCHED_STEP};
        c = base(kinds[k], 3, 1);
        CHECK(sched_validate(&c) == YOLOC_OK);
        sched_point p = at(&c, 0);
        CHECK_REL(p.lr[0], 0.001);
        CHECK_REL(p.lr[1], 0.001);
        CHECK_REL(p.momentum, 0.937);
    }
    c = base(SCHED_CONST, 0, 1);
    CHECK_REL(at(&c, 0).lr[1], 0.01);
    /* T = 2, W = 0: peak then peak*lrf */
    c = base(SCHED_LINEAR, 0, 2);
    CHECK_REL(at(&c, 0).lr[1], 0.01);
    CHECK_REL(at(&c, 1).lr[1], 0.001);
}

/* ------------------------------------------------------------------------ */
/* Ultralytics 8.3. */

static sched_config ultra(long nb, int epochs) {
    sched_config c;
    sched_config_default(&c);
    c.kind = SCHED_ULTRALYTICS;
    c.lr_peak[0] = c.lr_peak[1] = c.lr_peak[2] = 0.01;
    c.lrf = 0.01;
    c.epochs = epochs;
    c.steps_per_epoch = nb;
    return c;
}

static void test_ultra_short(void) {
    /* nb = 8, epochs = 3, warmup_epochs 3: nw = max(round(24), 100) = 100,
     * so all 24 batches are warmup. lf(1) = (1 - 1/3)*0.99 + 0.01 = 0.67,
     * lf(2) = 0.34. */
    sched_config c = ultra(8, 3);
    CHECK(sched_validate(&c) == YOLOC_OK);
    CHECK_EQ_INT(sched_ultralytics_warmup_iters(&c, 8), 100);
    sched_point p;
    sched_ultralytics_at(&c, 0, 0, 8, &p);
    CHECK_REL(p.lr[0], 0.1);
    CHECK(p.lr[1] == 0.0 && p.lr[2] == 0.0);
    CHECK_REL(p.momentum, 0.8);
    /* ni = 8 (epoch 1): pg1 = 0.08*0.0067; pg0 = 0.1 + (0.0067 - 0.1)*0.08 */
    sched_ultralytics_at(&c, 8, 1, 8, &p);
    CHECK_REL(p.lr[1], 0.000536);
    CHECK_REL(p.lr[2], 0.000536);
    CHECK_REL(p.lr[0], 0.092536);
    CHECK_REL(p.momentum, 0.81096);
    /* np.interp's own bits (numpy 1.24: repr of the Python results) */
    CHECK(p.lr[0] == 0.09253600000000001);
    /* ni = 23 (epoch 2) */
    sched_ultralytics_at(&c, 23, 2, 8, &p);
    CHECK_REL(p.lr[1], 0.000782);
    CHECK_REL(p.lr[0], 0.077782);
    CHECK_REL(p.momentum, 0.83151);
    CHECK(p.momentum == 0.8315100000000001);
    /* sched_at splits the batch index into epochs of steps_per_epoch */
    sched_point q = at(&c, 23);
    CHECK(q.lr[0] == p.lr[0] && q.lr[1] == p.lr[1] && q.momentum == p.momentum);
    /* accumulate (batch 16, nbs 64): round(1 + 3 ni/100) */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 0, 8), 1);
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 16, 8), 1); /* 1.48 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 17, 8), 2); /* 1.51 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 23, 8), 2);
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 50, 8), 2); /* 2.5 -> 2 (half to even) */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 84, 8), 4); /* 3.52 */
}

static void test_ultra_long(void) {
    /* nb = 200, epochs = 10: nw = 600; lf(e) = (1 - e/10)*0.99 + 0.01 */
    sched_config c = ultra(200, 10);
    CHECK_EQ_INT(sched_ultralytics_warmup_iters(&c, 200), 600);
    sched_point p;
    sched_ultralytics_at(&c, 300, 1, 200, &p); /* lf(1) = 0.901 */
    CHECK_REL(p.lr[1], 0.004505);
    CHECK_REL(p.lr[0], 0.054505); /* 0.1 + (0.00901 - 0.1)/2 */
    CHECK_REL(p.momentum, 0.8685);
    sched_ultralytics_at(&c, 600, 3, 200, &p); /* last warmup batch: lf(3) = 0.703 */
    CHECK_REL(p.lr[1], 0.00703);
    CHECK_REL(p.lr[0], 0.00703);
    CHECK(p.momentum == 0.937);
    sched_ultralytics_at(&c, 601, 3, 200, &p);
    CHECK_REL(p.lr[0], 0.00703);
    CHECK_REL(p.lr[2], 0.00703);
    CHECK(p.momentum == 0.937);
    sched_ultralytics_at(&c, 1999, 9, 200, &p); /* never reaches lr0*lrf = 1e-4 */
    CHECK_REL(p.lr[1], 0.00109);
    CHECK_REL(at(&c, 1999).lr[1], 0.00109);
    CHECK_REL(at(&c, 1000).lr[1], 0.01 * (0.5 * 0.99 + 0.01));
    /* accumulate: 1 + 3 ni/600, halves to even */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 100, 200), 2); /* 1.5 -> 2 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 150, 200), 2); /* 1.75 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 300, 200), 2); /* 2.5 -> 2 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 500, 200), 4); /* 3.5 -> 4 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 600, 200), 4);
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 5000, 200), 4);
    c.batch = 48; /* 64/48 = 1.33 -> 1 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 600, 200), 1);
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 700, 200), 1);
    c.batch = 128; /* round(0.5) = 0 -> 1 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 700, 200), 1);
    c.batch = 8;
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 300, 200), 4); /* 1 + 7*0.5 = 4.5 -> 4 */
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 700, 200), 8);

    /* cos_lr: one_cycle(1, 0.01, 10), lf(5) = 0.5*(0.01 - 1) + 1 = 0.505 */
    c = ultra(200, 10);
    c.cos_lr = 1;
    sched_ultralytics_at(&c, 1000, 5, 200, &p);
    CHECK_REL(p.lr[1], 0.00505);
    sched_ultralytics_at(&c, 1200, 6, 200, &p); /* (1 - cos(0.6 pi))/2*(-0.99) + 1 */
    CHECK_REL(p.lr[1], 0.01 * ((1 - cos(0.6 * M_PI)) / 2 * -0.99 + 1));
    sched_ultralytics_at(&c, 0, 0, 200, &p);
    CHECK(p.lr[1] == 0.0);

    /* Python rounding of nw: round(0.5*301) = round(150.5) = 150 */
    c = ultra(301, 10);
    c.warmup_epochs = 0.5;
    CHECK_EQ_INT(sched_ultralytics_warmup_iters(&c, 301), 150);
    c.warmup_epochs = 0.1; /* round(30.1) = 30 -> the floor of 100 */
    CHECK_EQ_INT(sched_ultralytics_warmup_iters(&c, 301), 100);
}

static void test_ultra_no_warmup_and_adam(void) {
    /* warmup_epochs = 0: nw = -1, no warmup at all; momentum stays the
     * optimizer's construction value (0.9 under optimizer=auto) */
    sched_config c = ultra(200, 10);
    c.warmup_epochs = 0;
    c.optim_momentum = 0.9;
    CHECK_EQ_INT(sched_ultralytics_warmup_iters(&c, 200), -1);
    sched_point p;
    sched_ultralytics_at(&c, 0, 0, 200, &p);
    CHECK_REL(p.lr[0], 0.01);
    CHECK_REL(p.lr[1], 0.01);
    CHECK(p.momentum == 0.9);
    sched_ultralytics_at(&c, 450, 2, 200, &p);
    CHECK_REL(p.lr[1], 0.01 * 0.802);
    CHECK(p.momentum == 0.9);
    CHECK_EQ_INT(sched_ultralytics_accumulate(&c, 0, 200), 4);
    /* optimizer=auto with warmup: momentum warms to args.momentum (0.937),
     * not to the 0.9 it was built with */
    c.warmup_epochs = 3;
    c.warmup_bias_lr = 0.0;
    sched_ultralytics_at(&c, 300, 1, 200, &p);
    CHECK_REL(p.momentum, 0.8685);
    CHECK_REL(p.lr[0], 0.004505); /* bias warms from 0 like the rest */
    sched_ultralytics_at(&c, 700, 3, 200, &p);
    CHECK(p.momentum == 0.937);
    /* Adam family: beta1 is never touched */
    c.warmup_sets_momentum = 0;
    sched_ultralytics_at(&c, 300, 1, 200, &p);
    CHECK(p.momentum == 0.9);
    sched_ultralytics_at(&c, 700, 3, 200, &p);
    CHECK(p.momentum == 0.9);
}

/* ------------------------------------------------------------------------ */

static void test_validate(void) {
    sched_config c = base(SCHED_COS, 0, 10);
    c.lrf = -1;
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "lrf");
    c = base(SCHED_COS, 0, 0);
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "total_steps");
    c = base(SCHED_COS, -1, 10);
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "warmup_steps");
    c = base(SCHED_STEP, 0, 10);
    c.milestones[1] = 0.5;
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "milestones");
    c = base(SCHED_COS, 0, 10);
    c.warmup_start_factor = 2;
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "warmup_start_factor");
    c = base(SCHED_COS, 0, 10);
    c.lr_peak[1] = NAN;
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "lr0");
    c = ultra(0, 10);
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "steps_per_epoch");
    c = ultra(10, 0);
    CHECK(sched_validate(&c) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "epochs");
    sched_kind k;
    CHECK(sched_kind_parse("Cos", &k) == YOLOC_OK && k == SCHED_COS);
    CHECK(sched_kind_parse("ultralytics", &k) == YOLOC_OK && k == SCHED_ULTRALYTICS);
    CHECK(sched_kind_parse("poly", &k) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "sched=poly");
}

static void test_print_and_csv(void) {
    sched_config c = base(SCHED_COS, 4, 14);
    FILE *f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    sched_print(&c, f);
    long len = ftell(f);
    rewind(f);
    char *text = calloc((size_t)len + 1, 1);
    CHECK(fread(text, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    printf("%s", text);
    CHECK_CONTAINS(text, "schedule cos: 14 optimizer steps, warmup 4");
    CHECK_CONTAINS(text, "lr/pg0");
    CHECK_CONTAINS(text, "\n        13       1        0.001        0.001        0.001     0.937\n");
    CHECK_CONTAINS(text, "\n         0       0          0.1            0            0       0.8\n");
    free(text);
    /* step kind: both sides of each milestone are shown */
    c = base(SCHED_STEP, 0, 1000);
    c.steps_per_epoch = 100;
    c.lrf = 0.01;
    f = tmpfile();
    CHECK(f != NULL);
    if (!f) return;
    sched_print(&c, f);
    len = ftell(f);
    rewind(f);
    text = calloc((size_t)len + 1, 1);
    CHECK(fread(text, 1, (size_t)len, f) == (size_t)len);
    fclose(f);
    CHECK_CONTAINS(text, "\n       799       7         0.01");
    CHECK_CONTAINS(text, "\n       800       8        0.001");
    CHECK_CONTAINS(text, "\n       900       9       0.0001");
    free(text);

    char path[128];
    snprintf(path, sizeof path, "/tmp/yoloc_test_sched_%d.csv", (int)getpid());
    c = base(SCHED_LINEAR, 10, 1000);
    CHECK(sched_write_csv(&c, path, 0) == YOLOC_OK);
    f = fopen(path, "r");
    CHECK(f != NULL);
    int rows = 0, ok = 1;
    char line[256];
    while (f && fgets(line, sizeof line, f)) {
        if (rows++ == 0) {
            CHECK_STR(line, "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum\n");
            continue;
        }
        long s, e;
        double l0, l1, l2, m;
        if (sscanf(line, "%ld,%ld,%lf,%lf,%lf,%lf", &s, &e, &l0, &l1, &l2, &m) != 6) ok = 0;
        sched_point p = at(&c, s);
        if (s != rows - 2 || e != s / 10 || fabs(l1 - p.lr[1]) > 1e-8 * fabs(p.lr[1]) ||
            fabs(l0 - p.lr[0]) > 1e-8 * fabs(p.lr[0]) || fabs(m - p.momentum) > 1e-8)
            ok = 0;
    }
    if (f) fclose(f);
    CHECK_EQ_INT(rows, 1001);
    CHECK_MSG(ok, "CSV rows differ from sched_at");
    /* thinned: every 10th step and the last */
    CHECK(sched_write_csv(&c, path, 100) == YOLOC_OK);
    f = fopen(path, "r");
    rows = 0;
    long last = -1;
    while (f && fgets(line, sizeof line, f))
        if (rows++ > 0) last = atol(line);
    if (f) fclose(f);
    CHECK_EQ_INT(rows, 102);
    CHECK_EQ_INT(last, 999);
    remove(path);
    /* ultralytics: an accumulate column */
    c = ultra(8, 3);
    CHECK(sched_write_csv(&c, path, 0) == YOLOC_OK);
    f = fopen(path, "r");
    rows = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (rows == 0) CHECK_STR(line, "step,epoch,lr/pg0,lr/pg1,lr/pg2,momentum,accumulate\n");
        if (rows == 18) CHECK_CONTAINS(line, "17,2,");
        if (rows == 18) CHECK_CONTAINS(line, ",2\n");
        rows++;
    }
    if (f) fclose(f);
    CHECK_EQ_INT(rows, 25);
    remove(path);
    CHECK(sched_write_csv(&c, "/nonexistent/dir/lr.csv", 0) == YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "/nonexistent/dir/lr.csv");
}

int main(void) {
    test_cos();
    test_warmup_shape();
    test_linear();
    test_step();
    test_const();
    test_edges();
    test_ultra_short();
    test_ultra_long();
    test_ultra_no_warmup_and_adam();
    test_validate();
    test_print_and_csv();
    return test_finish("test_sched");
}
