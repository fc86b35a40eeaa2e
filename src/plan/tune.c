/* `yoloc tune`: the search space, the scrambled Halton sampler, successive
 * halving and the search loop over train_run_ex (see tune.h). */
#include "plan/tune.h"

#include "plan/plan.h"

#include "core/kv.h"
#include "core/log.h"
#include "core/rng.h"
#include "data/dataset.h"
#include "core/timer.h"
#include "io/file.h"
#include "io/plot.h"
#include "io/yaml.h"
#include "train/lrbatch.h"
#include "train/recipe.h"
#include "train/optim.h"
#include "train/trainer.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* The search space. */

/* Keys a space may not search: the search's own, the trial length, and
 * settings that are not hyper-parameters. */
static const char *const NOT_SEARCHABLE[] = {"epochs", "budget", "eta", "min_epochs", "dry", "exist_ok", "val", "plots",
                                             "deterministic", "threads", "workers", "dist_timeout", "backend",
                                             "save_period", "split", "save_txt", "noise_scale", NULL};

static int in_list(const char *const *l, const char *s) {
    for (; *l; l++)
        if (strcmp(*l, s) == 0) return 1;
    return 0;
}

static int default_log(const char *key) { return strcmp(key, "lr0") == 0 || strcmp(key, "weight_decay") == 0; }
static int list_means_choices(const char *key) { return strcmp(key, "batch") == 0 || strcmp(key, "accumulate") == 0; }

int tune_space_find(const tune_space *s, const char *key) {
    for (int i = 0; i < s->ndims; i++)
        if (strcmp(s->dims[i].key, key) == 0) return i;
    return -1;
}

/* A choice checked against the option and put in canonical form. */
static status canon_choice(const ydoc *doc, const ynode *n, const char *key, char *out, size_t cap) {
    if (n->kind != YNODE_SCALAR) return ynode_error(doc, n, YOLOC_ERR_PARSE, "key '%s': a choice must be a single value", key);
    config scratch;
    TRY(config_init(&scratch));
    status st = config_set(&scratch, key, n->str, NULL);
    if (st < 0) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", yoloc_last_error());
        config_free(&scratch);
        return ynode_error(doc, n, st, "%s", msg);
    }
    char buf[256];
    config_value_str(&scratch, config_find(key), buf, sizeof buf);
    config_free(&scratch);
    if (strlen(buf) >= cap) return ynode_error(doc, n, YOLOC_ERR_INVALID, "key '%s': value '%s' is too long", key, buf);
    snprintf(out, cap, "%s", buf);
    return YOLOC_OK;
}

static status parse_choices(const ydoc *doc, const ynode *seq, const opt_info *o, tune_dim *d) {
    if (seq->kind != YNODE_SEQ || seq->n < 2)
        return ynode_error(doc, seq, YOLOC_ERR_PARSE, "key '%s': choices need a list of at least 2 values", o->name);
    if (seq->n > TUNE_MAX_CHOICES)
        return ynode_error(doc, seq, YOLOC_ERR_INVALID, "key '%s': at most %d choices, got %zu", o->name,
                           TUNE_MAX_CHOICES, seq->n);
    d->kind = TUNE_CHOICE;
    d->nchoices = 0;
    for (size_t i = 0; i < seq->n; i++) {
        char v[TUNE_VALUE_LEN];
        TRY(canon_choice(doc, seq->items[i], o->name, v, sizeof v));
        for (int j = 0; j < d->nchoices; j++)
            if (strcmp(d->choices[j], v) == 0)
                return ynode_error(doc, seq->items[i], YOLOC_ERR_INVALID, "key '%s': choice '%s' is listed twice",
                                   o->name, v);
        snprintf(d->choices[d->nchoices++], TUNE_VALUE_LEN, "%s", v);
    }
    return YOLOC_OK;
}

static status parse_range(const ydoc *doc, const ynode *at, const ynode *lo_n, const ynode *hi_n, int log_scale,
                          const opt_info *o, tune_dim *d) {
    double lo, hi;
    char what[80];
    snprintf(what, sizeof what, "key '%s'", o->name);
    TRY(ynode_double(doc, lo_n, what, &lo));
    TRY(ynode_double(doc, hi_n, what, &hi));
    if (!(lo < hi)) return ynode_error(doc, at, YOLOC_ERR_INVALID, "key '%s': the range needs lo < hi, got [%g, %g]", o->name, lo, hi);
    if (lo < o->lo || hi > o->hi)
        return ynode_error(doc, at, YOLOC_ERR_INVALID, "key '%s': the range [%g, %g] leaves the key's allowed [%g, %g]",
                           o->name, lo, hi, o->lo, o->hi);
    if (o->type == OPT_INT) {
        if (lo != floor(lo) || hi != floor(hi))
            return ynode_error(doc, at, YOLOC_ERR_INVALID, "key '%s': an integer key needs whole numbers, got [%g, %g]",
                               o->name, lo, hi);
        if (log_scale) return ynode_error(doc, at, YOLOC_ERR_INVALID, "key '%s': log scale applies to float keys", o->name);
        d->kind = TUNE_INT;
    } else {
        if (log_scale && !(lo > 0))
            return ynode_error(doc, at, YOLOC_ERR_INVALID, "key '%s': a log-uniform range needs lo > 0, got %g", o->name, lo);
        d->kind = log_scale ? TUNE_LOG : TUNE_UNIFORM;
    }
    d->lo = lo;
    d->hi = hi;
    return YOLOC_OK;
}

static status parse_dim(const ydoc *doc, const char *key, int key_line, const ynode *v, tune_dim *d) {
    memset(d, 0, sizeof *d);
    const opt_info *o = config_find(key);
    if (!o) {
        config scratch;
        TRY(config_init(&scratch));
        status st = config_set(&scratch, key, "0", NULL); /* for its "did you mean" message */
        char msg[512];
        snprintf(msg, sizeof msg, "%s", yoloc_last_error());
        config_free(&scratch);
        (void)st;
        return err_set(YOLOC_ERR_INVALID, "%s:%d: %s", doc->name, key_line, msg);
    }
    if (o->type == OPT_STR || in_list(NOT_SEARCHABLE, key))
        return err_set(YOLOC_ERR_INVALID, "%s:%d: key '%s' cannot be searched (a search varies numeric and choice train keys)",
                       doc->name, key_line, key);
    if (strlen(key) >= sizeof d->key) return err_set(YOLOC_ERR_INVALID, "%s:%d: key '%s' is too long", doc->name, key_line, key);
    snprintf(d->key, sizeof d->key, "%s", key);
    int numeric = o->type == OPT_INT || o->type == OPT_FLOAT;
    if (v->kind == YNODE_SEQ) {
        if (!numeric || list_means_choices(key) || v->n != 2) return parse_choices(doc, v, o, d);
        return parse_range(doc, v, v->items[0], v->items[1], default_log(key), o, d);
    }
    if (v->kind == YNODE_MAP) {
        const ynode *ch = ynode_get(v, "choices"), *mn = ynode_get(v, "min"), *mx = ynode_get(v, "max"),
                    *lg = ynode_get(v, "log");
        for (size_t i = 0; i < v->n; i++)
            if (strcmp(v->keys[i], "choices") && strcmp(v->keys[i], "min") && strcmp(v->keys[i], "max") &&
                strcmp(v->keys[i], "log"))
                return err_set(YOLOC_ERR_PARSE, "%s:%d: key '%s': unknown field '%s' (min, max, log or choices)",
                               doc->name, v->key_lines[i], key, v->keys[i]);
        if (ch) {
            if (mn || mx || lg)
                return ynode_error(doc, v, YOLOC_ERR_PARSE, "key '%s': give either choices or min/max", key);
            return parse_choices(doc, ch, o, d);
        }
        if (!mn || !mx) return ynode_error(doc, v, YOLOC_ERR_PARSE, "key '%s': a range needs min and max", key);
        if (!numeric) return ynode_error(doc, v, YOLOC_ERR_PARSE, "key '%s': not a numeric key, give choices", key);
        int log_scale = default_log(key);
        if (lg) {
            char what[80];
            snprintf(what, sizeof what, "key '%s' log", key);
            TRY(ynode_bool(doc, lg, what, &log_scale));
        }
        return parse_range(doc, v, mn, mx, log_scale, o, d);
    }
    return ynode_error(doc, v, YOLOC_ERR_PARSE,
                       "key '%s': expected [lo, hi], [a, b, c], {min: lo, max: hi, log: True} or {choices: [...]}", key);
}

status tune_space_parse(tune_space *s, const char *text, size_t len, const char *name) {
    memset(s, 0, sizeof *s);
    ydoc doc;
    TRY(ydoc_load_string(&doc, text, len, name));
    status st = YOLOC_OK;
    const ynode *root = doc.root;
    if (!root || root->kind != YNODE_MAP || root->n == 0) {
        st = err_set(YOLOC_ERR_PARSE, "%s: expected a mapping of key: [lo, hi] or key: [a, b, c] (at least one key)", name);
        goto done;
    }
    for (size_t k = 0; k < root->n; k++) {
        if (s->ndims >= TUNE_MAX_DIMS) {
            st = err_set(YOLOC_ERR_INVALID, "%s:%d: at most %d keys can be searched", name, root->key_lines[k], TUNE_MAX_DIMS);
            goto done;
        }
        if (tune_space_find(s, root->keys[k]) >= 0) {
            st = err_set(YOLOC_ERR_INVALID, "%s:%d: key '%s' is given twice", name, root->key_lines[k], root->keys[k]);
            goto done;
        }
        if ((st = parse_dim(&doc, root->keys[k], root->key_lines[k], root->items[k], &s->dims[s->ndims])) < 0) goto done;
        s->ndims++;
    }
done:
    ydoc_free(&doc);
    return st;
}

