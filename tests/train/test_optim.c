/* Optimizer and gradient-utility tests:
 *  - SGD (Nesterov and plain), AdamW and Adam against torch.optim fixtures
 *    (tools/make_optim_fixtures.py): three groups whose lr / momentum /
 *    weight decay change every step, 12 steps, 1e-6 relative; a frozen
 *    tensor and the padding floats between tensors stay untouched;
 *  - first steps against hand-derived closed forms;
 *  - checkpoint state round trip (continues bit for bit), hp validation;
 *  - global norm (closed form, long-double reference, 1 vs 2 threads bit
 *    for bit), clip below/above max_norm, all-finite, scale;
 *  - optimizer=auto choices and reason line, the Ultralytics log line for
 *    yolov8n (57/64/63 tensors), kind parsing, layout errors. */
#include "harness.h"
#include "ops/backend.h"
#include "nn/model.h"
#include "nn/spec.h"
#include "train/optim.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Layouts like the model's: every tensor at a multiple of 16 floats. */

typedef struct {
    param_info t[16];
    size_t n, nparams;
} layout;

static void layout_add(layout *l, const char *name, int group, size_t numel) {
    param_info *p = &l->t[l->n++];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->ndim = 1;
    p->shape[0] = (int64_t)numel;
    p->numel = numel;
    p->group = group;
    p->off = l->nparams;
    l->nparams += (numel + 15) & ~(size_t)15;
}

/* 1 when every float outside the tensors of l is exactly zero. */
static int padding_zero(const layout *l, const float *x) {
    for (size_t i = 0; i < l->n; i++) {
        size_t end = l->t[i].off + l->t[i].numel;
        size_t next = i + 1 < l->n ? l->t[i + 1].off : l->nparams;
        for (size_t j = end; j < next; j++)
            if (x[j] != 0.0f) return 0;
    }
    return 1;
}

/* ------------------------------------------------------------------------ */
/* torch.optim fixtures. */

typedef struct {
    char kind[32];
    layout l;
    int steps;
    float *init;           /* nparams */
    double (*hp)[3][3];    /* [step][group][lr, momentum, wd] */
    float *grads, *params; /* [step][nparams] */
} fixture;

static int find_tensor(const layout *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->t[i].name, name) == 0) return (int)i;
    return -1;
}

/* Reads "name v v v ..." into dst at the tensor's offset. */
static int read_values(const layout *l, char *rest, float *dst) {
    char *save = NULL;
    char *name = strtok_r(rest, " \n", &save);
    int ti = name ? find_tensor(l, name) : -1;
    if (ti < 0) return 0;
    const param_info *p = &l->t[ti];
    for (size_t i = 0; i < p->numel; i++) {
        char *tok = strtok_r(NULL, " \n", &save);
        if (!tok) return 0;
        dst[p->off + i] = strtof(tok, NULL);
    }
    return 1;
}

static void fixture_free(fixture *fx) {
    free(fx->init);
    free(fx->hp);
    free(fx->grads);
    free(fx->params);
}

