/* PyTorch .pt files read in C (io/zip, io/pickle, io/ptfile), against
 * fixtures written by PyTorch itself (tools/make_pt_fixtures.py): a state
 * dict of every stored dtype, a non-contiguous view and views sharing one
 * storage (stored and deflated archives); a whole module object (its state
 * dict must equal the one PyTorch wrote as safetensors, byte for byte);
 * pickles that call os.system / builtins.eval, which must be refused with
 * nothing run (a file they would create must not appear); crafted pickles
 * for the machine's own checks; truncation at every length and flipped
 * bytes, which must fail cleanly. */
#include "core/tensor.h"
#include "harness.h"
#include "io/file.h"
#include "io/pickle.h"
#include "io/ptfile.h"
#include "io/safetensors.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define FIX YOLOC_SOURCE_DIR "/tests/io/fixtures/pt/"
#define SENTINEL "/tmp/yoloc_pt_fixture_ran"

static unsigned char *slurp(const char *path, size_t *len) {
    char *buf = NULL;
    return file_read_all(path, 1 << 20, &buf, len) == YOLOC_OK ? (unsigned char *)buf : NULL;
}

static float as_f32(const st_entry *e, const void *data, size_t i) {
    const unsigned char *p = (const unsigned char *)data + i * dtype_size(e->dt);
    uint16_t h;
    float f;
    switch (e->dt) {
    case DT_F32: memcpy(&f, p, 4); return f;
    case DT_F16: memcpy(&h, p, 2); return f16_to_f32(h);
    case DT_BF16: memcpy(&h, p, 2); return bf16_to_f32(h);
    default: return NAN;
    }
}

static void check_state_dict(const char *file) {
    safetensors s;
    status st = pt_open_safetensors(&s, file);
    CHECK_MSG(st == YOLOC_OK, "%s: %s", file, yoloc_last_error());
    if (st < 0) return;
    CHECK_STR(st_meta(&s, "format"), "state_dict");
    CHECK_EQ_INT((int)s.n, 9);
    const char *fl[] = {"w32", "w16", "wbf"};
    const dtype dts[] = {DT_F32, DT_F16, DT_BF16};
    for (int k = 0; k < 3; k++) {
        const st_entry *e = st_find(&s, fl[k]);
        CHECK_MSG(e && e->dt == dts[k] && e->ndim == 3 && e->shape[0] == 2 && e->shape[1] == 3 && e->shape[2] == 4,
                  "%s: tensor %s", file, fl[k]);
        for (size_t i = 0; e && i < 24; i++) CHECK_NEAR(as_f32(e, st_data(&s, e), i), (double)i * 0.5 - 3.0, 0);
    }
    const st_entry *e = st_find(&s, "i64");
    CHECK(e && e->dt == DT_I64 && e->ndim == 1 && e->shape[0] == 3);
    if (e) {
        int64_t v[3];
        memcpy(v, st_data(&s, e), sizeof v);
        CHECK(v[0] == 1 && v[1] == -2 && v[2] == 205891132094649LL);
    }
    /* the transpose of arange(12).reshape(3, 4): element (r, c) = 4c + r */
    e = st_find(&s, "view_t");
    CHECK(e && e->dt == DT_F32 && e->ndim == 2 && e->shape[0] == 4 && e->shape[1] == 3);
    for (int r = 0; e && r < 4; r++)
        for (int c = 0; c < 3; c++) CHECK_NEAR(as_f32(e, st_data(&s, e), (size_t)(r * 3 + c)), 4.0 * c + r, 0);
    /* base = 1.5 * arange(10); a = base[2:6], b = base[5:] (one storage) */
    e = st_find(&s, "shared_a");
    CHECK(e && e->ndim == 1 && e->shape[0] == 4);
    for (int i = 0; e && i < 4; i++) CHECK_NEAR(as_f32(e, st_data(&s, e), (size_t)i), 1.5 * (i + 2), 0);
    e = st_find(&s, "shared_b");
    CHECK(e && e->ndim == 1 && e->shape[0] == 5);
    for (int i = 0; e && i < 5; i++) CHECK_NEAR(as_f32(e, st_data(&s, e), (size_t)i), 1.5 * (i + 5), 0);
    e = st_find(&s, "scalar");
    CHECK(e && e->dt == DT_I64 && e->ndim == 0);
    if (e) {
        int64_t v;
        memcpy(&v, st_data(&s, e), 8);
        CHECK(v == 7);
    }
    e = st_find(&s, "empty");
    CHECK(e && e->ndim == 2 && e->shape[0] == 0 && e->shape[1] == 3);
    st_close(&s);
}