status tune_space_load(tune_space *s, const char *path) {
    char *text;
    size_t len;
    TRY(file_read_all(path, 1 << 20, &text, &len));
    status st = tune_space_parse(s, text, len, path);
    free(text);
    return st;
}

/* The accumulate and effective batch of c's batch settings with `processes`
 * processes (lrbatch's rule); 0 when batch is not a whole number. */
static long effective_batch(const config *c, int processes, int *acc) {
    if (!(c->batch >= 1) || c->batch != floor(c->batch)) return 0;
    long per_step = (long)c->batch * processes;
    int a = lrb_accumulate((int)c->accumulate, (int)c->nbs, per_step);
    if (acc) *acc = a;
    return per_step * a;
}

static void add_range(tune_space *s, const char *key, tune_kind k, double lo, double hi) {
    tune_dim *d = &s->dims[s->ndims++];
    memset(d, 0, sizeof *d);
    snprintf(d->key, sizeof d->key, "%s", key);
    d->kind = k;
    d->lo = lo;
    d->hi = hi;
}

void tune_space_default(tune_space *s, const config *c, int processes) {
    memset(s, 0, sizeof *s);
    const opt_info *olr = config_find("lr0"), *owd = config_find("weight_decay");
    if (c->lr0 > 0) add_range(s, "lr0", TUNE_LOG, 0.3 * c->lr0, fmin(3 * c->lr0, olr->hi));
    double whi = fmin(5, 0.5 * (double)c->epochs), wlo = fmin(1, 0.5 * whi);
    add_range(s, "warmup_epochs", TUNE_UNIFORM, wlo, whi);
    add_range(s, "momentum", TUNE_UNIFORM, 0.85, 0.98);
    if (c->weight_decay > 0) add_range(s, "weight_decay", TUNE_LOG, 0.3 * c->weight_decay, fmin(3 * c->weight_decay, owd->hi));
    int a = 0;
    if (effective_batch(c, processes, &a) > 0 && a >= 1) {
        tune_dim *d = &s->dims[s->ndims];
        memset(d, 0, sizeof *d);
        snprintf(d->key, sizeof d->key, "accumulate");
        d->kind = TUNE_CHOICE;
        int cand[3] = {a / 2, a, 2 * a};
        for (int i = 0; i < 3; i++) {
            if (cand[i] < 1 || (d->nchoices && atoi(d->choices[d->nchoices - 1]) == cand[i])) continue;
            snprintf(d->choices[d->nchoices++], TUNE_VALUE_LEN, "%d", cand[i]);
        }
        if (d->nchoices >= 2) s->ndims++;
    }
}

void tune_space_write(const tune_space *s, FILE *f) {
    for (int i = 0; i < s->ndims; i++) {
        const tune_dim *d = &s->dims[i];
        if (d->kind == TUNE_CHOICE) {
            fprintf(f, "%s: {choices: [", d->key);
            for (int j = 0; j < d->nchoices; j++) fprintf(f, "%s%s", j ? ", " : "", d->choices[j]);
            fprintf(f, "]}\n");
        } else if (d->kind == TUNE_INT) {
            fprintf(f, "%s: {min: %.10g, max: %.10g}\n", d->key, d->lo, d->hi);
        } else {
            fprintf(f, "%s: {min: %.10g, max: %.10g, log: %s}\n", d->key, d->lo, d->hi,
                    d->kind == TUNE_LOG ? "True" : "False");
        }
    }
}

/* ------------------------------------------------------------------------ */
/* The sampler. */

static const int PRIMES[TUNE_MAX_DIMS] = {2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53};

void tune_halton(uint64_t seed, long index, int ndims, double *u) {
    for (int j = 0; j < ndims && j < TUNE_MAX_DIMS; j++) {
        int b = PRIMES[j];
        /* digits down to b^-K <= 2^-40; the digits past the index's own
         * (zeros) are permuted too, so every coordinate is scrambled */
        int K = (int)ceil(40 * log(2.0) / log((double)b));
        unsigned long i = (unsigned long)index;
        double f = 1.0 / b, x = 0;
        uint32_t perm[64];
        for (int k = 0; k < K; k++) {
            rng r;
            rng_seed_keys(&r, seed, 0x68616c746f6eull /* "halton" */, (uint64_t)j, (uint64_t)k);
            rng_permutation(&r, perm, (size_t)b);
            x += perm[i % (unsigned long)b] * f;
            i /= (unsigned long)b;
            f /= b;
        }
        u[j] = x < 1 ? x : nextafter(1.0, 0.0);
    }
}

/* Rounds to 4 significant digits, kept inside [lo, hi]. */
static void fmt_in_range(double v, double lo, double hi, char *buf, size_t cap) {
    snprintf(buf, cap, "%.4g", v);
    double r = strtod(buf, NULL);
    if (r > hi) snprintf(buf, cap, "%.10g", hi);
    if (r < lo) snprintf(buf, cap, "%.10g", lo);
}

void tune_dim_value(const tune_dim *d, double u, char *buf, size_t cap) {
    if (u < 0) u = 0;
    if (u >= 1) u = nextafter(1.0, 0.0);
    switch (d->kind) {
    case TUNE_UNIFORM: fmt_in_range(d->lo + u * (d->hi - d->lo), d->lo, d->hi, buf, cap); break;
    case TUNE_LOG: fmt_in_range(exp(log(d->lo) + u * (log(d->hi) - log(d->lo))), d->lo, d->hi, buf, cap); break;
    case TUNE_INT: {
        double v = d->lo + floor(u * (d->hi - d->lo + 1));
        if (v > d->hi) v = d->hi;
        snprintf(buf, cap, "%.0f", v);
        break;
    }
    case TUNE_CHOICE: {
        int k = (int)floor(u * d->nchoices);
        if (k >= d->nchoices) k = d->nchoices - 1;
        snprintf(buf, cap, "%s", d->choices[k]);
        break;
    }
    }
}

void tune_trial_values(const tune_space *s, uint64_t seed, int trial, const config *base,
                       char values[][TUNE_VALUE_LEN]) {
    if (trial == 0) {
        for (int i = 0; i < s->ndims; i++) {
            char buf[256];
            config_value_str(base, config_find(s->dims[i].key), buf, sizeof buf);
            snprintf(values[i], TUNE_VALUE_LEN, "%.*s", TUNE_VALUE_LEN - 1, buf);
        }
        return;
    }
    double u[TUNE_MAX_DIMS];
    tune_halton(seed, trial - 1, s->ndims, u);
    for (int i = 0; i < s->ndims; i++) tune_dim_value(&s->dims[i], u[i], values[i], TUNE_VALUE_LEN);
}

/* ------------------------------------------------------------------------ */
/* Successive halving. */

int tune_rungs(int epochs, int eta, int min_epochs, int *rungs) {
    if (epochs < 1) epochs = 1;
    if (eta < 2) eta = 2;
    int down[TUNE_MAX_RUNGS], n = 0;
    for (long p = eta; p <= epochs && n < TUNE_MAX_RUNGS - 1; p *= eta) down[n++] = (int)(epochs / p);
    int m = 0;
    for (int i = n - 1; i >= 0; i--)
        if (down[i] >= min_epochs && (m == 0 || rungs[m - 1] != down[i])) rungs[m++] = down[i];
    if (m == 0 || rungs[m - 1] != epochs) rungs[m++] = epochs;
    return m;
}

int tune_score_better(tune_score a, tune_score b) {
    int an = isnan(a.fitness), bn = isnan(b.fitness);
    if (an || bn) return !an && bn;
    if (a.fitness != b.fitness) return a.fitness > b.fitness;
    int al = isnan(a.val_loss), bl = isnan(b.val_loss);
    if (al || bl) return !al && bl;
    return a.val_loss < b.val_loss;
}

int tune_promote(const tune_score *others, int n_others, tune_score mine, int eta) {
    if (eta < 2) eta = 2;
    int n = n_others + 1, keep = n / eta;
    if (keep < 1) keep = 1;
    int better = 0;
    for (int i = 0; i < n_others; i++) better += tune_score_better(others[i], mine);
    return better < keep;
}

/* ------------------------------------------------------------------------ */
/* Records and results.csv. */

static const char *const STATUS_NAMES[] = {"done", "stopped", "patience", "failed"};

const char *tune_status_name(trial_status s) { return (unsigned)s < 4 ? STATUS_NAMES[s] : "?"; }

/* a before b in the ranking */
static int rank_before(const tune_record *a, const tune_record *b) {
    int af = a->status == TRIAL_FAILED, bf = b->status == TRIAL_FAILED;
    if (af != bf) return bf;
    if (a->epochs != b->epochs) return a->epochs > b->epochs;
    if (tune_score_better(a->best, b->best)) return 1;
    if (tune_score_better(b->best, a->best)) return 0;
    return a->trial < b->trial;
}

void tune_rank(const tune_record *r, int n, int *order) {
    for (int i = 0; i < n; i++) {
        int j = i;
        while (j > 0 && rank_before(&r[i], &r[order[j - 1]])) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

static void put_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, ",%.6g", v);
    else fputc(',', f);
}