static int fixture_load(const char *file, fixture *fx) {
    char path[512];
    snprintf(path, sizeof path, "%s/tests/train/fixtures/%s", YOLOC_SOURCE_DIR, file);
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return 0;
    }
    memset(fx, 0, sizeof *fx);
    char *line = NULL;
    size_t cap = 0;
    int step = 0, ok = 1;
    while (ok && getline(&line, &cap, f) > 0) {
        char word[32], name[128];
        int g, numel;
        if (line[0] == '#' || sscanf(line, "%31s", word) != 1) continue;
        char *rest = line + strlen(word) + 1;
        if (strcmp(word, "kind") == 0) {
            ok = sscanf(rest, "%31s", fx->kind) == 1;
        } else if (strcmp(word, "tensor") == 0) {
            ok = sscanf(rest, "%127s %d %d", name, &g, &numel) == 3;
            if (ok) layout_add(&fx->l, name, g, (size_t)numel);
        } else if (strcmp(word, "steps") == 0) {
            ok = sscanf(rest, "%d", &fx->steps) == 1;
            size_t n = fx->l.nparams * (size_t)fx->steps;
            fx->init = calloc(fx->l.nparams, sizeof(float));
            fx->grads = calloc(n, sizeof(float));
            fx->params = calloc(n, sizeof(float));
            fx->hp = calloc((size_t)fx->steps, sizeof *fx->hp);
            ok = ok && fx->init && fx->grads && fx->params && fx->hp;
        } else if (strcmp(word, "init") == 0) {
            ok = fx->init && read_values(&fx->l, rest, fx->init);
        } else if (strcmp(word, "step") == 0) {
            ok = sscanf(rest, "%d", &step) == 1 && step >= 1 && step <= fx->steps;
        } else if (strcmp(word, "hp") == 0) {
            double lr, mom, wd;
            ok = step >= 1 && sscanf(rest, "%d %lf %lf %lf", &g, &lr, &mom, &wd) == 4 && g >= 0 &&
                 g < 3;
            if (ok) {
                fx->hp[step - 1][g][0] = lr;
                fx->hp[step - 1][g][1] = mom;
                fx->hp[step - 1][g][2] = wd;
            }
        } else if (strcmp(word, "grad") == 0) {
            ok = step >= 1 &&
                 read_values(&fx->l, rest, fx->grads + (size_t)(step - 1) * fx->l.nparams);
        } else if (strcmp(word, "param") == 0) {
            ok = step >= 1 &&
                 read_values(&fx->l, rest, fx->params + (size_t)(step - 1) * fx->l.nparams);
        }
    }
    free(line);
    fclose(f);
    if (!ok || step != fx->steps || fx->steps == 0) {
        fprintf(stderr, "%s: malformed fixture\n", path);
        fixture_free(fx);
        return 0;
    }
    return 1;
}

static void test_torch_fixture(const char *file, optim_kind kind, int nesterov) {
    fixture fx;
    CHECK_MSG(fixture_load(file, &fx), "%s", file);
    if (!fx.steps) return;
    const layout *l = &fx.l;
    const size_t np = l->nparams;
    optim o;
    status st = optim_init_layout(&o, kind, l->t, l->n, np);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) {
        fixture_free(&fx);
        return;
    }
    o.nesterov = nesterov;
    float *p = malloc(np * sizeof *p), *g = malloc(np * sizeof *g);
    memcpy(p, fx.init, np * sizeof *p);
    int frozen = find_tensor(l, "model.1.dfl.conv.weight");
    double worst_abs = 0, worst_rel = 0;
    for (int s = 0; s < fx.steps; s++) {
        optim_group_hp hp[3];
        for (int k = 0; k < 3; k++)
            hp[k] = (optim_group_hp){fx.hp[s][k][0], fx.hp[s][k][1], fx.hp[s][k][2]};
        memcpy(g, fx.grads + (size_t)s * np, np * sizeof *g);
        /* padding gradients are garbage here: the optimizer must not read them */
        for (size_t i = 0; i < l->n; i++)
            for (size_t j = l->t[i].off + l->t[i].numel; j < (i + 1 < l->n ? l->t[i + 1].off : np);
                 j++)
                g[j] = 7.0f;
        CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
        const float *want = fx.params + (size_t)s * np;
        for (size_t i = 0; i < l->n; i++) {
            const param_info *t = &l->t[i];
            char name[160];
            snprintf(name, sizeof name, "%s step %d %s", fx.kind, s + 1, t->name);
            const float *ref = (int)i == frozen ? fx.init + t->off : want + t->off;
            test_allclose(name, p + t->off, ref, t->numel, 1e-6, 1e-7);
            for (size_t j = 0; j < t->numel; j++) {
                double d = fabs((double)p[t->off + j] - ref[j]);
                if (d > worst_abs) worst_abs = d;
                if (fabs(ref[j]) >= 1e-2 && d / fabs(ref[j]) > worst_rel)
                    worst_rel = d / fabs(ref[j]);
            }
        }
    }
    CHECK_EQ_INT(o.step, fx.steps);
    CHECK_MSG(memcmp(p + l->t[frozen].off, fx.init + l->t[frozen].off,
                     l->t[frozen].numel * sizeof(float)) == 0,
              "%s: frozen tensor changed", fx.kind);
    CHECK_MSG(padding_zero(l, p), "%s: padding of params not zero", fx.kind);
    CHECK_MSG(padding_zero(l, o.m), "%s: padding of optim.m not zero", fx.kind);
    if (o.v) CHECK_MSG(padding_zero(l, o.v), "%s: padding of optim.v not zero", fx.kind);
    printf("  torch %-13s %d steps, %zu tensors: max|diff| %.3g, max rel diff (|ref| >= 0.01) "
           "%.3g; tol 1e-6 rel + 1e-7 abs\n",
           fx.kind, fx.steps, l->n, worst_abs, worst_rel);
    free(p);
    free(g);
    optim_free(&o);
    fixture_free(&fx);
}