/* torch.save(nn.Sequential(...)): the module tree walked into the state
 * dict PyTorch itself gives (module_state.safetensors), byte for byte. */
static void check_module(void) {
    safetensors a, b;
    status st = pt_open_safetensors(&a, FIX "module.pt");
    CHECK_MSG(st == YOLOC_OK, "module.pt: %s", yoloc_last_error());
    if (st < 0) return;
    CHECK_STR(st_meta(&a, "format"), "module");
    if (st_open(&b, FIX "module_state.safetensors") != YOLOC_OK) {
        fprintf(stderr, "module_state.safetensors: %s\n", yoloc_last_error());
        CHECK(0);
        st_close(&a);
        return;
    }
    CHECK_EQ_INT((int)a.n, (int)b.n);
    CHECK_EQ_INT((int)a.n, 7);
    for (size_t i = 0; i < b.n; i++) {
        const st_entry *eb = &b.entries[i], *ea = st_find(&a, eb->name);
        CHECK_MSG(ea != NULL, "module.pt lacks %s", eb->name);
        if (!ea) continue;
        CHECK_MSG(ea->dt == eb->dt && ea->ndim == eb->ndim && ea->end - ea->begin == eb->end - eb->begin &&
                      memcmp(st_data(&a, ea), st_data(&b, eb), eb->end - eb->begin) == 0,
                  "module.pt: %s differs from PyTorch's state dict", eb->name);
    }
    st_close(&a);
    st_close(&b);
}

/* A pickle that would run a command: refused, naming the callable, and
 * the command's file never appears. */
static void check_evil(const char *file, const char *callable) {
    unlink(SENTINEL);
    safetensors s;
    status st = pt_open_safetensors(&s, file);
    CHECK_EQ_INT(st, YOLOC_ERR_UNSUPPORTED);
    CHECK_CONTAINS(yoloc_last_error(), callable);
    CHECK_CONTAINS(yoloc_last_error(), "nothing was run");
    CHECK_MSG(access(SENTINEL, F_OK) != 0, "%s: the pickle's command ran", file);
    printf("test_ptfile: %s refused: %s\n", strrchr(file, '/') + 1, yoloc_last_error());
}

/* The machine on crafted pickles: values, the memo, refusals. */
static status parse(const char *bytes, size_t n, pk_doc *d) { return pk_parse(d, (const unsigned char *)bytes, n, "t"); }