static void csv_header(FILE *f, const tune_space *s, const int *rungs, int nrungs) {
    fprintf(f, "trial");
    for (int i = 0; i < s->ndims; i++) fprintf(f, ",%s", s->dims[i].key);
    fprintf(f, ",b_eff,epochs,best_fitness,mAP50,mAP50-95,val_loss");
    for (int k = 0; k < nrungs; k++) fprintf(f, ",fitness@%d,val_loss@%d", rungs[k], rungs[k]);
    fprintf(f, ",rank,status,note\n");
}

status tune_results_write(const char *path, const tune_space *s, const int *rungs, int nrungs,
                          const tune_record *r, int n) {
    int *order = malloc(sizeof(int) * (size_t)(n ? n : 1)), *rank = malloc(sizeof(int) * (size_t)(n ? n : 1));
    if (!order || !rank) {
        free(order);
        free(rank);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    tune_rank(r, n, order);
    for (int i = 0; i < n; i++) rank[order[i]] = i + 1;
    afile a;
    status st = afile_open(&a, path);
    if (st == YOLOC_OK) {
        csv_header(a.fp, s, rungs, nrungs);
        for (int i = 0; i < n; i++) {
            const tune_record *t = &r[i];
            fprintf(a.fp, "%d", t->trial);
            for (int k = 0; k < s->ndims; k++) fprintf(a.fp, ",%s", t->values[k]);
            if (t->b_eff > 0) fprintf(a.fp, ",%ld", t->b_eff);
            else fputc(',', a.fp);
            fprintf(a.fp, ",%d", t->epochs);
            put_num(a.fp, t->best.fitness);
            put_num(a.fp, t->map50);
            put_num(a.fp, t->map5095);
            put_num(a.fp, t->best.val_loss);
            for (int k = 0; k < nrungs; k++) {
                put_num(a.fp, t->rung[k].fitness);
                put_num(a.fp, t->rung[k].val_loss);
            }
            fprintf(a.fp, ",%d,%s,%s\n", rank[i], tune_status_name(t->status), t->note);
        }
        st = afile_commit(&a);
    }
    free(order);
    free(rank);
    return st;
}

static int parse_opt_num(const char *s, double *v) {
    if (!*s) {
        *v = NAN;
        return 0;
    }
    return parse_double(s, v);
}

status tune_results_read(const char *path, const tune_space *s, const int *rungs, int nrungs,
                         tune_record *r, int cap, int *n) {
    *n = 0;
    char *text;
    size_t len;
    TRY(file_read_all(path, (size_t)64 << 20, &text, &len));
    char *hdr = NULL;
    size_t hlen = 0;
    FILE *hf = open_memstream(&hdr, &hlen);
    if (!hf) {
        free(text);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    csv_header(hf, s, rungs, nrungs);
    fclose(hf);
    status st = YOLOC_OK;
    int ncols = 1;
    for (const char *p = hdr; *p && *p != '\n'; p++) ncols += *p == ',';
    char *line = text, *next;
    int lineno = 0;
    for (; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        lineno++;
        if (lineno == 1) {
            if (strncmp(line, hdr, hlen - 1) != 0 || ll != hlen - 1) {
                st = err_set(YOLOC_ERR_PARSE, "%s:1: the columns are not those of this search (expected %.*s)", path,
                             (int)(hlen - 1), hdr);
                goto done;
            }
            continue;
        }
        if (!ll) continue;
        char *f[3 + TUNE_MAX_DIMS + 8 + 2 * TUNE_MAX_RUNGS];
        int nf = 0;
        for (char *p = line;; p++) {
            if (nf < (int)(sizeof f / sizeof f[0])) f[nf] = p;
            nf++;
            p = strchr(p, ',');
            if (!p) break;
            *p = 0;
        }
        if (nf != ncols) {
            st = err_set(YOLOC_ERR_PARSE, "%s:%d: expected %d columns, got %d", path, lineno, ncols, nf);
            goto done;
        }
        if (*n >= cap) {
            st = err_set(YOLOC_ERR_INVALID, "%s:%d: more than %d trials", path, lineno, cap);
            goto done;
        }
        tune_record *t = &r[*n];
        memset(t, 0, sizeof *t);
        int c = 0;
        long v;
        double x;
        if (parse_long(f[c++], &v) != 0 || v != *n) {
            st = err_set(YOLOC_ERR_PARSE, "%s:%d: expected trial %d, got '%s'", path, lineno, *n, f[0]);
            goto done;
        }
        t->trial = (int)v;
        for (int k = 0; k < s->ndims; k++) {
            if (strlen(f[c]) >= TUNE_VALUE_LEN) {
                st = err_set(YOLOC_ERR_PARSE, "%s:%d: value '%s' of %s is too long", path, lineno, f[c], s->dims[k].key);
                goto done;
            }
            snprintf(t->values[k], TUNE_VALUE_LEN, "%s", f[c++]);
        }
        int bad = 0;
        if (*f[c]) bad |= parse_long(f[c], &t->b_eff) != 0;
        c++;
        bad |= parse_long(f[c++], &v) != 0;
        t->epochs = (int)v;
        bad |= parse_opt_num(f[c++], &t->best.fitness) != 0;
        bad |= parse_opt_num(f[c++], &t->map50) != 0;
        bad |= parse_opt_num(f[c++], &t->map5095) != 0;
        bad |= parse_opt_num(f[c++], &t->best.val_loss) != 0;
        for (int k = 0; k < nrungs; k++) {
            bad |= parse_opt_num(f[c++], &t->rung[k].fitness) != 0;
            bad |= parse_opt_num(f[c++], &t->rung[k].val_loss) != 0;
        }
        for (int k = nrungs; k < TUNE_MAX_RUNGS; k++) t->rung[k].fitness = t->rung[k].val_loss = NAN;
        bad |= parse_opt_num(f[c++], &x) != 0; /* rank: recomputed */
        const char *stn = f[c++];
        int found = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(stn, STATUS_NAMES[k]) == 0) found = k;
        if (bad || found < 0) {
            st = err_set(YOLOC_ERR_PARSE, "%s:%d: a number or the status (done, stopped, patience, failed) is malformed",
                         path, lineno);
            goto done;
        }
        t->status = (trial_status)found;
        snprintf(t->note, sizeof t->note, "%s", f[c]);
        (*n)++;
    }
    if (lineno == 0) st = err_set(YOLOC_ERR_PARSE, "%s: empty file", path);
done:
    free(hdr);
    free(text);
    return st;
}

/* ------------------------------------------------------------------------ */
/* tune.png: fitness against lr0 (log axis) and against the effective batch. */

typedef struct {
    double x, y;
    int trial, full, best;
} tune_point;

static void draw_marker(cairo_t *cr, const tune_point *p, double px, double py, double r) {
    plot_rgb c = plot_series_colour(p->full ? 0 : 1);
    cairo_set_line_width(cr, 1.5);
    if (p->trial == 0) {
        cairo_rectangle(cr, px - r, py - r, 2 * r, 2 * r);
    } else {
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, r, 0, 2 * M_PI);
    }
    cairo_set_source_rgb(cr, c.r, c.g, c.b);
    if (p->full) cairo_fill_preserve(cr);
    cairo_stroke(cr);
    if (p->best) {
        cairo_set_source_rgb(cr, 0.85, 0.1, 0.1);
        cairo_set_line_width(cr, 2);
        cairo_new_sub_path(cr);
        cairo_arc(cr, px, py, r * 1.9, 0, 2 * M_PI);
        cairo_stroke(cr);
    }
}