/* ------------------------------------------------------------------------ */
/* Hand-derived first steps on one tensor per group. */

static layout three_groups(void) {
    layout l = {0};
    layout_add(&l, "b", PG_BIAS, 3);
    layout_add(&l, "w", PG_WEIGHT, 3);
    layout_add(&l, "n", PG_NORM, 3);
    layout_add(&l, "f", PG_FROZEN, 3);
    return l;
}

static void test_hand_sgd(void) {
    layout l = three_groups();
    optim o;
    CHECK(optim_init_layout(&o, OPTIM_SGD, l.t, l.n, l.nparams) == YOLOC_OK);
    float p[64] = {0}, g[64] = {0};
    const float th0[3] = {1.0f, -2.0f, 0.5f}, g1[3] = {0.25f, 1.0f, -4.0f},
                g2[3] = {-1.0f, 0.5f, 2.0f};
    for (size_t t = 0; t < 4; t++)
        for (int i = 0; i < 3; i++) {
            p[l.t[t].off + i] = th0[i];
            g[l.t[t].off + i] = g1[i];
        }
    const double lr[3] = {0.1, 0.01, 0.02}, mu = 0.9, wd = 5e-4;
    optim_group_hp hp[3] = {{lr[0], mu, 0}, {lr[1], mu, wd}, {lr[2], mu, 0}};
    CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
    /* step 1: d = g + wd*th; b = d; th1 = th - lr*(d + mu*b) = th - lr*(1+mu)*d */
    double th1[3][3], b1[3][3];
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            double d = g1[i] + (k == 1 ? wd : 0) * th0[i];
            b1[k][i] = d;
            th1[k][i] = th0[i] - lr[k] * (1 + mu) * d;
            CHECK_NEAR(p[l.t[k].off + i], th1[k][i], 1e-6 * fabs(th1[k][i]));
        }
    /* step 2 with mu2 = 0.95: b2 = mu2*b1 + d2; th2 = th1 - lr*(d2 + mu2*b2) */
    const double mu2 = 0.95;
    for (int k = 0; k < 3; k++) {
        hp[k].momentum = mu2;
        for (int i = 0; i < 3; i++) g[l.t[k].off + i] = g2[i];
    }
    CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) {
            double d = g2[i] + (k == 1 ? wd : 0) * th1[k][i];
            double b = mu2 * b1[k][i] + d;
            double th2 = th1[k][i] - lr[k] * (d + mu2 * b);
            CHECK_NEAR(p[l.t[k].off + i], th2, 1e-6 * fabs(th2));
            CHECK_NEAR(o.m[l.t[k].off + i], b, 1e-6 * fabs(b));
        }
    for (int i = 0; i < 3; i++) CHECK(p[l.t[3].off + i] == th0[i]); /* frozen */
    CHECK(padding_zero(&l, p));
    optim_free(&o);
}