static void check_machine(void) {
    pk_doc d;
    /* {'a': [1, -2, 300000, 2**40], 'b': (None, True, 1.5), 'c': 'x'} with the list memoised and fetched twice */
    /* (C hex escapes are greedy: literals are split where a hex digit follows) */
    static const char ok[] = "\x80\x02}q\x00(X\x01\x00\x00\x00" "a]q\x01(K\x01J\xfe\xff\xff\xffJ\xe0\x93\x04\x00"
                             "\x8a\x06\x00\x00\x00\x00\x00\x01" "eX\x01\x00\x00\x00" "b(N\x88G?\xf8\x00\x00\x00\x00\x00\x00"
                             "tX\x01\x00\x00\x00" "c\x8c\x01xX\x01\x00\x00\x00" "dh\x01u.";
    status st = parse(ok, sizeof ok - 1, &d);
    CHECK_MSG(st == YOLOC_OK, "crafted pickle: %s", yoloc_last_error());
    if (st == YOLOC_OK) {
        const pk_value *a = pk_get(d.root, "a"), *b = pk_get(d.root, "b"), *c = pk_get(d.root, "c");
        CHECK(a && a->kind == PK_LIST && a->n == 4);
        if (a && a->n == 4)
            CHECK(a->items[0]->i == 1 && a->items[1]->i == -2 && a->items[2]->i == 300000 &&
                  a->items[3]->i == ((int64_t)1 << 40));
        CHECK(b && b->kind == PK_TUPLE && b->n == 3 && b->items[0]->kind == PK_NONE && b->items[1]->i == 1 &&
              b->items[2]->f == 1.5);
        CHECK(pk_is_str(c, "x"));
        CHECK(pk_get(d.root, "d") == a); /* the memo shares the value */
        pk_free(&d);
    }
    /* a list that holds itself (memo + APPEND): a graph, built without looping */
    static const char cyc[] = "\x80\x02]q\x00h\x00" "a.";
    st = parse(cyc, sizeof cyc - 1, &d);
    CHECK(st == YOLOC_OK && d.root->kind == PK_LIST && d.root->n == 1 && d.root->items[0] == d.root);
    if (st == YOLOC_OK) pk_free(&d);
#define PK(lit) lit, sizeof lit - 1
    struct {
        const char *bytes;
        size_t n;
        status want;
        const char *msg;
    } bad[] = {
        {PK("\x80\x01N."), YOLOC_ERR_UNSUPPORTED, "protocol"},
        {PK("\x80\x02N"), YOLOC_ERR_PARSE, "truncated"},
        {PK("\x80\x02NN."), YOLOC_ERR_PARSE, "one value"},
        {PK("\x80\x02\x8b\x09\x00\x00\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09."), YOLOC_ERR_PARSE, "64 bits"},
        {PK("\x80\x02X\xff\xff\xff\x7f"), YOLOC_ERR_PARSE, "longer than the pickle"},
        {PK("\x80\x02h\x05."), YOLOC_ERR_PARSE, "never stored"},
        {PK("\x80\x02Nr\xff\xff\xff\x7f."), YOLOC_ERR_PARSE, "memo index"},
        {PK("\x80\x02" "a."), YOLOC_ERR_PARSE, "empty"},
        {PK("\x80\x02\xff."), YOLOC_ERR_PARSE, "unknown opcode 0xff"},
        {PK("\x80\x02\x82\x01."), YOLOC_ERR_UNSUPPORTED, "extension"},
        {PK("\x80\x02(i__main__\nX\n."), YOLOC_ERR_UNSUPPORTED, "INST"},
        {PK("\x80\x02\x8c\x02os\x8c\x06system\x93)R."), YOLOC_ERR_UNSUPPORTED, "os.system"},
        {PK("\x80\x02\x63subprocess\nPopen\n)\x81."), YOLOC_ERR_UNSUPPORTED, "subprocess.Popen"},
        {PK("\x80\x02\x63posix\nsystem\n)R."), YOLOC_ERR_UNSUPPORTED, "posix.system"},
        {PK("\x80\x02(X\x07\x00\x00\x00storageK\x00tQ."), YOLOC_ERR_PARSE, "persistent id"},
    };
#undef PK
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        st = parse(bad[k].bytes, bad[k].n, &d);
        CHECK_MSG(st == bad[k].want, "crafted pickle %zu (%s): status %d, message: %s", k, bad[k].msg, st,
                  yoloc_last_error());
        CHECK_CONTAINS(yoloc_last_error(), bad[k].msg);
        CHECK(d.root == NULL && d.priv == NULL);
    }
}

/* Every prefix of a file and single flipped bytes: a clean error or (for
 * a flip that changes nothing the reader uses) success, never a crash. */