static void scatter(cairo_t *cr, double X, double Y, double W, double H, const tune_point *p, int n, int log_x,
                    int data_ticks, const char *title, const char *xlabel, const char *ylabel) {
    double font = 13, L = X + 78, T = Y + 36, R = X + W - 18, B = Y + H - 52;
    double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
    for (int i = 0; i < n; i++) {
        double x = log_x ? log10(p[i].x) : p[i].x;
        if (!isfinite(x) || !isfinite(p[i].y)) continue;
        xlo = fmin(xlo, x), xhi = fmax(xhi, x), ylo = fmin(ylo, p[i].y), yhi = fmax(yhi, p[i].y);
    }
    if (!(xhi >= xlo)) xlo = 0, xhi = 1;
    if (!(yhi >= ylo)) ylo = 0, yhi = 1;
    if (xhi - xlo < 1e-9) xlo -= log_x ? 0.15 : 0.5, xhi += log_x ? 0.15 : 0.5;
    if (yhi - ylo < 1e-12) {
        double d = fmax(fabs(ylo) * 0.1, 1e-3);
        ylo -= d, yhi += d;
    }
    double px_ = (xhi - xlo) * 0.08, py_ = (yhi - ylo) * 0.1, ymin = ylo;
    xlo -= px_, xhi += px_, ylo -= py_, yhi += py_;
    if (ymin >= 0 && ylo < 0) ylo = -0.05 * yhi; /* fitness is >= 0: no negative axis */
#define MX(v) (L + ((v) - xlo) / (xhi - xlo) * (R - L))
#define MY(v) (B - ((v) - ylo) / (yhi - ylo) * (B - T))
    cairo_set_source_rgb(cr, 0, 0, 0);
    plot_text(cr, (L + R) / 2, Y + 22, title, font + 2, 0, 0);
    plot_text(cr, (L + R) / 2, Y + H - 12, xlabel, font, 0, 0);
    plot_text(cr, X + 18, (T + B) / 2, ylabel, font, 0, M_PI / 2);
    /* grid and ticks */
    double ticks[64];
    int nt;
    if (log_x) nt = plot_log_ticks(pow(10, xlo), pow(10, xhi), ticks, 64);
    else nt = plot_nice_ticks(xlo, xhi, 8, ticks);
    int inside = 0;
    for (int i = 0; i < nt; i++) {
        double v = log_x ? log10(ticks[i]) : ticks[i];
        inside += v >= xlo && v <= xhi;
    }
    if (inside < 3 || data_ticks) { /* few ticks: label the distinct values of the points instead */
        nt = 0;
        for (int i = 0; i < n && nt < 8; i++) {
            if (!isfinite(p[i].x) || (log_x && p[i].x <= 0)) continue;
            int seen = 0;
            for (int j = 0; j < nt; j++) seen |= fabs(ticks[j] - p[i].x) <= 1e-9 * fabs(p[i].x);
            if (!seen) ticks[nt++] = p[i].x;
        }
    }
    cairo_set_line_width(cr, 1);
    for (int i = 0; i < nt; i++) {
        double v = log_x ? log10(ticks[i]) : ticks[i];
        if (v < xlo || v > xhi) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, MX(v), T);
        cairo_line_to(cr, MX(v), B);
        cairo_stroke(cr);
        char lab[32];
        snprintf(lab, sizeof lab, "%.4g", ticks[i]);
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, MX(v), B + font + 4, lab, font - 1, 0, 0);
    }
    nt = plot_nice_ticks(ylo, yhi, 6, ticks);
    for (int i = 0; i < nt; i++) {
        if (ticks[i] < ylo || ticks[i] > yhi) continue;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, L, MY(ticks[i]));
        cairo_line_to(cr, R, MY(ticks[i]));
        cairo_stroke(cr);
        char lab[32];
        snprintf(lab, sizeof lab, "%.3g", fabs(ticks[i]) < 1e-12 ? 0.0 : ticks[i]);
        cairo_set_source_rgb(cr, 0, 0, 0);
        plot_text(cr, L - 6, MY(ticks[i]) + font / 3, lab, font - 1, 1, 0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, L, T, R - L, B - T);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double x = log_x ? log10(p[i].x) : p[i].x;
        if (!isfinite(x) || !isfinite(p[i].y)) continue;
        double px = MX(x), py = MY(p[i].y);
        draw_marker(cr, &p[i], px, py, 5);
        int same = 0; /* labels of points drawn on top of each other side by side */
        for (int j = 0; j < i; j++) {
            double xj = log_x ? log10(p[j].x) : p[j].x;
            if (isfinite(xj) && isfinite(p[j].y) && fabs(MX(xj) - px) < 14 && fabs(MY(p[j].y) - py) < 10) same++;
        }
        char lab[16];
        snprintf(lab, sizeof lab, "%s%d", same ? "," : "", p[i].trial);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        plot_text(cr, px + 8 + 12 * same, py - 6, lab, font - 2, -1, 0);
    }
#undef MX
#undef MY
}

static status write_tune_png(const char *path, const tune_space *s, const config *base, const tune_record *r, int n,
                             int best) {
    tune_point *pa = calloc((size_t)(n ? n : 1), sizeof *pa), *pb = calloc((size_t)(n ? n : 1), sizeof *pb);
    if (!pa || !pb) {
        free(pa);
        free(pb);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    int m = 0, full_epochs = 0;
    for (int i = 0; i < n; i++)
        if (r[i].status != TRIAL_FAILED && r[i].epochs > full_epochs) full_epochs = r[i].epochs;
    int ilr = tune_space_find(s, "lr0");
    for (int i = 0; i < n; i++) {
        if (r[i].status == TRIAL_FAILED) continue;
        tune_point q = {ilr >= 0 ? strtod(r[i].values[ilr], NULL) : base->lr0, r[i].best.fitness, r[i].trial,
                        r[i].epochs >= full_epochs, r[i].trial == best};
        pa[m] = q;
        q.x = (double)r[i].b_eff;
        pb[m++] = q;
    }
    plot_canvas cv;
    status st = plot_canvas_init(&cv, 1300, 560);
    if (st == YOLOC_OK) {
        scatter(cv.cr, 0, 30, 650, 530, pa, m, 1, 0, "fitness vs lr0", "lr0 (at nbs, log scale)", "best fitness (mAP50-95)");
        scatter(cv.cr, 650, 30, 650, 530, pb, m, 1, 1, "fitness vs effective batch", "effective batch (log scale)",
                "best fitness (mAP50-95)");
        /* legend */
        cairo_t *cr = cv.cr;
        double lx = 90, ly = 18;
        tune_point lg[4] = {{0, 0, 1, 1, 0}, {0, 0, 1, 0, 0}, {0, 0, 0, 1, 0}, {0, 0, 1, 1, 1}};
        const char *names[4] = {"trained all epochs", "stopped at a rung", "trial 0 (the configured values)", "best"};
        for (int k = 0; k < 4; k++) {
            draw_marker(cr, &lg[k], lx, ly - 4, 5);
            cairo_set_source_rgb(cr, 0, 0, 0);
            plot_text(cr, lx + 14, ly, names[k], 12, -1, 0);
            cairo_text_extents_t te;
            cairo_select_font_face(cr, "sans", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
            cairo_set_font_size(cr, 12);
            cairo_text_extents(cr, names[k], &te);
            lx += 40 + te.x_advance;
        }
        st = plot_canvas_save(&cv, path);
        plot_canvas_free(&cv);
    }
    free(pa);
    free(pb);
    return st;
}

/* ------------------------------------------------------------------------ */
/* Configs: copies, the given flags, the search's identity. */

static const unsigned char *given_bytes(const config *c) { return (const unsigned char *)&c->given; }

/* dst = src (values and given flags). */
static status config_copy(config *dst, const config *src) {
    TRY(config_init(dst));
    size_t n;
    const opt_info *o = config_options(&n);
    YOLOC_ASSERT(sizeof dst->given == n); /* one flag per option */
    char buf[8192];
    for (size_t i = 0; i < n; i++) {
        config_value_str(src, &o[i], buf, sizeof buf);
        status st = config_set(dst, o[i].name, buf, NULL);
        if (st < 0) {
            config_free(dst);
            return st;
        }
    }
    memcpy(&dst->given, &src->given, sizeof dst->given);
    return YOLOC_OK;
}

/* Keys that may differ when a search continues. */
static const char *const IDENTITY_SKIP[] = {"threads", "workers", "budget", "resume", "exist_ok", "dist_timeout",
                                            "project", "name", "cfg", "space", "dry", NULL};

/* The settings that make a search: every option except IDENTITY_SKIP, then
 * the space. malloc'd. */
static char *search_identity(const config *c, const tune_space *s) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return NULL;
    size_t n;
    const opt_info *o = config_options(&n);
    char buf[8192];
    for (size_t i = 0; i < n; i++) {
        if (in_list(IDENTITY_SKIP, o[i].name)) continue;
        fprintf(f, "%s: %s\n", o[i].name, config_value_str(c, &o[i], buf, sizeof buf));
    }
    fprintf(f, "--- space\n");
    tune_space_write(s, f);
    fclose(f);
    return text;
}

/* The first line where two identities differ, for the message. */
static void identity_diff(const char *a, const char *b, char *out, size_t cap) {
    while (*a && *b) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || strncmp(a, b, la) != 0) {
            snprintf(out, cap, "'%.*s' there, '%.*s' here", (int)la, a, (int)lb, b);
            return;
        }
        a += la + (ea ? 1 : 0);
        b += lb + (eb ? 1 : 0);
    }
    snprintf(out, cap, "the search space differs");
}

/* tune_args.yaml: every option, with a comment listing the keys given. */
static status write_args(const char *path, const config *c) {
    afile a;
    TRY(afile_open(&a, path));
    size_t n;
    const opt_info *o = config_options(&n);
    fprintf(a.fp, "# yoloc tune: the settings of this search (yoloc tune resume=True reads them)\n# given:");
    for (size_t i = 0; i < n; i++)
        if (given_bytes(c)[i]) fprintf(a.fp, " %s", o[i].name);
    fputc('\n', a.fp);
    config_write_yaml(c, a.fp);
    return afile_commit(&a);
}

/* Loads tune_args.yaml into c (a fresh config) with its given flags. */
static status read_args(const char *path, config *c) {
    TRY(config_init(c));
    status st = config_load_yaml(c, path);
    if (st < 0) {
        config_free(c);
        return st;
    }
    char *text;
    size_t len;
    if ((st = file_read_all(path, 1 << 20, &text, &len)) < 0) {
        config_free(c);
        return st;
    }
    unsigned char *g = (unsigned char *)&c->given;
    memset(g, 0, sizeof c->given);
    const char *gl = strstr(text, "# given:");
    if (gl) {
        const char *end = strchr(gl, '\n');
        size_t n;
        const opt_info *o = config_options(&n);
        for (const char *p = gl + 8; p < (end ? end : gl + strlen(gl));) {
            while (*p == ' ') p++;
            const char *q = p;
            while (*q && *q != ' ' && *q != '\n') q++;
            for (size_t i = 0; i < n; i++)
                if (strlen(o[i].name) == (size_t)(q - p) && strncmp(o[i].name, p, (size_t)(q - p)) == 0) g[i] = 1;
            p = q;
            if (!*q) break;
        }
    }
    free(text);
    return YOLOC_OK;
}