static void test_hand_adam(void) {
    layout l = three_groups();
    for (int decoupled = 0; decoupled < 2; decoupled++) {
        optim o;
        CHECK(optim_init_layout(&o, decoupled ? OPTIM_ADAMW : OPTIM_ADAM, l.t, l.n, l.nparams) ==
              YOLOC_OK);
        float p[64] = {0}, g[64] = {0};
        const float th0[3] = {1.0f, -2.0f, 0.5f}, g1[3] = {0.25f, 1.0f, -4.0f};
        for (size_t t = 0; t < 3; t++)
            for (int i = 0; i < 3; i++) {
                p[l.t[t].off + i] = th0[i];
                g[l.t[t].off + i] = g1[i];
            }
        const double lr = 1e-3, b1 = 0.9, wd = 0.05, eps = 1e-8;
        optim_group_hp hp[3] = {{lr, b1, 0}, {lr, b1, wd}, {lr, b1, 0}};
        CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
        /* t = 1: m_hat = d, v_hat = d^2, so th1 = th' - lr*d/(|d| + eps) with
         * AdamW: th' = th*(1 - lr*wd), d = g;  Adam: th' = th, d = g + wd*th. */
        for (int k = 0; k < 3; k++)
            for (int i = 0; i < 3; i++) {
                double w = k == 1 ? wd : 0;
                double thp = decoupled ? th0[i] * (1 - lr * w) : th0[i];
                double d = decoupled ? g1[i] : g1[i] + w * th0[i];
                double want = thp - lr * d / (fabs(d) + eps);
                CHECK_NEAR(p[l.t[k].off + i], want, 1e-6 * fabs(want));
                CHECK_NEAR(o.m[l.t[k].off + i], (1 - b1) * d, 1e-6 * fabs((1 - b1) * d));
                CHECK_NEAR(o.v[l.t[k].off + i], (1 - 0.999) * d * d, 1e-6 * (1 - 0.999) * d * d);
            }
        optim_free(&o);
    }
}

/* A second SGD step with momentum 0 at the first: torch creates the buffer
 * at the first step with momentum != 0, so b2 = d2 (not mu*d1 + d2). */
static void test_sgd_zero_momentum_first(void) {
    layout l = three_groups();
    optim o;
    CHECK(optim_init_layout(&o, OPTIM_SGD, l.t, l.n, l.nparams) == YOLOC_OK);
    o.nesterov = 0;
    float p[64] = {0}, g[64] = {0};
    p[l.t[1].off] = 1.0f;
    g[l.t[1].off] = 0.5f;
    optim_group_hp hp[3] = {{0.1, 0, 0}, {0.1, 0, 0}, {0.1, 0, 0}};
    CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
    CHECK_NEAR(p[l.t[1].off], 0.95, 1e-7);
    CHECK(o.m[l.t[1].off] == 0.0f);
    g[l.t[1].off] = 0.25f;
    for (int k = 0; k < 3; k++) hp[k].momentum = 0.9;
    CHECK(optim_step(&o, p, g, hp) == YOLOC_OK);
    CHECK_NEAR(o.m[l.t[1].off], 0.25, 1e-7);
    CHECK_NEAR(p[l.t[1].off], 0.95 - 0.1 * 0.25, 1e-7);
    optim_free(&o);
}

/* ------------------------------------------------------------------------ */
/* State round trip and validation. */

static void fill_random(float *x, size_t n, unsigned seed) {
    unsigned s = seed;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * 2.0f;
    }
}

static void zero_padding(const layout *l, float *x) {
    for (size_t i = 0; i < l->n; i++) {
        size_t end = l->t[i].off + l->t[i].numel;
        size_t next = i + 1 < l->n ? l->t[i + 1].off : l->nparams;
        for (size_t j = end; j < next; j++) x[j] = 0;
    }
}