static void check_damage(const char *file) {
    size_t len;
    unsigned char *buf = slurp(file, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    pt_file f;
    for (size_t n = 0; n < len; n++) {
        status st = pt_open_memory(&f, buf, n, "cut.pt");
        if (st == YOLOC_OK) {
            safetensors s;
            if (pt_to_safetensors(&f, &s) == YOLOC_OK) st_close(&s);
            pt_close(&f);
        } else {
            CHECK(f.file == NULL && f.doc.root == NULL);
            CHECK_MSG(strncmp(yoloc_last_error(), "cut.pt", 6) == 0, "cut at %zu: message '%s'", n, yoloc_last_error());
        }
    }
    int failed = 0;
    for (size_t i = 0; i < len; i += 7) {
        unsigned char keep = buf[i];
        buf[i] ^= 0x5a;
        if (pt_open_memory(&f, buf, len, "flip.pt") == YOLOC_OK) {
            safetensors s;
            if (pt_to_safetensors(&f, &s) == YOLOC_OK) st_close(&s);
            else failed++;
            pt_close(&f);
        } else {
            failed++;
        }
        buf[i] = keep;
    }
    CHECK(failed > 0);
    free(buf);
}

/* Written by pt_write_state_dict, read back: the same tensors, bytes and
 * all (every dtype, a 0-dim scalar, an empty tensor). */
static void check_roundtrip(void) {
    safetensors a, b;
    if (pt_open_safetensors(&a, FIX "state_dict.pt") != YOLOC_OK) {
        CHECK_MSG(0, "%s", yoloc_last_error());
        return;
    }
    st_tensor *ts = calloc(a.n, sizeof *ts);
    for (size_t i = 0; i < a.n; i++) {
        const st_entry *e = &a.entries[i];
        ts[i] = (st_tensor){.name = e->name, .dt = e->dt, .ndim = e->ndim, .data = st_data(&a, e)};
        memcpy(ts[i].shape, e->shape, sizeof e->shape);
    }
    char path[64];
    snprintf(path, sizeof path, "/tmp/yoloc_pt_rt_%d.pt", (int)getpid());
    status st = pt_write_state_dict(path, ts, a.n);
    CHECK_MSG(st == YOLOC_OK, "write: %s", yoloc_last_error());
    st = st == YOLOC_OK ? pt_open_safetensors(&b, path) : st;
    CHECK_MSG(st == YOLOC_OK, "read back: %s", yoloc_last_error());
    if (st == YOLOC_OK) {
        CHECK_STR(st_meta(&b, "format"), "state_dict");
        CHECK_EQ_INT((int)b.n, (int)a.n);
        for (size_t i = 0; i < a.n && i < b.n; i++) {
            const st_entry *ea = &a.entries[i], *eb = &b.entries[i];
            CHECK_MSG(strcmp(ea->name, eb->name) == 0 && ea->dt == eb->dt && ea->ndim == eb->ndim &&
                          memcmp(ea->shape, eb->shape, sizeof(int64_t) * (size_t)ea->ndim) == 0 &&
                          ea->end - ea->begin == eb->end - eb->begin &&
                          memcmp(st_data(&a, ea), st_data(&b, eb), ea->end - ea->begin) == 0,
                      "round trip: tensor %s differs", ea->name);
        }
        /* storages start on 64-byte boundaries of the file, as PyTorch aligns them */
        pt_file f;
        if (pt_open(&f, path) == YOLOC_OK) {
            for (size_t i = 0; i < f.z.n; i++)
                if (strstr(f.z.entries[i].name, "/data/")) CHECK_EQ_INT((int)(f.z.entries[i].data_off % 64), 0);
            pt_close(&f);
        }
        st_close(&b);
    }
    unlink(path);
    free(ts);
    st_close(&a);
}

int main(void) {
    check_roundtrip();
    check_state_dict(FIX "state_dict.pt");
    check_state_dict(FIX "state_dict_deflated.pt");
    check_module();
    check_evil(FIX "evil_system.pt", "os.system");
    check_evil(FIX "evil_eval.pt", "builtins.eval");
    check_machine();
    check_damage(FIX "state_dict_deflated.pt");
    check_damage(FIX "module.pt");
    /* one flipped bit in a stored storage's bytes: the CRC catches it */
    size_t len;
    unsigned char *buf = slurp(FIX "state_dict.pt", &len);
    CHECK(buf != NULL);
    if (buf) {
        pt_file f;
        CHECK(pt_open_memory(&f, buf, len, "ok.pt") == YOLOC_OK);
        const zip_entry *e = NULL;
        char name[300];
        snprintf(name, sizeof name, "%sdata/0", f.prefix);
        e = zip_find(&f.z, name);
        CHECK(e && e->method == 0 && e->usize >= 4);
        size_t at = e ? (size_t)e->data_off + 1 : 0;
        pt_close(&f);
        if (e) {
            buf[at] ^= 0x10;
            safetensors s;
            status st = pt_open_memory(&f, buf, len, "bad.pt");
            if (st == YOLOC_OK) {
                st = pt_to_safetensors(&f, &s);
                pt_close(&f);
            }
            CHECK_EQ_INT(st, YOLOC_ERR_PARSE);
            CHECK_CONTAINS(yoloc_last_error(), "CRC-32");
        }
        free(buf);
    }
    return test_finish("test_ptfile");
}