/* ------------------------------------------------------------------------ */
/* The search. */

static int path_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}


/* A score as results.csv keeps it (6 significant digits), so that decisions
 * after a resume are those of an uninterrupted search. */
static double q6(double x) {
    if (!isfinite(x)) return x;
    char b[32];
    snprintf(b, sizeof b, "%.6g", x);
    return strtod(b, NULL);
}

typedef struct {
    config base;           /* resolved settings of every trial (before its values) */
    tune_space space;
    int rungs[TUNE_MAX_RUNGS], nrungs;
    int eta, budget;
    uint64_t seed;
    tune_record *recs;     /* TUNE_MAX_TRIALS */
    int nrec;
    char dir[4096];
    dist *d;
    int lead;
    /* trials in parallel (group=N): groups of N ranks, group g runs the
     * trials t with t % ngroups == g, in order, on its communicator td */
    int ngroups, my_group;
    dist *td;
    unsigned char *known;  /* TUNE_MAX_TRIALS: the record is final (this group's, or read from another's files) */
} tuner;

typedef struct {
    tuner *T;
    tune_record *rec;
    int have_best;
    int stopped;
    int interrupt_epoch, interrupted;
} trial_ctx;

/* Several groups share their trials' progress through files in the tune
 * folder (written atomically by the group's first rank): trial<i>/
 * tune_rung<k> (the score at rung k, written when the trial reaches it)
 * and trial<i>/tune_record.bin (the finished trial's record). */
static void group_file(const tuner *T, int trial, int rung, char *out, size_t cap) {
    if (rung >= 0) snprintf(out, cap, "%.4000s/trial%d/tune_rung%d", T->dir, trial, rung);
    else snprintf(out, cap, "%.4000s/trial%d/tune_record.bin", T->dir, trial);
}

static status publish_rung(const tuner *T, int trial, int rung, tune_score s) {
    if (T->ngroups < 2 || T->td->rank != 0) return YOLOC_OK;
    char path[4200], text[96];
    group_file(T, trial, rung, path, sizeof path);
    int n = snprintf(text, sizeof text, "%.17g %.17g\n", s.fitness, s.val_loss);
    return file_write_atomic(path, text, (size_t)n);
}

static status publish_record(const tuner *T, const tune_record *r) {
    if (T->ngroups < 2 || T->td->rank != 0) return YOLOC_OK;
    char path[4200];
    group_file(T, r->trial, -1, path, sizeof path);
    return file_write_atomic(path, r, sizeof *r);
}

/* Reads another group's finished record of trial i into T->recs[i]; 1 when
 * there was one. */
static int fetch_record(tuner *T, int i) {
    if (T->known[i]) return 1;
    char path[4200];
    group_file(T, i, -1, path, sizeof path);
    char *buf = NULL;
    size_t len = 0;
    if (!path_exists(path) || file_read_all(path, sizeof(tune_record) + 1, &buf, &len) < 0 || len != sizeof(tune_record)) {
        err_clear();
        free(buf);
        return 0;
    }
    memcpy(&T->recs[i], buf, sizeof(tune_record));
    free(buf);
    T->known[i] = 1;
    return 1;
}

/* Trial i's score at rung k as a search of the trials one after another
 * would know it when a later trial reaches that rung: *reached = 0 when
 * trial i ended before the rung. Another group's trial may still run: its
 * files are waited for (its rung, or its end), however long its training
 * takes; a line every minute says so. */
static status rung_of(tuner *T, int i, int k, int *reached, tune_score *sc) {
    double t0 = time_now(), told = t0;
    for (;;) {
        if (T->known[i] || fetch_record(T, i)) {
            *reached = !isnan(T->recs[i].rung[k].fitness);
            *sc = T->recs[i].rung[k];
            return YOLOC_OK;
        }
        char path[4200], *buf = NULL;
        size_t len = 0;
        group_file(T, i, k, path, sizeof path);
        if (path_exists(path) && file_read_all(path, 256, &buf, &len) == YOLOC_OK) {
            double f = NAN, v = NAN;
            int ok = sscanf(buf, "%lg %lg", &f, &v) == 2;
            free(buf);
            if (ok) {
                *reached = 1;
                sc->fitness = f;
                sc->val_loss = v;
                return YOLOC_OK;
            }
        }
        err_clear();
        if (time_now() - told >= 60) {
            told = time_now();
            printf("tune: waiting %.0f s for trial %d (another group) to reach the rung of epoch %d or end\n",
                   told - t0, i, T->rungs[k]);
            fflush(stdout);
        }
        usleep(20000);
    }
}

static int trial_on_epoch(void *ctx, const train_epoch_info *e) {
    trial_ctx *x = ctx;
    tuner *T = x->T;
    tune_record *rec = x->rec;
    int ep = e->epoch + 1;
    tune_score s = {q6(e->fitness), q6(e->val_loss[0] + e->val_loss[1] + e->val_loss[2])};
    if (!x->have_best || tune_score_better(s, rec->best)) {
        rec->best = s;
        rec->map50 = q6(e->map50);
        rec->map5095 = q6(e->map5095);
        x->have_best = 1;
    }
    rec->epochs = ep;
    if (x->interrupt_epoch == ep) {
        x->interrupted = 1;
        return 1;
    }
    for (int k = 0; k < T->nrungs; k++) {
        if (T->rungs[k] != ep) continue;
        rec->rung[k] = rec->best;
        if (publish_rung(T, rec->trial, k, rec->best) < 0) {
            log_warn("tune: %s", yoloc_last_error());
            err_clear();
        }
        if (k == T->nrungs - 1) break;
        /* the trials before this one that reached the rung (as when the
         * trials run one after another) */
        tune_score others[TUNE_MAX_TRIALS];
        int no = 0;
        for (int i = 0; i < rec->trial; i++) {
            int reached = 0;
            tune_score o;
            if (rung_of(T, i, k, &reached, &o) < 0) return 1;
            if (reached) others[no++] = o;
        }
        int go = tune_promote(others, no, rec->best, T->eta);
        int better = 0;
        for (int i = 0; i < no; i++) better += tune_score_better(others[i], rec->best);
        int keep = (no + 1) / T->eta < 1 ? 1 : (no + 1) / T->eta;
        printf("tune: trial %d at the rung of epoch %d: fitness %.4g (val loss %.4g) ranks %d of %d, top %d go on: %s\n",
               rec->trial, ep, rec->best.fitness, rec->best.val_loss, better + 1, no + 1, keep,
               go ? "goes on" : "stops here");
        if (!go) {
            x->stopped = 1;
            return 1;
        }
    }
    return 0;
}

/* The trial's settings: base + its values + its run directory. */
static status trial_config(const tuner *T, int trial, char values[][TUNE_VALUE_LEN], config *tc) {
    TRY(config_copy(tc, &T->base));
    status st = YOLOC_OK;
    char where[64], name[32];
    snprintf(where, sizeof where, "tune trial %d", trial);
    for (int i = 0; i < T->space.ndims && st == YOLOC_OK; i++) st = config_set(tc, T->space.dims[i].key, values[i], where);
    snprintf(name, sizeof name, "trial%d", trial);
    if (st == YOLOC_OK) st = config_set(tc, "project", T->dir, NULL);
    if (st == YOLOC_OK) st = config_set(tc, "name", name, NULL);
    if (st == YOLOC_OK) st = config_set(tc, "exist_ok", "True", NULL);
    if (st == YOLOC_OK) st = config_set(tc, "resume", "False", NULL);
    if (st < 0) config_free(tc);
    return st;
}

static void sanitize_note(const char *msg, char *out, size_t cap) {
    size_t j = 0;
    for (size_t i = 0; msg[i] && j + 1 < cap; i++) {
        char ch = msg[i];
        out[j++] = ch == ',' ? ';' : (ch == '\n' || ch == '\r' || ch == '"') ? ' ' : ch;
    }
    out[j] = 0;
}

/* best.yaml: the best trial's searched values, then the keys given to tune. */
static status write_best_yaml(const tuner *T, const tune_record *b, const tune_record *r0) {
    char path[4200];
    snprintf(path, sizeof path, "%s/best.yaml", T->dir);
    afile a;
    TRY(afile_open(&a, path));
    FILE *f = a.fp;
    fprintf(f, "# yoloc tune: the best of %d trials in %s: trial %d, fitness %.6g (mAP50-95; mAP50 %.6g) after %d epochs\n",
            T->nrec, T->dir, b->trial, b->best.fitness, b->map50, b->epochs);
    if (r0) fprintf(f, "# trial 0 (the configured values): fitness %.6g (mAP50 %.6g) after %d epochs\n", r0->best.fitness, r0->map50, r0->epochs);
    fprintf(f, "# train with it: yoloc train cfg=%s/best.yaml (keys on the command line win, e.g. epochs=)\n", T->dir);
    fprintf(f, "# searched:\n");
    for (int i = 0; i < T->space.ndims; i++) fprintf(f, "%s: %s\n", T->space.dims[i].key, b->values[i]);
    static const char *const SKIP[] = {"space", "budget", "eta", "min_epochs", "cfg", "project", "name", "exist_ok", "resume", "dry", NULL};
    size_t n;
    const opt_info *o = config_options(&n);
    fprintf(f, "# as given to yoloc tune:\n");
    char buf[8192];
    for (size_t i = 0; i < n; i++) {
        if (!given_bytes(&T->base)[i] || in_list(SKIP, o[i].name) || tune_space_find(&T->space, o[i].name) >= 0) continue;
        config_value_str(&T->base, &o[i], buf, sizeof buf);
        fprintf(f, "%s: ", o[i].name);
        int plain = *buf && !strpbrk(buf, ":#{}[],&*!|>'\"%@`") && buf[0] != ' ' && buf[0] != '-';
        if (plain || o[i].type == OPT_INT || o[i].type == OPT_FLOAT) {
            fputs(buf, f);
        } else {
            fputc('\'', f);
            for (const char *p = buf; *p; p++) {
                if (*p == '\'') fputc('\'', f);
                fputc(*p, f);
            }
            fputc('\'', f);
        }
        fputc('\n', f);
    }
    return afile_commit(&a);
}