static void test_state_roundtrip(void) {
    layout l = {0};
    layout_add(&l, "b", PG_BIAS, 21);
    layout_add(&l, "w", PG_WEIGHT, 40);
    layout_add(&l, "n", PG_NORM, 7);
    for (int kind = 0; kind < OPTIM_KIND_COUNT; kind++) {
        optim a, b;
        CHECK(optim_init_layout(&a, (optim_kind)kind, l.t, l.n, l.nparams) == YOLOC_OK);
        CHECK(optim_init_layout(&b, (optim_kind)kind, l.t, l.n, l.nparams) == YOLOC_OK);
        float pa[128], pb[128], g[128];
        fill_random(pa, l.nparams, 1);
        zero_padding(&l, pa);
        optim_group_hp hp[3] = {{0.01, 0.9, 0}, {0.02, 0.85, 1e-3}, {0.005, 0.9, 0}};
        for (int s = 0; s < 5; s++) {
            fill_random(g, l.nparams, 100 + (unsigned)s);
            CHECK(optim_step(&a, pa, g, hp) == YOLOC_OK);
        }
        /* checkpoint a -> b */
        optim_state_view va[OPTIM_MAX_STATE], vb[OPTIM_MAX_STATE];
        int na = optim_state(&a, va), nb = optim_state(&b, vb);
        CHECK_EQ_INT(na, kind == OPTIM_SGD ? 1 : 2);
        CHECK_EQ_INT(na, nb);
        CHECK_STR(va[0].name, "optim.m");
        if (na > 1) CHECK_STR(va[1].name, "optim.v");
        for (int i = 0; i < na && i < nb; i++) {
            CHECK_EQ_INT(va[i].n, l.nparams);
            memcpy(vb[i].data, va[i].data, va[i].n * sizeof(float));
        }
        b.step = a.step;
        memcpy(pb, pa, sizeof pa);
        fill_random(g, l.nparams, 999);
        CHECK(optim_step(&a, pa, g, hp) == YOLOC_OK);
        CHECK(optim_step(&b, pb, g, hp) == YOLOC_OK);
        CHECK_MSG(memcmp(pa, pb, l.nparams * sizeof(float)) == 0, "%s: resumed step differs",
                  optim_kind_name((optim_kind)kind));
        optim_free(&a);
        optim_free(&b);
    }
}

static void test_hp_validation(void) {
    layout l = three_groups();
    optim o;
    CHECK(optim_init_layout(&o, OPTIM_ADAMW, l.t, l.n, l.nparams) == YOLOC_OK);
    float p[64] = {0}, g[64] = {0};
    p[l.t[1].off] = 1.0f;
    g[l.t[1].off] = 1.0f;
    optim_group_hp hp[3] = {{0.01, 0.9, 0}, {-0.01, 0.9, 0}, {0.01, 0.9, 0}};
    CHECK(optim_step(&o, p, g, hp) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "pg1");
    CHECK_CONTAINS(yoloc_last_error(), "lr");
    hp[1].lr = 0.01;
    hp[2].momentum = 1.0;
    CHECK(optim_step(&o, p, g, hp) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "momentum");
    hp[2].momentum = 0.9;
    hp[0].weight_decay = NAN;
    CHECK(optim_step(&o, p, g, hp) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "weight_decay");
    CHECK(p[l.t[1].off] == 1.0f);
    CHECK_EQ_INT(o.step, 0);
    optim_free(&o);

    /* overlapping / out-of-range layouts */
    layout bad = three_groups();
    bad.t[1].off = bad.t[0].off + 1;
    CHECK(optim_init_layout(&o, OPTIM_SGD, bad.t, bad.n, bad.nparams) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "overlap");
    optim_free(&o);
    bad = three_groups();
    CHECK(optim_init_layout(&o, OPTIM_SGD, bad.t, bad.n, 40) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "f [");
    optim_free(&o);
}

/* ------------------------------------------------------------------------ */
/* Gradient utilities. */

