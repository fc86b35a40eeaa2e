/* Restricted pickle reader (see pickle.h). The opcodes are those of
 * Python's pickle protocols 2-5 (Lib/pickletools.py documents each); the
 * machine is a value stack, a mark stack and a memo, as in Python's
 * unpickler, with calls replaced by the interpretation table below. */
#include "io/pickle.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- arena: every value and string of a document */

typedef struct chunk {
    struct chunk *next;
    size_t used, cap;
    unsigned char data[];
} chunk;

typedef struct {
    chunk *head;
    size_t total, limit;
} arena_pk;

static void *pa_alloc(arena_pk *a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (a->total + n > a->limit) return NULL;
    if (!a->head || a->head->cap - a->head->used < n) {
        size_t cap = n > 65536 ? n : 65536;
        chunk *c = malloc(sizeof *c + cap);
        if (!c) return NULL;
        c->next = a->head;
        c->used = 0;
        c->cap = cap;
        a->head = c;
    }
    void *p = a->head->data + a->head->used;
    a->head->used += n;
    a->total += n;
    memset(p, 0, n);
    return p;
}

static void pa_free(arena_pk *a) {
    for (chunk *c = a->head; c;) {
        chunk *nx = c->next;
        free(c);
        c = nx;
    }
    a->head = NULL;
}

/* ---- the machine */

typedef struct {
    const unsigned char *p, *end, *start;
    const char *label;
    arena_pk *a;
    pk_value **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nm, mcap;
    pk_value **memo;
    size_t nmemo, memo_limit;
    pk_value *none;
} vm;

static status fail(const vm *m, status st, const char *fmt, const char *arg) {
    char msg[600];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    return err_set(st, "%s: byte %zu: %s", m->label, (size_t)(m->p - m->start), msg);
}
#define BAD(m, msg) fail(m, YOLOC_ERR_PARSE, "%s", msg)
#define NOMEM(m) fail(m, YOLOC_ERR_NOMEM, "%s", "out of memory (or more values than a pickle of this size can hold)")

static pk_value *node(vm *m, pk_kind k) {
    pk_value *v = pa_alloc(m->a, sizeof *v);
    if (v) {
        v->kind = k;
        v->dt = -1;
    }
    return v;
}