/* results.csv, best.yaml, tune.png (rank 0). */
static status write_outputs(tuner *T) {
    char p[4200];
    snprintf(p, sizeof p, "%s/results.csv", T->dir);
    TRY(tune_results_write(p, &T->space, T->rungs, T->nrungs, T->recs, T->nrec));
    int order[TUNE_MAX_TRIALS];
    tune_rank(T->recs, T->nrec, order);
    int best = T->nrec && T->recs[order[0]].status != TRIAL_FAILED ? order[0] : -1;
    if (best >= 0) TRY(write_best_yaml(T, &T->recs[best], T->nrec ? &T->recs[0] : NULL));
    snprintf(p, sizeof p, "%s/tune.png", T->dir);
    status ps = write_tune_png(p, &T->space, &T->base, T->recs, T->nrec, best >= 0 ? T->recs[best].trial : -1);
    if (ps < 0) log_warn("tune.png: %s", yoloc_last_error());
    return YOLOC_OK;
}

static void print_values(const tuner *T, const char values[][TUNE_VALUE_LEN], FILE *f) {
    for (int i = 0; i < T->space.ndims; i++) fprintf(f, "%s%s=%s", i ? " " : "", T->space.dims[i].key, values[i]);
}

static void print_table(const tuner *T, FILE *f) {
    int order[TUNE_MAX_TRIALS];
    tune_rank(T->recs, T->nrec, order);
    fprintf(f, "%4s %5s", "rank", "trial");
    for (int i = 0; i < T->space.ndims; i++) fprintf(f, " %*s", (int)(strlen(T->space.dims[i].key) > 9 ? strlen(T->space.dims[i].key) : 9), T->space.dims[i].key);
    fprintf(f, " %6s %6s %10s %9s %9s %9s  %s\n", "B_eff", "epochs", "fitness", "val_loss", "mAP50", "mAP50-95", "status");
    for (int j = 0; j < T->nrec; j++) {
        const tune_record *r = &T->recs[order[j]];
        fprintf(f, "%4d %5d", j + 1, r->trial);
        for (int i = 0; i < T->space.ndims; i++)
            fprintf(f, " %*s", (int)(strlen(T->space.dims[i].key) > 9 ? strlen(T->space.dims[i].key) : 9), r->values[i]);
        fprintf(f, " %6ld %6d %10.4g %9.4g %9.4g %9.4g  %s%s%s\n", r->b_eff, r->epochs, r->best.fitness, r->best.val_loss,
                r->map50, r->map5095, tune_status_name(r->status), *r->note ? ": " : "", r->note);
    }
}

/* Broadcasts a config from rank 0 (values as YAML text, given flags). */
static status bcast_config(dist *d, config *c) {
    if (d->world == 1) return YOLOC_OK;
    char *text = NULL;
    size_t len = 0;
    if (d->rank == 0) {
        FILE *f = open_memstream(&text, &len);
        if (!f) return err_set(YOLOC_ERR_NOMEM, "out of memory");
        config_write_yaml(c, f);
        fclose(f);
    }
    uint64_t n = len;
    status st = dist_broadcast(d, &n, sizeof n, 0);
    if (st == YOLOC_OK && d->rank != 0 && !(text = calloc(n + 1, 1))) st = err_set(YOLOC_ERR_NOMEM, "out of memory");
    if (st == YOLOC_OK) st = dist_broadcast(d, text, n, 0);
    unsigned char g[sizeof c->given];
    memcpy(g, &c->given, sizeof g);
    if (st == YOLOC_OK) st = dist_broadcast(d, g, sizeof g, 0);
    if (st == YOLOC_OK && d->rank != 0) {
        ydoc doc;
        config_free(c);
        config_init(c);
        st = ydoc_load_string(&doc, text, n, "rank 0's settings");
        for (size_t k = 0; st == YOLOC_OK && doc.root && k < doc.root->n; k++)
            st = config_set(c, doc.root->keys[k], doc.root->items[k]->str, "rank 0's settings");
        if (st == YOLOC_OK || doc.root) ydoc_free(&doc);
        memcpy(&c->given, g, sizeof g);
    }
    free(text);
    return st;
}

/* Every rank learns whether any failed. */
static status tune_agree(dist *d, status st) {
    if (d->world == 1) return st;
    double bad = st < 0;
    status s2 = dist_allreduce_sum_f64(d, &bad, 1);
    if (st < 0) return st;
    if (s2 < 0) return s2;
    if (bad > 0) return err_set(YOLOC_ERR_INTERNAL, "another process of the search failed (see its messages)");
    return YOLOC_OK;
}

/* The newest search (tune_args.yaml) under project. */
static status find_last_search(const char *project, char *out, size_t cap) {
    DIR *dd = opendir(project);
    if (!dd) return err_set(YOLOC_ERR_NOT_FOUND, "resume=True: no searches in '%s' (%s)", project, strerror(errno));
    double best = -1;
    struct dirent *de;
    while ((de = readdir(dd))) {
        if (de->d_name[0] == '.') continue;
        char p[4400];
        snprintf(p, sizeof p, "%s/%s/tune_args.yaml", project, de->d_name);
        struct stat st;
        if (stat(p, &st) != 0) continue;
        char q[4400];
        snprintf(q, sizeof q, "%s/%s/results.csv", project, de->d_name);
        struct stat st2;
        double t = stat(q, &st2) == 0 && st2.st_mtime > st.st_mtime ? (double)st2.st_mtime : (double)st.st_mtime;
        if (t > best) {
            best = t;
            snprintf(out, cap, "%s/%s", project, de->d_name);
        }
    }
    closedir(dd);
    if (best < 0) return err_set(YOLOC_ERR_NOT_FOUND, "resume=True: no search (tune_args.yaml) in '%s'", project);
    return YOLOC_OK;
}

/* optimizer=auto decided by the training's recipe (Ultralytics' rule,
 * which ignores lr0 and momentum), so that the search varies what is
 * trained. */
static status resolve_auto(config *c, int processes) {
    optim_kind kind;
    int is_auto = 0;
    TRY(optim_kind_parse(c->optimizer, &kind, &is_auto));
    if (!is_auto) return YOLOC_OK;
    if (!(c->batch >= 1)) return YOLOC_OK; /* the trainer reports it */
    dataset ds;
    dataset_options dopt = {.use_cache = 1, .quiet = 1};
    int classes[256];
    TRY(config_dataset_options(c, "train", classes, 256, &dopt));
    TRY(dataset_open(&ds, c->data, &dopt));
    recipe_facts rf = {.processes = processes, .train_images = (long)ds.train.nimages, .nc = ds.nc};
    dataset_close(&ds);
    recipe *r = malloc(sizeof *r);
    if (!r) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    status st = recipe_resolve(c, &rf, NULL, r);
    if (st < 0 && r->lp.refused) { /* the trainer reports it */
        err_clear();
        st = YOLOC_OK;
    }
    char v[64];
    if (st == YOLOC_OK) st = config_set(c, "optimizer", optim_kind_name(r->optimizer), "optimizer=auto");
    snprintf(v, sizeof v, "%.10g", r->lr0);
    if (st == YOLOC_OK) st = config_set(c, "lr0", v, "optimizer=auto");
    snprintf(v, sizeof v, "%.10g", r->momentum);
    if (st == YOLOC_OK) st = config_set(c, "momentum", v, "optimizer=auto");
    snprintf(v, sizeof v, "%.10g", r->warmup_bias_lr);
    if (st == YOLOC_OK) st = config_set(c, "warmup_bias_lr", v, "optimizer=auto");
    if (st == YOLOC_OK)
        printf("tune: %s; the search runs %s explicitly (lr0=%g momentum=%g warmup_bias_lr=%g) so that lr0 and momentum "
               "take effect\n",
               r->optimizer_reason, optim_kind_name(r->optimizer), r->lr0, r->momentum, r->warmup_bias_lr);
    free(r);
    return st;
}