static void test_clip_and_norm(void) {
    layout l = three_groups();
    optim o;
    CHECK(optim_init_layout(&o, OPTIM_SGD, l.t, l.n, l.nparams) == YOLOC_OK);
    float g[64];
    for (size_t i = 0; i < l.nparams; i++) g[i] = 1000.0f; /* frozen + padding: ignored */
    /* trainable: (3, 4, 0) (0, 0, 0) (0, 0, 0): norm 5 */
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 3; i++) g[l.t[k].off + i] = 0;
    g[l.t[0].off] = 3;
    g[l.t[2].off + 1] = 4;
    double n = grad_global_norm(&o, g);
    printf("  grad_global_norm (3,4): %.17g want 5 (tol 0)\n", n);
    CHECK(n == 5.0);
    float before[64];
    memcpy(before, g, sizeof g);
    double tot = grad_clip(&o, g, 10.0);
    CHECK(tot == 5.0);
    CHECK(memcmp(before, g, sizeof g) == 0); /* below max_norm: untouched */
    tot = grad_clip(&o, g, 2.5);
    const double coef = 2.5 / (5.0 + 1e-6);
    printf("  grad_clip 5 -> 2.5: %.9g %.9g want %.9g %.9g\n", g[l.t[0].off], g[l.t[2].off + 1],
           3 * coef, 4 * coef);
    CHECK(tot == 5.0);
    CHECK_NEAR(g[l.t[0].off], 3 * coef, 1e-6);
    CHECK_NEAR(g[l.t[2].off + 1], 4 * coef, 1e-6);
    CHECK_NEAR(grad_global_norm(&o, g), 2.5, 1e-5);
    CHECK(g[l.t[3].off] == 1000.0f);     /* frozen untouched */
    CHECK(g[l.t[0].off + 3] == 1000.0f); /* padding untouched */
    /* grad_scale */
    grad_scale(&o, g, 0.5f);
    CHECK_NEAR(g[l.t[0].off], 1.5 * coef, 1e-6);
    CHECK(g[l.t[3].off] == 1000.0f);
    /* all finite: NaN/inf only count in trainable tensors */
    CHECK(grad_all_finite(&o, g));
    g[l.t[3].off] = NAN;
    g[l.t[1].off + 5] = INFINITY; /* padding */
    CHECK(grad_all_finite(&o, g));
    g[l.t[1].off + 2] = -INFINITY;
    CHECK(!grad_all_finite(&o, g));
    g[l.t[1].off + 2] = NAN;
    CHECK(!grad_all_finite(&o, g));
    /* a non-finite norm leaves gradients alone */
    float keep = g[l.t[0].off];
    CHECK(!isfinite(grad_clip(&o, g, 1.0)));
    CHECK(g[l.t[0].off] == keep);
    optim_free(&o);
}

/* A large layout so the passes really run on several threads. */
static void test_threads(void) {
    layout l = {0};
    layout_add(&l, "b", PG_BIAS, 1000);
    layout_add(&l, "w", PG_WEIGHT, 700001);
    layout_add(&l, "n", PG_NORM, 333);
    layout_add(&l, "w2", PG_WEIGHT, 250000);
    layout_add(&l, "f", PG_FROZEN, 1000);
    optim o;
    CHECK(optim_init_layout(&o, OPTIM_ADAMW, l.t, l.n, l.nparams) == YOLOC_OK);
    float *g = malloc(l.nparams * sizeof *g);
    fill_random(g, l.nparams, 7);
    zero_padding(&l, g);
    for (size_t i = 0; i < 1000; i++) g[l.t[4].off + i] = 1e6f; /* frozen: excluded */
    long double ref = 0;
    for (size_t t = 0; t < 4; t++)
        for (size_t i = 0; i < l.t[t].numel; i++)
            ref += (long double)g[l.t[t].off + i] * g[l.t[t].off + i];
    double want = (double)sqrtl(ref);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    double n1 = grad_global_norm(&o, g);
    omp_set_num_threads(2);
    double n2 = grad_global_norm(&o, g);
    omp_set_num_threads(saved);
    printf("  grad_global_norm %zu floats: 1 thread %.17g, 2 threads %.17g, long double %.17g\n",
           l.nparams, n1, n2, want);
    CHECK_MSG(n1 == n2, "norm depends on the thread count: %.17g vs %.17g", n1, n2);
    CHECK_NEAR(n1, want, 1e-12 * want);

    /* an optimizer step: the same bits on 1 and 2 threads */
    float *p1 = malloc(l.nparams * sizeof *p1), *p2 = malloc(l.nparams * sizeof *p2);
    fill_random(p1, l.nparams, 8);
    zero_padding(&l, p1);
    memcpy(p2, p1, l.nparams * sizeof *p1);
    optim o2;
    CHECK(optim_init_layout(&o2, OPTIM_ADAMW, l.t, l.n, l.nparams) == YOLOC_OK);
    optim_group_hp hp[3] = {{1e-3, 0.9, 0}, {1e-3, 0.9, 0.05}, {1e-3, 0.9, 0}};
    omp_set_num_threads(1);
    CHECK(optim_step(&o, p1, g, hp) == YOLOC_OK);
    omp_set_num_threads(2);
    CHECK(optim_step(&o2, p2, g, hp) == YOLOC_OK);
    omp_set_num_threads(saved);
    CHECK_MSG(memcmp(p1, p2, l.nparams * sizeof *p1) == 0, "step depends on the thread count");
    CHECK(padding_zero(&l, p1));
    CHECK(memcmp(p1 + l.t[4].off, p2 + l.t[4].off, 1000 * sizeof(float)) == 0);
    /* chunks never exceed OPTIM_CHUNK and cover exactly the trainable floats */
    size_t covered = 0, maxlen = 0;
    for (size_t c = 0; c < o.group_start[OPTIM_NGROUPS]; c++) {
        covered += o.chunks[c].len;
        if (o.chunks[c].len > maxlen) maxlen = o.chunks[c].len;
    }
    CHECK_EQ_INT(covered, 1000 + 700001 + 333 + 250000);
    CHECK(maxlen <= OPTIM_CHUNK);
    free(g);
    free(p1);
    free(p2);
    optim_free(&o);
    optim_free(&o2);
}