static char *str_dup(vm *m, const void *s, size_t n) {
    char *d = pa_alloc(m->a, n + 1);
    if (d) {
        if (n) memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static status add_item(vm *m, pk_value *c, pk_value *x) {
    if (c->n == c->cap) {
        size_t nc = c->cap ? 2 * c->cap : 4;
        pk_value **it = pa_alloc(m->a, nc * sizeof *it);
        if (!it) return NOMEM(m);
        if (c->n) memcpy(it, c->items, c->n * sizeof *it);
        c->items = it;
        c->cap = nc;
    }
    c->items[c->n++] = x;
    return YOLOC_OK;
}

static status push(vm *m, pk_value *v) {
    if (!v) return NOMEM(m);
    if (m->sp == m->scap) {
        size_t nc = m->scap ? 2 * m->scap : 256;
        pk_value **s = realloc(m->stack, nc * sizeof *s);
        if (!s) return NOMEM(m);
        m->stack = s;
        m->scap = nc;
    }
    m->stack[m->sp++] = v;
    return YOLOC_OK;
}

/* Values on the stack above the last mark (all of them without one). */
static size_t avail(const vm *m) { return m->sp - (m->nm ? m->marks[m->nm - 1] : 0); }

static status pop(vm *m, pk_value **v) {
    if (!avail(m)) return BAD(m, "the stack is empty");
    *v = m->stack[--m->sp];
    return YOLOC_OK;
}

static status top(vm *m, pk_value **v) {
    if (!avail(m)) return BAD(m, "the stack is empty");
    *v = m->stack[m->sp - 1];
    return YOLOC_OK;
}

/* Pops back to the last mark: the values above it are stack[*from..sp). */
static status pop_mark(vm *m, size_t *from) {
    if (m->nm == 0) return BAD(m, "no mark");
    *from = m->marks[--m->nm];
    return YOLOC_OK;
}

static status need(vm *m, size_t n) {
    if ((size_t)(m->end - m->p) < n) return BAD(m, "truncated");
    return YOLOC_OK;
}

static uint64_t rdle(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* A text line (up to '\n'), copied NUL-terminated into buf. */
static status line(vm *m, char *buf, size_t cap) {
    const unsigned char *nl = memchr(m->p, '\n', (size_t)(m->end - m->p));
    if (!nl) return BAD(m, "an unterminated text argument");
    size_t n = (size_t)(nl - m->p);
    if (n >= cap) return BAD(m, "a text argument too long");
    memcpy(buf, m->p, n);
    buf[n] = 0;
    m->p = nl + 1;
    return YOLOC_OK;
}

static status memo_put(vm *m, uint64_t idx, pk_value *v) {
    if (idx >= m->memo_limit) return BAD(m, "a memo index larger than the pickle could have made");
    if (idx >= m->nmemo) {
        size_t nn = (size_t)idx + 1 > 2 * m->nmemo ? (size_t)idx + 1 : 2 * m->nmemo;
        if (nn > m->memo_limit) nn = m->memo_limit;
        pk_value **mm = realloc(m->memo, nn * sizeof *mm);
        if (!mm) return NOMEM(m);
        memset(mm + m->nmemo, 0, (nn - m->nmemo) * sizeof *mm);
        m->memo = mm;
        m->nmemo = nn;
    }
    m->memo[idx] = v;
    return YOLOC_OK;
}

static status memo_get(vm *m, uint64_t idx) {
    if (idx >= m->nmemo || !m->memo[idx]) return BAD(m, "a memo entry that was never stored");
    return push(m, m->memo[idx]);
}

/* Little-endian two's complement of n bytes (LONG1/LONG4), at most 8. */
static status push_long(vm *m, const unsigned char *b, size_t n) {
    if (n > 8) return BAD(m, "an integer wider than 64 bits");
    uint64_t v = n ? rdle(b, (int)n) : 0;
    if (n && n < 8 && (b[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);
    pk_value *x = node(m, PK_INT);
    if (x) x->i = (int64_t)v;
    return push(m, x);
}

static status dict_set(vm *m, pk_value *d, pk_value *k, pk_value *v);

/* ---- globals: what may be named as a callable or class */

static int starts(const char *s, const char *pre) { return strncmp(s, pre, strlen(pre)) == 0; }

/* Data-only packages whose classes and functions are recorded (never
 * called); builtins only for the constructors of plain values. */
static int allowed_global(const char *s) {
    static const char *const pkgs[] = {"torch.",     "numpy.",   "collections.", "ultralytics.", "models.",
                                       "utils.",     "argparse.", "types.SimpleNamespace", "pathlib.",
                                       "datetime.",  "copyreg._reconstructor", "_codecs.encode", NULL};
    for (int i = 0; pkgs[i]; i++)
        if (starts(s, pkgs[i])) return 1;
    static const char *const builtins[] = {"set", "frozenset", "slice", "complex", "bytearray", "range", "object",
                                           "tuple", "list", "dict", "str", "int", "float", "bool", "bytes", NULL};
    const char *dot = NULL;
    if (starts(s, "builtins.")) dot = s + 9;
    if (starts(s, "__builtin__.")) dot = s + 12;
    if (dot)
        for (int i = 0; builtins[i]; i++)
            if (strcmp(dot, builtins[i]) == 0) return 1;
    return 0;
}

static status refuse(vm *m, const char *what, const char *name) {
    char msg[400];
    snprintf(msg, sizeof msg, "refused: the pickle %s %s, which is not a data type a checkpoint holds; nothing was run",
             what, name);
    return fail(m, YOLOC_ERR_UNSUPPORTED, "%s", msg);
}

static status op_global(vm *m, const char *mod, size_t ml, const char *name, size_t nl) {
    pk_value *g = node(m, PK_GLOBAL);
    if (!g) return NOMEM(m);
    char *s = pa_alloc(m->a, ml + nl + 2);
    if (!s) return NOMEM(m);
    memcpy(s, mod, ml);
    s[ml] = '.';
    memcpy(s + ml + 1, name, nl);
    s[ml + 1 + nl] = 0;
    if (memchr(s, 0, ml + nl + 1)) return BAD(m, "a NUL byte in a global's name");
    g->s = s;
    return push(m, g);
}

static int storage_dtype(const char *s) {
    static const struct {
        const char *name;
        int dt;
    } T[] = {{"torch.FloatStorage", DT_F32}, {"torch.HalfStorage", DT_F16}, {"torch.BFloat16Storage", DT_BF16},
             {"torch.LongStorage", DT_I64},  {"torch.IntStorage", DT_I32},  {"torch.ByteStorage", DT_U8},
             {"torch.BoolStorage", DT_U8}};
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++)
        if (strcmp(s, T[i].name) == 0) return T[i].dt;
    return -1;
}

/* persistent_load: ('storage', <Type>Storage, key, location, numel) */
static status op_persid(vm *m, pk_value *pid) {
    if (pid->kind != PK_TUPLE || pid->n < 5 || !pk_is_str(pid->items[0], "storage") ||
        pid->items[1]->kind != PK_GLOBAL || pid->items[2]->kind != PK_STR || pid->items[4]->kind != PK_INT ||
        pid->items[4]->i < 0 || pid->items[4]->i > ((int64_t)1 << 48))
        return BAD(m, "a persistent id that is not a PyTorch storage ('storage', type, key, location, numel)");
    pk_value *s = node(m, PK_STORAGE);
    if (!s) return NOMEM(m);
    s->s = pid->items[1]->s;
    s->dt = storage_dtype(s->s);
    s->key = pid->items[2]->s;
    s->numel = (uint64_t)pid->items[4]->i;
    return push(m, s);
}

static int int_tuple(const pk_value *t, int max) {
    if (t->kind != PK_TUPLE || t->n > (size_t)max) return 0;
    for (size_t i = 0; i < t->n; i++)
        if (t->items[i]->kind != PK_INT) return 0;
    return 1;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, ...) */
static status make_tensor(vm *m, const pk_value *args, pk_value **out) {
    if (args->n < 4 || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT ||
        !int_tuple(args->items[2], PK_MAX_DIMS) || !int_tuple(args->items[3], PK_MAX_DIMS) ||
        args->items[2]->n != args->items[3]->n)
        return BAD(m, "a tensor rebuild with arguments other than (storage, offset, size, stride)");
    pk_value *t = node(m, PK_TENSOR);
    if (!t) return NOMEM(m);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    t->ndim = (int)args->items[2]->n;
    for (int d = 0; d < t->ndim; d++) {
        t->shape[d] = args->items[2]->items[d]->i;
        t->stride[d] = args->items[3]->items[d]->i;
        if (t->shape[d] < 0 || t->stride[d] < 0 || t->shape[d] > ((int64_t)1 << 40) ||
            t->stride[d] > ((int64_t)1 << 40))
            return BAD(m, "a tensor with a negative or huge size or stride");
    }
    if (t->offset < 0 || t->offset > ((int64_t)1 << 40)) return BAD(m, "a tensor with a bad storage offset");
    /* every step of the span within the storage (no overflow: each term
     * <= numel <= 2^48, at most 8 of them) */
    const uint64_t cap = t->storage->numel;
    int empty = 0;
    for (int d = 0; d < t->ndim; d++) empty |= t->shape[d] == 0;
    if (!empty) {
        uint64_t span = (uint64_t)t->offset + 1;
        for (int d = 0; d < t->ndim; d++) {
            uint64_t ext = (uint64_t)(t->shape[d] - 1);
            if (ext && (uint64_t)t->stride[d] > cap / ext) return BAD(m, "a tensor that reaches past the end of its storage");
            span += ext * (uint64_t)t->stride[d];
        }
        if (span > cap) return BAD(m, "a tensor that reaches past the end of its storage");
        /* and its element count bounded (strides of 0 repeat elements) */
        uint64_t n = 1;
        for (int d = 0; d < t->ndim; d++) {
            if ((uint64_t)t->shape[d] > ((uint64_t)1 << 40) / n) return BAD(m, "a tensor with too many elements");
            n *= (uint64_t)t->shape[d];
        }
    }
    *out = t;
    return YOLOC_OK;
}

static status op_reduce(vm *m, pk_value *f, pk_value *args) {
    if (f->kind != PK_GLOBAL) return BAD(m, "REDUCE of something that is not a global");
    if (args->kind != PK_TUPLE) return BAD(m, "REDUCE with arguments that are not a tuple");
    const char *s = f->s;
    pk_value *r = NULL;
    if (strcmp(s, "collections.OrderedDict") == 0 || strcmp(s, "builtins.dict") == 0) {
        r = node(m, PK_DICT);
        if (!r) return NOMEM(m);
        if (args->n >= 1 && (args->items[0]->kind == PK_LIST || args->items[0]->kind == PK_TUPLE)) {
            const pk_value *l = args->items[0];
            for (size_t i = 0; i < l->n; i++) {
                const pk_value *kv = l->items[i];
                if ((kv->kind != PK_TUPLE && kv->kind != PK_LIST) || kv->n != 2)
                    return BAD(m, "an OrderedDict item that is not a pair");
                TRY(dict_set(m, r, kv->items[0], kv->items[1]));
            }
        }
    } else if (strcmp(s, "torch._utils._rebuild_tensor_v2") == 0 || strcmp(s, "torch._utils._rebuild_tensor") == 0) {
        TRY(make_tensor(m, args, &r));
    } else if (strcmp(s, "torch._utils._rebuild_parameter") == 0 ||
               strcmp(s, "torch._utils._rebuild_parameter_with_state") == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR) return BAD(m, "a parameter rebuilt from a non-tensor");
        r = args->items[0];
    } else if (strcmp(s, "torch.Size") == 0 || strcmp(s, "builtins.tuple") == 0) {
        if (args->n == 1 && (args->items[0]->kind == PK_TUPLE || args->items[0]->kind == PK_LIST)) {
            r = node(m, PK_TUPLE);
            if (!r) return NOMEM(m);
            for (size_t i = 0; i < args->items[0]->n; i++) TRY(add_item(m, r, args->items[0]->items[i]));
        } else {
            r = node(m, PK_TUPLE);
            if (!r) return NOMEM(m);
        }
    } else if (strcmp(s, "builtins.set") == 0 || strcmp(s, "builtins.frozenset") == 0) {
        r = node(m, PK_SET);
        if (!r) return NOMEM(m);
        if (args->n == 1 && (args->items[0]->kind == PK_LIST || args->items[0]->kind == PK_TUPLE))
            for (size_t i = 0; i < args->items[0]->n; i++) TRY(add_item(m, r, args->items[0]->items[i]));
    } else if (strcmp(s, "_codecs.encode") == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_STR) return BAD(m, "_codecs.encode of a non-string");
        const pk_value *a0 = args->items[0];
        int latin1 = args->n >= 2 && pk_is_str(args->items[1], "latin1");
        r = node(m, PK_BYTES);
        if (!r) return NOMEM(m);
        char *b = pa_alloc(m->a, a0->len + 1);
        if (!b) return NOMEM(m);
        size_t n = 0;
        const unsigned char *u = (const unsigned char *)a0->s;
        for (size_t i = 0; i < a0->len; i++) { /* latin1: code points < 256 back to bytes */
            if (latin1 && u[i] >= 0xC0 && u[i] <= 0xC3 && i + 1 < a0->len) {
                b[n++] = (char)(((u[i] & 0x03) << 6) | (u[i + 1] & 0x3F));
                i++;
            } else {
                b[n++] = (char)u[i];
            }
        }
        r->s = b;
        r->len = n;
    } else if (strcmp(s, "copyreg._reconstructor") == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_GLOBAL) return BAD(m, "copyreg._reconstructor of a non-class");
        if (!allowed_global(args->items[0]->s)) return refuse(m, "makes an object of", args->items[0]->s);
        r = node(m, PK_OBJECT);
        if (!r) return NOMEM(m);
        r->s = args->items[0]->s;
    } else if (allowed_global(s)) { /* recorded, never called */
        r = node(m, PK_CALL);
        if (!r) return NOMEM(m);
        r->s = s;
        r->items = args->items;
        r->n = r->cap = args->n;
    } else {
        return refuse(m, "calls", s);
    }
    return push(m, r);
}

static status op_newobj(vm *m, pk_value *cls, pk_value *args) {
    if (cls->kind != PK_GLOBAL) return BAD(m, "NEWOBJ of something that is not a class");
    if (args->kind != PK_TUPLE) return BAD(m, "NEWOBJ with arguments that are not a tuple");
    if (!allowed_global(cls->s)) return refuse(m, "makes an object of", cls->s);
    if (strcmp(cls->s, "collections.OrderedDict") == 0) return push(m, node(m, PK_DICT));
    pk_value *o = node(m, PK_OBJECT);
    if (!o) return NOMEM(m);
    o->s = cls->s;
    o->items = args->items;
    o->n = o->cap = args->n;
    return push(m, o);
}

static status op_build(vm *m, pk_value *obj, pk_value *state) {
    switch (obj->kind) {
    case PK_OBJECT:
    case PK_CALL:
    case PK_DICT:
        obj->state = state;
        return YOLOC_OK;
    case PK_TENSOR: /* a parameter's Python attributes: not needed */
        return YOLOC_OK;
    default:
        return BAD(m, "BUILD on a value that is not an object");
    }
}

static status dict_set(vm *m, pk_value *d, pk_value *k, pk_value *v) {
    if (d->kind != PK_DICT) return BAD(m, "SETITEM on a value that is not a dict");
    /* pairs are stored flat: items[2i], items[2i+1]; n counts pairs */
    size_t pairs = d->n;
    d->n = 2 * pairs;
    status st = add_item(m, d, k);
    if (st == YOLOC_OK) st = add_item(m, d, v);
    d->n = st == YOLOC_OK ? pairs + 1 : pairs;
    return st;
}

static status run(vm *m) {
    char buf[256];
    for (;;) {
        TRY(need(m, 1));
        unsigned char op = *m->p++;
        pk_value *a, *b, *c, *v;
        size_t from = 0;
        switch (op) {
        case 0x80: /* PROTO */
            TRY(need(m, 1));
            if (*m->p < 2 || *m->p > 5) return fail(m, YOLOC_ERR_UNSUPPORTED, "pickle protocol %s (2 to 5 are read)",
                                                    *m->p < 2 ? "0/1" : "above 5");
            m->p++;
            break;
        case 0x95: /* FRAME: a length, then inline data */
            TRY(need(m, 8));
            m->p += 8;
            break;
        case '.': /* STOP */
            return YOLOC_OK;
        case '(':
            if (m->nm == m->mcap) {
                size_t nc = m->mcap ? 2 * m->mcap : 64;
                size_t *mk = realloc(m->marks, nc * sizeof *mk);
                if (!mk) return NOMEM(m);
                m->marks = mk;
                m->mcap = nc;
            }
            m->marks[m->nm++] = m->sp;
            break;
        case '0': TRY(pop(m, &a)); break;
        case '1': TRY(pop_mark(m, &from)); m->sp = from; break;
        case '2': TRY(top(m, &a)); TRY(push(m, a)); break;
        case 'N': TRY(push(m, m->none)); break;
        case 0x88:
        case 0x89:
            v = node(m, PK_BOOL);
            if (v) v->i = op == 0x88;
            TRY(push(m, v));
            break;
        case 'J': TRY(need(m, 4)); v = node(m, PK_INT); if (v) v->i = (int32_t)rdle(m->p, 4); m->p += 4; TRY(push(m, v)); break;
        case 'K': TRY(need(m, 1)); v = node(m, PK_INT); if (v) v->i = *m->p; m->p += 1; TRY(push(m, v)); break;
        case 'M': TRY(need(m, 2)); v = node(m, PK_INT); if (v) v->i = (int64_t)rdle(m->p, 2); m->p += 2; TRY(push(m, v)); break;
        case 0x8a: { /* LONG1 */
            TRY(need(m, 1));
            size_t n = *m->p++;
            TRY(need(m, n));
            const unsigned char *bb = m->p;
            m->p += n;
            TRY(push_long(m, bb, n));
            break;
        }
        case 0x8b: { /* LONG4 */
            TRY(need(m, 4));
            size_t n = (size_t)rdle(m->p, 4);
            m->p += 4;
            TRY(need(m, n));
            const unsigned char *bb = m->p;
            m->p += n;
            TRY(push_long(m, bb, n));
            break;
        }
        case 'I':
        case 'L': { /* text ints (INT "01"/"00" are bools) */
            TRY(line(m, buf, sizeof buf));
            size_t n = strlen(buf);
            if (op == 'L' && n && buf[n - 1] == 'L') buf[--n] = 0;
            if (op == 'I' && (strcmp(buf, "01") == 0 || strcmp(buf, "00") == 0)) {
                v = node(m, PK_BOOL);
                if (v) v->i = buf[1] == '1';
            } else {
                char *e;
                errno = 0;
                long long x = strtoll(buf, &e, 10);
                if (e == buf || *e || errno) return BAD(m, "a text integer that does not fit 64 bits");
                v = node(m, PK_INT);
                if (v) v->i = x;
            }
            TRY(push(m, v));
            break;
        }
        case 'F': {
            TRY(line(m, buf, sizeof buf));
            char *e;
            double x = strtod(buf, &e);
            if (e == buf || *e) return BAD(m, "a text float that does not parse");
            v = node(m, PK_FLOAT);
            if (v) v->f = x;
            TRY(push(m, v));
            break;
        }
        case 'G': { /* BINFLOAT: big-endian double */
            TRY(need(m, 8));
            uint64_t u = 0;
            for (int i = 0; i < 8; i++) u = u << 8 | m->p[i];
            m->p += 8;
            double x;
            memcpy(&x, &u, 8);
            v = node(m, PK_FLOAT);
            if (v) v->f = x;
            TRY(push(m, v));
            break;
        }
        case 'X':    /* BINUNICODE */
        case 0x8c:   /* SHORT_BINUNICODE */
        case 0x8d:   /* BINUNICODE8 */
        case 'B':    /* BINBYTES */
        case 'C':    /* SHORT_BINBYTES */
        case 0x8e:   /* BINBYTES8 */
        case 0x96:   /* BYTEARRAY8 */
        case 'T':    /* BINSTRING */
        case 'U': {  /* SHORT_BINSTRING */
            int w = (op == 0x8c || op == 'C' || op == 'U') ? 1 : (op == 0x8d || op == 0x8e || op == 0x96) ? 8 : 4;
            TRY(need(m, (size_t)w));
            uint64_t n = rdle(m->p, w);
            m->p += w;
            if (n > (uint64_t)(m->end - m->p)) return BAD(m, "a string longer than the pickle");
            int text = op == 'X' || op == 0x8c || op == 0x8d || op == 'T' || op == 'U';
            v = node(m, text ? PK_STR : PK_BYTES);
            if (!v) return NOMEM(m);
            v->s = str_dup(m, m->p, (size_t)n);
            v->len = (size_t)n;
            if (!v->s) return NOMEM(m);
            m->p += n;
            TRY(push(m, v));
            break;
        }
        case 'V':   /* UNICODE (raw-unicode-escape line; escapes are not decoded) */
        case 'S': { /* STRING (a quoted repr) */
            const unsigned char *nl = memchr(m->p, '\n', (size_t)(m->end - m->p));
            if (!nl) return BAD(m, "an unterminated text argument");
            const unsigned char *s0 = m->p, *s1 = nl;
            if (op == 'S') {
                if (s1 - s0 < 2 || (*s0 != '\'' && *s0 != '"') || s1[-1] != *s0) return BAD(m, "a STRING without quotes");
                s0++, s1--;
                if (memchr(s0, '\\', (size_t)(s1 - s0))) return BAD(m, "a STRING with escapes");
            }
            v = node(m, PK_STR);
            if (!v) return NOMEM(m);
            v->s = str_dup(m, s0, (size_t)(s1 - s0));
            v->len = (size_t)(s1 - s0);
            if (!v->s) return NOMEM(m);
            m->p = nl + 1;
            TRY(push(m, v));
            break;
        }
        case ')': TRY(push(m, node(m, PK_TUPLE))); break;
        case ']': TRY(push(m, node(m, PK_LIST))); break;
        case '}': TRY(push(m, node(m, PK_DICT))); break;
        case 0x8f: TRY(push(m, node(m, PK_SET))); break;
        case 0x85:
        case 0x86:
        case 0x87: {
            int k = op - 0x84;
            if (avail(m) < (size_t)k) return BAD(m, "the stack is empty");
            v = node(m, PK_TUPLE);
            if (!v) return NOMEM(m);
            for (int i = 0; i < k; i++) TRY(add_item(m, v, m->stack[m->sp - (size_t)k + (size_t)i]));
            m->sp -= (size_t)k;
            TRY(push(m, v));
            break;
        }
        case 't':
        case 'l':
        case 0x91: /* FROZENSET */
            TRY(pop_mark(m, &from));
            v = node(m, op == 't' ? PK_TUPLE : op == 'l' ? PK_LIST : PK_SET);
            if (!v) return NOMEM(m);
            for (size_t i = from; i < m->sp; i++) TRY(add_item(m, v, m->stack[i]));
            m->sp = from;
            TRY(push(m, v));
            break;
        case 'd':
            TRY(pop_mark(m, &from));
            if ((m->sp - from) % 2) return BAD(m, "DICT with an odd number of values");
            v = node(m, PK_DICT);
            if (!v) return NOMEM(m);
            for (size_t i = from; i < m->sp; i += 2) TRY(dict_set(m, v, m->stack[i], m->stack[i + 1]));
            m->sp = from;
            TRY(push(m, v));
            break;
        case 'a':
            TRY(pop(m, &b));
            TRY(top(m, &a));
            if (a->kind != PK_LIST) return BAD(m, "APPEND to a value that is not a list");
            TRY(add_item(m, a, b));
            break;
        case 'e':
        case 0x90: /* APPENDS, ADDITEMS */
            TRY(pop_mark(m, &from));
            if (from == 0) return BAD(m, "APPENDS without a list");
            a = m->stack[from - 1];
            if (a->kind != (op == 'e' ? PK_LIST : PK_SET)) return BAD(m, "APPENDS/ADDITEMS to the wrong kind of value");
            for (size_t i = from; i < m->sp; i++) TRY(add_item(m, a, m->stack[i]));
            m->sp = from;
            break;
        case 's':
            TRY(pop(m, &c));
            TRY(pop(m, &b));
            TRY(top(m, &a));
            TRY(dict_set(m, a, b, c));
            break;
        case 'u':
            TRY(pop_mark(m, &from));
            if (from == 0 || (m->sp - from) % 2) return BAD(m, "SETITEMS without a dict or with an odd count");
            a = m->stack[from - 1];
            for (size_t i = from; i < m->sp; i += 2) TRY(dict_set(m, a, m->stack[i], m->stack[i + 1]));
            m->sp = from;
            break;
        case 'c': { /* GLOBAL "module\nname\n" */
            char mod[256], name[256];
            TRY(line(m, mod, sizeof mod));
            TRY(line(m, name, sizeof name));
            TRY(op_global(m, mod, strlen(mod), name, strlen(name)));
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            TRY(pop(m, &b));
            TRY(pop(m, &a));
            if (a->kind != PK_STR || b->kind != PK_STR || a->len > 255 || b->len > 255)
                return BAD(m, "STACK_GLOBAL of non-strings");
            TRY(op_global(m, a->s, a->len, b->s, b->len));
            break;
        case 'R':
            TRY(pop(m, &b));
            TRY(pop(m, &a));
            TRY(op_reduce(m, a, b));
            break;
        case 0x81: /* NEWOBJ */
            TRY(pop(m, &b));
            TRY(pop(m, &a));
            TRY(op_newobj(m, a, b));
            break;
        case 0x92: /* NEWOBJ_EX: cls, args, kwargs */
            TRY(pop(m, &c));
            TRY(pop(m, &b));
            TRY(pop(m, &a));
            TRY(op_newobj(m, a, b));
            break;
        case 'b':
            TRY(pop(m, &b));
            TRY(top(m, &a));
            TRY(op_build(m, a, b));
            break;
        case 'Q': /* BINPERSID */
            TRY(pop(m, &a));
            TRY(op_persid(m, a));
            break;
        case 'q': TRY(need(m, 1)); TRY(top(m, &a)); TRY(memo_put(m, m->p[0], a)); m->p += 1; break;
        case 'r': TRY(need(m, 4)); TRY(top(m, &a)); TRY(memo_put(m, rdle(m->p, 4), a)); m->p += 4; break;
        case 0x94: TRY(top(m, &a)); TRY(memo_put(m, m->nmemo, a)); break; /* MEMOIZE: the next index */
        case 'p': {
            TRY(line(m, buf, sizeof buf));
            char *e;
            unsigned long long idx = strtoull(buf, &e, 10);
            if (e == buf || *e) return BAD(m, "a PUT index that is not a number");
            TRY(top(m, &a));
            TRY(memo_put(m, idx, a));
            break;
        }
        case 'h': TRY(need(m, 1)); TRY(memo_get(m, m->p[0])); m->p += 1; break;
        case 'j': TRY(need(m, 4)); TRY(memo_get(m, rdle(m->p, 4))); m->p += 4; break;
        case 'g': {
            TRY(line(m, buf, sizeof buf));
            char *e;
            unsigned long long idx = strtoull(buf, &e, 10);
            if (e == buf || *e) return BAD(m, "a GET index that is not a number");
            TRY(memo_get(m, idx));
            break;
        }
        case 'P':
            return fail(m, YOLOC_ERR_UNSUPPORTED, "%s", "a text persistent id (protocol 0)");
        case 'i':
        case 'o':
            return fail(m, YOLOC_ERR_UNSUPPORTED, "%s", "a protocol 0/1 object opcode (INST/OBJ)");
        case 0x82:
        case 0x83:
        case 0x84:
            return fail(m, YOLOC_ERR_UNSUPPORTED, "%s", "an extension-registry code (EXT1/2/4)");
        case 0x97:
        case 0x98:
            return fail(m, YOLOC_ERR_UNSUPPORTED, "%s", "an out-of-band buffer (protocol 5)");
        default: {
            char hex[8];
            snprintf(hex, sizeof hex, "0x%02x", op);
            return fail(m, YOLOC_ERR_PARSE, "unknown opcode %s", hex);
        }
        }
    }
}

status pk_parse(pk_doc *doc, const unsigned char *data, size_t len, const char *label) {
    memset(doc, 0, sizeof *doc);
    arena_pk *a = calloc(1, sizeof *a);
    if (!a) return err_set(YOLOC_ERR_NOMEM, "%s: out of memory", label);
    /* no more than a few values per input byte can exist */
    a->limit = len * 320 + ((size_t)1 << 20);
    vm m = {.p = data, .end = data + len, .start = data, .label = label, .a = a};
    m.memo_limit = len + 1;
    status st = YOLOC_OK;
    m.none = node(&m, PK_NONE);
    if (!m.none) st = NOMEM(&m);
    if (st == YOLOC_OK) st = run(&m);
    if (st == YOLOC_OK && (m.sp != 1 || m.nm)) st = BAD(&m, "STOP with other than one value on the stack");
    if (st == YOLOC_OK) {
        doc->root = m.stack[0];
        doc->priv = a;
    } else {
        pa_free(a);
        free(a);
    }
    free(m.stack);
    free(m.marks);
    free(m.memo);
    return st;
}

void pk_free(pk_doc *doc) {
    if (doc->priv) {
        pa_free(doc->priv);
        free(doc->priv);
    }
    memset(doc, 0, sizeof *doc);
}

pk_value *pk_get(const pk_value *d, const char *key) {
    if (!d || d->kind != PK_DICT) return NULL;
    for (size_t i = 0; i < d->n; i++)
        if (pk_is_str(d->items[2 * i], key)) return d->items[2 * i + 1];
    return NULL;
}

int pk_is_str(const pk_value *v, const char *s) { return v && v->kind == PK_STR && strcmp(v->s, s) == 0; }

pk_value *pk_attrs(const pk_value *obj) {
    if (!obj || (obj->kind != PK_OBJECT && obj->kind != PK_CALL) || !obj->state) return NULL;
    const pk_value *s = obj->state;
    if (s->kind == PK_DICT) return (pk_value *)s;
    if (s->kind == PK_TUPLE && s->n >= 1 && s->items[0]->kind == PK_DICT) return s->items[0];
    return NULL;
}

uint64_t pk_tensor_numel(const pk_value *t) {
    uint64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= (uint64_t)t->shape[d];
    return n;
}

uint64_t pk_tensor_span(const pk_value *t) {
    if (pk_tensor_numel(t) == 0) return 0;
    uint64_t s = (uint64_t)t->offset + 1;
    for (int d = 0; d < t->ndim; d++) s += (uint64_t)(t->shape[d] - 1) * (uint64_t)t->stride[d];
    return s;
}