/* Rank 0: decides the folder and the settings, reads what is done. */
static status tune_prepare(tuner *T, config *c, int world, int *dry) {
    status st = YOLOC_OK;
    config user;
    int have_user = 0;
    char *ident = NULL;
    if (!c->given.project) TRY(config_set(c, "project", "runs/tune", NULL));
    int resume_flag = 0;
    if (parse_bool(c->resume, &resume_flag) != 0) resume_flag = -1;
    int continuing = 0;
    if (resume_flag != 0) {
        if (resume_flag == -1) snprintf(T->dir, sizeof T->dir, "%s", c->resume);
        else if (c->given.name) snprintf(T->dir, sizeof T->dir, "%s/%s", c->project, config_run_name(c, "exp"));
        else TRY_GOTO(st, find_last_search(c->project, T->dir, sizeof T->dir));
        size_t dl = strlen(T->dir);
        while (dl > 1 && T->dir[dl - 1] == '/') T->dir[--dl] = 0;
        char p[4300];
        snprintf(p, sizeof p, "%s/tune_args.yaml", T->dir);
        if (!path_exists(p)) {
            st = err_set(YOLOC_ERR_NOT_FOUND, "resume: %s is not a search (no tune_args.yaml)", T->dir);
            goto fail;
        }
        TRY_GOTO(st, read_args(p, &user));
        have_user = 1;
        static const char *const MAY_CHANGE[] = {"threads", "workers", "budget", "dist_timeout", "resume", "project",
                                                 "name", "dry", NULL};
        size_t nopt;
        const opt_info *o = config_options(&nopt);
        for (size_t i = 0; i < nopt; i++) {
            char a[4096], b[4096];
            if (!given_bytes(c)[i] || in_list(MAY_CHANGE, o[i].name)) continue;
            if (strcmp(config_value_str(c, &o[i], a, sizeof a), config_value_str(&user, &o[i], b, sizeof b)) != 0)
                log_warn("tune: resume: %s=%s is ignored: the search keeps its own %s=%s (a new search needs another name=)",
                         o[i].name, a, o[i].name, b);
        }
        /* what may change on resume */
        if (c->given.threads) user.threads = c->threads;
        if (c->given.workers) user.workers = c->workers;
        if (c->given.budget) user.budget = c->budget;
        if (c->given.dist_timeout) user.dist_timeout = c->dist_timeout;
        snprintf(p, sizeof p, "%s/space.yaml", T->dir);
        TRY_GOTO(st, tune_space_load(&T->space, p));
        continuing = 1;
        printf("tune: resuming the search in %s with its settings (tune_args.yaml, space.yaml); threads, workers and "
               "budget may change\n",
               T->dir);
    } else {
        TRY_GOTO(st, config_copy(&user, c));
        have_user = 1;
    }
    *dry = c->dry;
    TRY_GOTO(st, config_copy(&T->base, &user));
    TRY_GOTO(st, resolve_auto(&T->base, world));
    if (!T->base.val) {
        printf("tune: val=False is overridden: every trial validates after each epoch (its fitness decides)\n");
    }
    TRY_GOTO(st, config_set(&T->base, "val", "True", NULL));
    T->base.given.val = user.given.val;
    if (!continuing) {
        if (user.space && *user.space) TRY_GOTO(st, tune_space_load(&T->space, user.space));
        else tune_space_default(&T->space, &T->base, world);
    }
    T->eta = (int)user.eta;
    T->budget = (int)user.budget;
    T->seed = (uint64_t)user.seed;
    int grace = user.min_epochs > 0 ? (int)user.min_epochs : (int)ceil(user.warmup_epochs);
    T->nrungs = tune_rungs((int)user.epochs, T->eta, grace, T->rungs);
    if (*dry) goto fail; /* nothing is written */

    if (!continuing) {
        /* project/name, or the next free name2, name3, ..., unless one of
         * them holds this very search: then it continues */
        ident = search_identity(&user, &T->space);
        if (!ident) TRY_GOTO(st, err_set(YOLOC_ERR_NOMEM, "out of memory"));
        for (int k = 1; k < 100000; k++) {
            if (k == 1) snprintf(T->dir, sizeof T->dir, "%s/%s", user.project, config_run_name(&user, "exp"));
            else snprintf(T->dir, sizeof T->dir, "%s/%s%d", user.project, config_run_name(&user, "exp"), k);
            char p[4300];
            snprintf(p, sizeof p, "%s/tune_args.yaml", T->dir);
            if (!path_exists(T->dir)) break;
            if (!path_exists(p)) continue;
            config old;
            tune_space os;
            char sp[4300];
            snprintf(sp, sizeof sp, "%s/space.yaml", T->dir);
            if (read_args(p, &old) < 0) {
                err_clear();
                continue;
            }
            status ss = tune_space_load(&os, sp);
            char *oid = ss == YOLOC_OK ? search_identity(&old, &os) : NULL;
            if (ss < 0) err_clear();
            int same = oid && strcmp(oid, ident) == 0;
            if (!same && k == 1 && oid) {
                char why[600];
                identity_diff(oid, ident, why, sizeof why);
                printf("tune: %s holds another search (%s): this one goes to a new folder\n", T->dir, why);
            }
            free(oid);
            config_free(&old);
            if (same) {
                continuing = 1;
                printf("tune: %s holds this search: continuing it\n", T->dir);
                break;
            }
        }
        TRY_GOTO(st, file_mkdirs(T->dir));
        if (!continuing) {
            char p[4300];
            snprintf(p, sizeof p, "%s/space.yaml", T->dir);
            char *stext = NULL;
            size_t slen = 0;
            FILE *f = open_memstream(&stext, &slen);
            if (!f) TRY_GOTO(st, err_set(YOLOC_ERR_NOMEM, "out of memory"));
            fprintf(f, "# yoloc tune: the search space of this search\n");
            tune_space_write(&T->space, f);
            fclose(f);
            st = file_write_atomic(p, stext, slen);
            free(stext);
            if (st < 0) goto fail;
        }
    }
    { /* the settings (a continued search may have a new budget, threads, workers) */
        char p[4300];
        snprintf(p, sizeof p, "%s/tune_args.yaml", T->dir);
        TRY_GOTO(st, write_args(p, &user));
    }
    if (continuing) {
        char p[4300];
        snprintf(p, sizeof p, "%s/results.csv", T->dir);
        if (path_exists(p)) TRY_GOTO(st, tune_results_read(p, &T->space, T->rungs, T->nrungs, T->recs, TUNE_MAX_TRIALS, &T->nrec));
        for (int i = 0; i < T->nrec; i++) {
            char v[TUNE_MAX_DIMS][TUNE_VALUE_LEN];
            tune_trial_values(&T->space, T->seed, i, &T->base, v);
            for (int k = 0; k < T->space.ndims; k++)
                if (strcmp(v[k], T->recs[i].values[k]) != 0) {
                    st = err_set(YOLOC_ERR_INVALID,
                                 "%s: trial %d has %s=%s but this search samples %s: the file belongs to another search",
                                 p, i, T->space.dims[k].key, T->recs[i].values[k], v[k]);
                    goto fail;
                }
        }
        printf("tune: %d trial%s already finished in %s (read back from results.csv)\n", T->nrec, T->nrec == 1 ? "" : "s",
               T->dir);
    }
    /* the command's settings for this process from now on */
    config_free(c);
    st = config_copy(c, &user);
fail:
    free(ident);
    if (have_user) config_free(&user);
    return st;
}