/* ------------------------------------------------------------------------ */
/* optimizer=auto, log line, parsing. */

static void test_auto(void) {
    optim_auto_choice c;
    optim_auto(10, 1500, &c);
    CHECK_EQ_INT(c.kind, OPTIM_ADAMW);
    CHECK(c.lr == 0.000714);
    CHECK(c.momentum == 0.9);
    CHECK(c.warmup_bias_lr == 0.0);
    printf("  %s\n", c.reason);
    CHECK_CONTAINS(c.reason, "optimizer=auto: 1,500 iterations <= 10,000, so "
                             "AdamW(lr=0.000714, momentum=0.9) as Ultralytics does; lr0 and "
                             "momentum are ignored");
    optim_auto(80, 10000, &c);
    CHECK_EQ_INT(c.kind, OPTIM_ADAMW);
    CHECK(c.lr == 0.000119);
    CHECK_CONTAINS(c.reason, "lr=0.000119");
    optim_auto(1, 100, &c);
    CHECK(c.lr == 0.002);
    optim_auto(0, 100, &c); /* nc missing: Ultralytics' 10 */
    CHECK(c.lr == 0.000714);
    optim_auto(80, 10001, &c);
    CHECK_EQ_INT(c.kind, OPTIM_SGD);
    CHECK(c.lr == 0.01);
    CHECK(c.momentum == 0.9);
    CHECK_CONTAINS(c.reason, "10,001 iterations > 10,000, so SGD(lr=0.01, momentum=0.9)");
    optim_auto(80, 1234567, &c);
    CHECK_CONTAINS(c.reason, "1,234,567 iterations");
    /* ceil(len/max(batch, nbs)) * epochs */
    CHECK_EQ_INT(optim_auto_iterations(1000, 16, 64, 100), 1600);
    CHECK_EQ_INT(optim_auto_iterations(1024, 128, 64, 3), 24);
    CHECK_EQ_INT(optim_auto_iterations(1025, 128, 64, 3), 27);
}