status tune_run(config *c, dist *d, tune_result *res) {
    if (c->batch < 1 || c->batch != floor(c->batch)) TRY(plan_trainer_batch(c, d, stdout)); /* batch=-1: once, for every trial */
    tuner *T = calloc(1, sizeof *T);
    if (!T) return err_set(YOLOC_ERR_NOMEM, "out of memory");
    T->recs = calloc(TUNE_MAX_TRIALS, sizeof *T->recs);
    if (!T->recs) {
        free(T);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    if (res) {
        memset(res, 0, sizeof *res);
        res->best = -1;
    }
    T->known = calloc(TUNE_MAX_TRIALS, 1);
    if (!T->known) {
        free(T->recs);
        free(T);
        return err_set(YOLOC_ERR_NOMEM, "out of memory");
    }
    T->d = d;
    T->td = d;
    T->ngroups = 1;
    T->lead = d->rank == 0;
    dist sub;
    int have_sub = 0;
    int dry = 0;
    status st = YOLOC_OK;
    if (c->group > d->world || (c->group > 0 && d->world % c->group)) {
        free(T->known);
        free(T->recs);
        free(T);
        return err_set(YOLOC_ERR_INVALID, "key 'group': %d process%s do not split into groups of %ld", d->world,
                       d->world == 1 ? "" : "es", c->group);
    }
    /* the processes of one trial: a group (group=N) or all */
    int per_trial = c->group > 0 && c->group < d->world ? (int)c->group : d->world;
    if (T->lead) st = tune_prepare(T, c, per_trial, &dry); /* T->base is zeroed or owned: config_free is safe */
    TRY_GOTO(st, tune_agree(d, st));
    if (d->world > 1) { /* rank 0's decisions for everyone */
        if (!T->lead) TRY_GOTO(st, config_init(&T->base));
        TRY_GOTO(st, bcast_config(d, &T->base));
        TRY_GOTO(st, dist_broadcast(d, &T->space, sizeof T->space, 0));
        int hdr[6] = {T->nrungs, T->eta, T->budget, T->nrec, dry, 0};
        TRY_GOTO(st, dist_broadcast(d, hdr, sizeof hdr, 0));
        T->nrungs = hdr[0], T->eta = hdr[1], T->budget = hdr[2], T->nrec = hdr[3], dry = hdr[4];
        TRY_GOTO(st, dist_broadcast(d, T->rungs, sizeof T->rungs, 0));
        TRY_GOTO(st, dist_broadcast(d, &T->seed, sizeof T->seed, 0));
        TRY_GOTO(st, dist_broadcast(d, T->dir, sizeof T->dir, 0));
        if (T->nrec) TRY_GOTO(st, dist_broadcast(d, T->recs, sizeof *T->recs * (size_t)T->nrec, 0));
    }
    for (int i = 0; i < T->nrec; i++) T->known[i] = 1;
    /* group=N: the ranks in groups of N, each group training its own
     * trials (t % groups) with its own communicator */
    if (c->group > 0 && c->group < d->world) {
        if (d->world % c->group) {
            st = err_set(YOLOC_ERR_INVALID, "key 'group': %d processes do not split into groups of %ld", d->world,
                         c->group);
            goto fail;
        }
        T->ngroups = d->world / (int)c->group;
        T->my_group = d->rank / (int)c->group;
        TRY_GOTO(st, dist_split(d, T->my_group, d->rank, &sub));
        have_sub = 1;
        T->td = &sub;
        printf("tune: %d groups of %ld process%s; group g trains trials g, g + %d, ...; a trial's rung decision waits "
               "for the earlier trials' scores there, so the results are those of the trials run one after another\n",
               T->ngroups, c->group, c->group == 1 ? "" : "es", T->ngroups);
    }
    const int tw = T->td->world; /* processes per trial */

    printf("tune: %d trials of up to %ld epochs, %d searched key%s, successive halving with eta %d: rungs at epoch%s",
           T->budget, T->base.epochs, T->space.ndims, T->space.ndims == 1 ? "" : "s", T->eta, T->nrungs == 1 ? "" : "s");
    for (int k = 0; k < T->nrungs; k++) printf("%s%d", k ? ", " : " ", T->rungs[k]);
    printf("%s\n", T->nrungs == 1 ? " (no early stopping: more epochs, a smaller eta or a smaller min_epochs make rungs)" : "");
    printf("tune: space:\n");
    for (int i = 0; i < T->space.ndims; i++) {
        const tune_dim *dm = &T->space.dims[i];
        if (dm->kind == TUNE_CHOICE) {
            printf("  %-16s one of", dm->key);
            for (int j = 0; j < dm->nchoices; j++) printf(" %s", dm->choices[j]);
            printf("\n");
        } else {
            printf("  %-16s [%g, %g] %s\n", dm->key, dm->lo, dm->hi,
                   dm->kind == TUNE_LOG ? "log-uniform" : dm->kind == TUNE_INT ? "integers" : "uniform");
        }
    }
    if (dry) {
        printf("dry run: the trials (nothing trained):\n");
        for (int t = 0; t < T->budget; t++) {
            char v[TUNE_MAX_DIMS][TUNE_VALUE_LEN];
            tune_trial_values(&T->space, T->seed, t, &T->base, v);
            config tc;
            long be = 0;
            if (trial_config(T, t, v, &tc) == YOLOC_OK) {
                be = effective_batch(&tc, tw, NULL);
                config_free(&tc);
            } else {
                err_clear();
            }
            printf("  trial %d: ", t);
            print_values(T, v, stdout);
            printf(" (B_eff %ld)%s\n", be, t == 0 ? "  <- the configured values" : "");
        }
        goto fail;
    }
    printf("tune: folder %s\n", T->dir);

    int hook_trial = -1, hook_epoch = 0;
    const char *hook = getenv("YOLOC_TUNE_INTERRUPT");
    if (hook && sscanf(hook, "%d:%d", &hook_trial, &hook_epoch) != 2) hook_trial = -1;

    const int first_trial = T->nrec;
    for (int t = T->nrec; t < T->budget && t < TUNE_MAX_TRIALS; t++) {
        if (t % T->ngroups != T->my_group) continue; /* another group's */
        tune_record *rec = &T->recs[t];
        memset(rec, 0, sizeof *rec);
        rec->trial = t;
        rec->best.fitness = rec->best.val_loss = rec->map50 = rec->map5095 = NAN;
        for (int k = 0; k < TUNE_MAX_RUNGS; k++) rec->rung[k].fitness = rec->rung[k].val_loss = NAN;
        tune_trial_values(&T->space, T->seed, t, &T->base, rec->values);
        config tc;
        TRY_GOTO(st, trial_config(T, t, rec->values, &tc));
        rec->b_eff = effective_batch(&tc, tw, NULL);
        printf("\ntune: trial %d of %d%s: ", t, T->budget, t == 0 ? " (the configured values)" : "");
        print_values(T, rec->values, stdout);
        printf(" (B_eff %ld)\n", rec->b_eff);
        fflush(stdout);
        trial_ctx x = {.T = T, .rec = rec, .interrupt_epoch = t == hook_trial ? hook_epoch : 0};
        train_hooks h = {.ctx = &x, .on_epoch = trial_on_epoch, .skip_final_val = 1};
        train_result tr;
        status ts = train_run_ex(&tc, T->td, &h, &tr);
        config_free(&tc);
        if (x.interrupted) {
            st = err_set(YOLOC_ERR_INTERNAL,
                         "the search was interrupted after epoch %d of trial %d ($YOLOC_TUNE_INTERRUPT); the same "
                         "command, or resume=True, continues it",
                         hook_epoch, t);
            goto fail;
        }
        if (ts < 0) {
            if (t == 0) {
                st = err_prefix(ts, "tune: trial 0 (the configured values) failed");
                goto fail;
            }
            rec->status = TRIAL_FAILED;
            sanitize_note(yoloc_last_error(), rec->note, sizeof rec->note);
            log_warn("tune: trial %d failed: %s", t, yoloc_last_error());
            err_clear();
            rec->epochs = x.have_best ? rec->epochs : 0;
        } else {
            rec->epochs = tr.epochs_done;
            rec->status = x.stopped ? TRIAL_STOPPED : tr.stopped == 2 ? TRIAL_PATIENCE : TRIAL_DONE;
        }
        T->known[t] = 1;
        TRY_GOTO(st, publish_record(T, rec));
        /* the finished trials: a prefix (results.csv and a resume keep
         * trials in order; with groups, later ones may be done already) */
        while (T->nrec < T->budget && (T->known[T->nrec] || (T->ngroups > 1 && fetch_record(T, T->nrec)))) T->nrec++;
        if (T->lead) st = write_outputs(T);
        TRY_GOTO(st, tune_agree(T->td, st));
        /* the best of the finished trials this process knows (with groups,
         * some earlier ones may still run elsewhere) */
        int order[TUNE_MAX_TRIALS], nk = 0;
        static tune_record fin[TUNE_MAX_TRIALS];
        for (int i = 0; i <= t; i++)
            if (T->known[i]) fin[nk++] = T->recs[i];
        tune_rank(fin, nk, order);
        printf("tune: trial %d %s after %d epoch%s: fitness %.4g (mAP50 %.4g, val loss %.4g); the best so far is trial "
               "%d (%.4g)%s\n",
               t, tune_status_name(rec->status), rec->epochs, rec->epochs == 1 ? "" : "s", rec->best.fitness, rec->map50,
               rec->best.val_loss, fin[order[0]].trial, fin[order[0]].best.fitness,
               nk == t + 1 ? "" : " (of the finished trials)");
    }
    if (T->ngroups > 1 && T->lead) { /* every other group's trials, as they finish */
        for (int t = first_trial; t < T->budget && t < TUNE_MAX_TRIALS; t++) {
            double t0 = time_now();
            while (!fetch_record(T, t)) {
                if (time_now() - t0 >= 60) {
                    printf("tune: waiting for trial %d (another group) to end\n", t);
                    fflush(stdout);
                    t0 = time_now();
                }
                usleep(20000);
            }
        }
        T->nrec = T->budget < TUNE_MAX_TRIALS ? T->budget : TUNE_MAX_TRIALS;
    }
    if (T->lead) {
        TRY_GOTO(st, write_outputs(T));
        printf("\ntune: %d trials in %s, ranked (trials that trained more epochs first, then by fitness = mAP50-95, "
               "ties by the lower val loss):\n",
               T->nrec, T->dir);
        print_table(T, stdout);
        int order[TUNE_MAX_TRIALS];
        tune_rank(T->recs, T->nrec, order);
        const tune_record *b = &T->recs[order[0]];
        if (T->nrec && b->status != TRIAL_FAILED) {
            printf("best: trial %d, fitness %.6g (mAP50 %.6g) against %.6g (mAP50 %.6g) for the configured values (trial "
                   "0), both after %d epochs\n",
                   b->trial, b->best.fitness, b->map50, T->recs[0].best.fitness, T->recs[0].map50, b->epochs);
            printf("written: %s/results.csv, %s/tune.png, %s/best.yaml (yoloc train cfg=%s/best.yaml)\n", T->dir, T->dir,
                   T->dir, T->dir);
        }
    }
    if (res) {
        snprintf(res->dir, sizeof res->dir, "%s", T->dir);
        res->trials = T->nrec;
        int order[TUNE_MAX_TRIALS];
        tune_rank(T->recs, T->nrec, order);
        if (T->nrec && T->recs[order[0]].status != TRIAL_FAILED) {
            res->best = T->recs[order[0]].trial;
            res->best_record = T->recs[order[0]];
        }
        if (T->nrec) res->default_record = T->recs[0];
    }
fail:
    if (have_sub) dist_close(&sub, 0);
    config_free(&T->base);
    free(T->recs);
    free(T->known);
    free(T);
    return st;
}