static void test_describe_yolov8n(void) {
    model_spec spec;
    status st = model_spec_load(&spec, "yolov8n.yaml", 80);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) return;
    model_options mo = {.be = &OPS_BACKEND_REF, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    st = model_create(&m, &spec, &mo, 0);
    model_spec_free(&spec);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st < 0) return;
    optim o;
    CHECK(optim_init(&o, OPTIM_SGD, m) == YOLOC_OK);
    char line[256];
    optim_describe(&o, 0.01, 0.937, 0.0005, line, sizeof line);
    printf("  %s\n", line);
    CHECK_STR(line, "SGD(lr=0.01, momentum=0.937, nesterov) with parameter groups 57 "
                    "weight(decay=0.0), 64 weight(decay=0.0005), 63 bias(decay=0.0)");
    /* trainable: the DFL conv weight is frozen */
    CHECK_EQ_INT(o.ntensors[PG_WEIGHT], 63);
    CHECK_EQ_INT(o.ntensors[PG_BIAS], 63);
    CHECK_EQ_INT(o.ntensors[PG_NORM], 57);
    size_t frozen = 0;
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (!p->buffer && p->group == PG_FROZEN) frozen += p->numel;
    }
    CHECK_EQ_INT(o.numel[0] + o.numel[1] + o.numel[2] + frozen, 3157200);
    /* the model's padding stays zero after a step */
    float *g = calloc(model_num_params(m), sizeof *g);
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (p->buffer) continue;
        for (size_t j = 0; j < p->numel; j++) g[p->off + j] = 0.01f * (float)((j % 7) + 1);
    }
    const param_info *dfl = model_find(m, "model.22.dfl.conv.weight");
    CHECK(dfl != NULL);
    float dfl_before = dfl ? model_params(m)[dfl->off + 5] : 0;
    optim_group_hp hp[3] = {{0.1, 0.8, 0}, {0.01, 0.8, 5e-4}, {0.01, 0.8, 0}};
    CHECK(optim_step(&o, model_params(m), g, hp) == YOLOC_OK);
    if (dfl) CHECK(model_params(m)[dfl->off + 5] == dfl_before);
    size_t nonzero_pad = 0, prev_end = 0;
    const float *pp = model_params(m);
    for (size_t i = 0; i < model_num_tensors(m); i++) {
        const param_info *p = model_tensor(m, i);
        if (p->buffer) continue;
        for (size_t j = prev_end; j < p->off; j++) nonzero_pad += pp[j] != 0;
        prev_end = p->off + p->numel;
    }
    CHECK_EQ_INT(nonzero_pad, 0);
    free(g);
    optim_free(&o);

    CHECK(optim_init(&o, OPTIM_ADAMW, m) == YOLOC_OK);
    optim_describe(&o, 0.000119, 0.9, 0.0005625, line, sizeof line);
    CHECK_STR(line, "AdamW(lr=0.000119, momentum=0.9) with parameter groups 57 "
                    "weight(decay=0.0), 64 weight(decay=0.0005625), 63 bias(decay=0.0)");
    optim_describe(&o, 1e-05, 0.9, 0.001, line, sizeof line);
    CHECK_CONTAINS(line, "AdamW(lr=1e-05, momentum=0.9)");
    CHECK_CONTAINS(line, "weight(decay=0.001)");
    optim_free(&o);
    model_free(m);
}

static void test_parse(void) {
    optim_kind k = OPTIM_SGD;
    int is_auto = -1;
    CHECK(optim_kind_parse("adamw", &k, &is_auto) == YOLOC_OK);
    CHECK(k == OPTIM_ADAMW && is_auto == 0);
    CHECK(optim_kind_parse("Adam", &k, &is_auto) == YOLOC_OK);
    CHECK(k == OPTIM_ADAM);
    CHECK(optim_kind_parse("SGD", &k, &is_auto) == YOLOC_OK);
    CHECK(k == OPTIM_SGD);
    CHECK(optim_kind_parse("auto", &k, &is_auto) == YOLOC_OK);
    CHECK(is_auto == 1);
    CHECK(optim_kind_parse("RMSProp", &k, &is_auto) == YOLOC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(yoloc_last_error(), "optimizer=RMSProp");
    CHECK(optim_kind_parse("lion", &k, &is_auto) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "optimizer=lion");
}

int main(void) {
    test_torch_fixture("optim_sgd_nesterov.txt", OPTIM_SGD, 1);
    test_torch_fixture("optim_sgd.txt", OPTIM_SGD, 0);
    test_torch_fixture("optim_adamw.txt", OPTIM_ADAMW, 1);
    test_torch_fixture("optim_adam.txt", OPTIM_ADAM, 1);
    test_hand_sgd();
    test_hand_adam();
    test_sgd_zero_momentum_first();
    test_state_roundtrip();
    test_hp_validation();
    test_clip_and_norm();
    test_threads();
    test_auto();
    test_describe_yolov8n();
    test_parse();
    return test_finish("test_optim");
}
