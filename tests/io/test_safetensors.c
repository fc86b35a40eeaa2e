/* safetensors: write/read round trip (F32, I64 scalar, BF16, U8, metadata),
 * the writer's bytes against a header built here from the spec, a file
 * written by the Python package, every validation error via crafted
 * buffers (exact messages), truncation at every length, and the atomic
 * write (missing folder, failure with an existing file, no tmp left).
 *
 * YOLOC_IO_EXPORT=/path/x.safetensors keeps a copy of the round-trip file
 * for `python3 tools/make_io_fixtures.py --check /path/x.safetensors`. */
#include "harness.h"
#include "io/safetensors.h"

#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIX YOLOC_SOURCE_DIR "/tests/io/fixtures/"

static char tmpdir[256];

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    return buf;
}

static int file_exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* 8-byte length + header + data_len bytes (i & 0xff), opened from memory
 * (an exact-size heap copy, so ASan sees any overread). */
static status open_crafted(safetensors *f, const char *header, size_t data_len) {
    size_t h = strlen(header), len = 8 + h + data_len;
    unsigned char *buf = malloc(len);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(buf + 8, header, h);
    for (size_t i = 0; i < data_len; i++) buf[8 + h + i] = (unsigned char)i;
    status st = st_open_memory(f, buf, len, "w.safetensors");
    free(buf);
    return st;
}

static void expect_error(const char *header, size_t data_len, int want_st, const char *want_msg) {
    safetensors f;
    status st = open_crafted(&f, header, data_len);
    CHECK_MSG(st == want_st, "header %s: status %d, want %d (%s)", header, st, want_st,
              yoloc_last_error());
    CHECK_STR(yoloc_last_error(), want_msg);
    CHECK(f.priv == NULL && f.n == 0); /* closed on error */
    st_close(&f);
}

static void expect_ok(const char *header, size_t data_len, size_t want_n) {
    safetensors f;
    status st = open_crafted(&f, header, data_len);
    CHECK_MSG(st == YOLOC_OK, "header %s: %s", header, yoloc_last_error());
    CHECK_EQ_INT(f.n, want_n);
    st_close(&f);
}

/* A raw length field with no valid header behind it. */
static void expect_len_error(uint64_t hlen, size_t file_len, const char *want_msg) {
    unsigned char *buf = calloc(1, file_len);
    for (int i = 0; i < 8 && (size_t)i < file_len; i++) buf[i] = (unsigned char)(hlen >> (8 * i));
    safetensors f;
    CHECK_EQ_INT(st_open_memory(&f, buf, file_len, "w.safetensors"), YOLOC_ERR_PARSE);
    CHECK_STR(yoloc_last_error(), want_msg);
    st_close(&f);
    free(buf);
}

static void test_validation(void) {
    expect_len_error(
        0, 5,
        "w.safetensors: too short for a safetensors file (5 bytes, the header length alone is 8)");
    expect_len_error(0, 16, "w.safetensors: header length is 0");
    expect_len_error(100000001, 16,
                     "w.safetensors: header length 100000001 exceeds the limit of 100000000 bytes");
    expect_len_error(1234, 508,
                     "w.safetensors: truncated: header says 1234 bytes but the file has 500 after "
                     "the length field");
    expect_len_error(
        UINT64_MAX, 16,
        "w.safetensors: header length 18446744073709551615 exceeds the limit of 100000000 bytes");

    expect_error("{x}", 0, YOLOC_ERR_PARSE,
                 "w.safetensors: header: byte 1: expected a string key in an object, got 'x'");
    expect_error("[1]", 0, YOLOC_ERR_PARSE,
                 "w.safetensors: header is an array, expected a JSON object");
    expect_error("{\"a\":1}", 0, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': entry is a number, expected an object");
    expect_error("{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': missing \"dtype\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': missing \"shape\"");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': missing \"data_offsets\"");
    expect_error("{\"a\":{\"dtype\":32,\"shape\":[],\"data_offsets\":[0,4]}}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': \"dtype\" is a number, expected a string");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': \"shape\" is a string, expected an array");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': \"data_offsets\" must be an array [begin, end]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":{}}}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': \"data_offsets\" must be an array [begin, end]");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4.0]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': \"data_offsets\" must be two non-negative integers");
    expect_error("{\"a\":{\"dtype\":\"Q7\",\"shape\":[],\"data_offsets\":[0,4]}}", 4,
                 YOLOC_ERR_PARSE, "w.safetensors: tensor 'a': unknown dtype 'Q7'");
    expect_error(
        "{\"a\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]}}", 8, YOLOC_ERR_UNSUPPORTED,
        "w.safetensors: tensor 'a': dtype F64 is not supported (F32, BF16, F16, I64, I32, U8 are)");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': shape[0] is not a non-negative integer (-1)");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,4]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': shape[1] is not a non-negative integer (1.5)");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[null],\"data_offsets\":[0,4]}}", 4,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': shape[0] is not a non-negative integer (null)");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1,
                 YOLOC_ERR_UNSUPPORTED,
                 "w.safetensors: tensor 'a': shape has 7 dimensions (at most 6 supported)");
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,4]}}", 8,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'a': data_offsets [8, 4]: begin after end");
    expect_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8, YOLOC_ERR_PARSE,
        "w.safetensors: tensor 'a': data_offsets [0, 16] outside the data section (8 bytes)");
    expect_error("{\"model.0.conv.weight\":{\"dtype\":\"F32\",\"shape\":[16,3,3,3],\"data_"
                 "offsets\":[0,100]}}",
                 100, YOLOC_ERR_PARSE,
                 "w.safetensors: tensor 'model.0.conv.weight': data_offsets [0, 100] do not match "
                 "shape [16, 3, 3, 3] "
                 "x F32 (1728 bytes)");
    expect_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,0]}}", 0,
        YOLOC_ERR_PARSE,
        "w.safetensors: tensor 'a': shape [4294967296, 4294967296, 4] x F32 overflows a 64-bit "
        "byte count");
    /* 2^62 x 4 x 1 byte wraps to exactly 0, which [0, 0] would match without the overflow check */
    expect_error(
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,0]}}", 0,
        YOLOC_ERR_PARSE,
        "w.safetensors: tensor 'a': shape [4611686018427387904, 4] x U8 overflows a 64-bit byte "
        "count");
    expect_error(
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[99999999999999999999],\"data_offsets\":[0,0]}}", 0,
        YOLOC_ERR_PARSE,
        "w.safetensors: tensor 'a': shape[0] is not a non-negative integer (99999999999999999999)");

    /* coverage of the data section */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                 "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                 12, YOLOC_ERR_PARSE, "w.safetensors: tensors 'a' [0, 8] and 'b' [4, 12] overlap");
    expect_error(
        "{\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
        12, YOLOC_ERR_PARSE,
        "w.safetensors: bytes [4, 8) of the data section belong to no tensor (a hole before 'b')");
    expect_error(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, YOLOC_ERR_PARSE,
        "w.safetensors: bytes [0, 4) of the data section belong to no tensor (a hole before 'a')");
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 8,
                 YOLOC_ERR_PARSE,
                 "w.safetensors: bytes [4, 8) at the end of the data section belong to no tensor");
    expect_error("{}", 4, YOLOC_ERR_PARSE,
                 "w.safetensors: the data section has 4 bytes but the header lists no tensors");
    /* same range twice (non-empty) overlaps */
    expect_error("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                 "\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]}}",
                 4, YOLOC_ERR_PARSE, "w.safetensors: tensors 'a' [0, 4] and 'b' [0, 4] overlap");

    /* metadata */
    expect_error("{\"__metadata__\":[\"a\"]}", 0, YOLOC_ERR_PARSE,
                 "w.safetensors: __metadata__ is an array, expected an object of strings");
    expect_error("{\"__metadata__\":{\"k\":1}}", 0, YOLOC_ERR_PARSE,
                 "w.safetensors: __metadata__ value of 'k' is a number, expected a string");
    /* duplicate tensor names are caught by the JSON parser */
    expect_error("{\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]},"
                 "\"a\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                 0, YOLOC_ERR_PARSE,
                 "w.safetensors: header: byte 53: duplicate key \"a\" (first at byte 1)");

    /* valid edge cases: no tensors, empty tensors anywhere, padding spaces, unknown fields ignored
     */
    expect_ok("{}", 0, 0);
    expect_ok("{}      ", 0, 0);
    expect_ok("{\"__metadata__\":{}}", 0, 0);
    expect_ok("{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
              "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
              "\"z\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
              "\"b\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[4,8],\"extra\":true}}",
              8, 4);
}

/* The exact bytes st_write must produce, built here from the spec. */
static void test_bytes_against_spec(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/spec.safetensors", tmpdir);
    float a[2] = {1.0f, -2.0f};
    int64_t b = -7;
    st_tensor t[2] = {{.name = "a", .dt = DT_F32, .ndim = 1, .shape = {2}, .data = a},
                      {.name = "b", .dt = DT_I64, .ndim = 0, .data = &b}};
    const char *mk[] = {"format"}, *mv[] = {"pt"};
    CHECK_EQ_INT(st_write(path, t, 2, mk, mv, 1), YOLOC_OK);

    const char *json = "{\"__metadata__\":{\"format\":\"pt\"},"
                       "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                       "\"b\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[8,16]}}";
    size_t jl = strlen(json), hl = (jl + 7) / 8 * 8;
    unsigned char want[512];
    for (int i = 0; i < 8; i++) want[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(want + 8, json, jl);
    memset(want + 8 + jl, ' ', hl - jl);
    /* little-endian data: 1.0f = 0x3f800000, -2.0f = 0xc0000000, -7 = 0xff..f9 */
    static const unsigned char data[16] = {0,    0,    0x80, 0x3f, 0,    0,    0,    0xc0,
                                           0xf9, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    memcpy(want + 8 + hl, data, 16);
    size_t wl = 8 + hl + 16, len;
    unsigned char *got = slurp(path, &len);
    size_t i = 0;
    while (got && i < len && i < wl && got[i] == want[i]) i++;
    CHECK_MSG(got && len == wl && i == wl,
              "written %zu bytes, expected %zu, first difference at byte %zu", len, wl, i);
    CHECK_EQ_INT(hl % 8, 0);
    CHECK_EQ_INT(hl, 144); /* 138 bytes of JSON, padded with 6 spaces */
    free(got);
}

static void test_round_trip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.safetensors", tmpdir);
    float w[2 * 3] = {0.5f, -1.25f, 3.0f, 1e-8f, -0.0f, 65504.0f};
    int64_t nbt = 123456789012345LL;
    uint16_t bf[4] = {f32_to_bf16(1.0f), f32_to_bf16(-0.5f), f32_to_bf16(3.140625f),
                      f32_to_bf16(-1e30f)};
    uint8_t u8[3] = {0, 127, 255};
    st_tensor t[4] = {
        {.name = "model.0.conv.weight", .dt = DT_F32, .ndim = 2, .shape = {2, 3}, .data = w},
        {.name = "model.1.bn.num_batches_tracked", .dt = DT_I64, .ndim = 0, .data = &nbt},
        {.name = "bf", .dt = DT_BF16, .ndim = 1, .shape = {4}, .data = bf},
        {.name = "mask \"q\" \\", .dt = DT_U8, .ndim = 3, .shape = {1, 3, 1}, .data = u8},
    };
    const char *mk[] = {"format", "note"}, *mv[] = {"pt", "line1\nline2\t\"quoted\" \\ é"};
    CHECK_EQ_INT(st_write(path, t, 4, mk, mv, 2), YOLOC_OK);
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(!file_exists(tmp));

    const char *export = getenv("YOLOC_IO_EXPORT");
    if (export) CHECK_EQ_INT(st_write(export, t, 4, mk, mv, 2), YOLOC_OK);

    safetensors f;
    CHECK_EQ_INT(st_open(&f, path), YOLOC_OK);
    CHECK_STR(f.path, path);
    CHECK_EQ_INT(f.n, 4);
    CHECK_EQ_INT(f.nmeta, 2);
    CHECK_STR(st_meta(&f, "format"), "pt");
    CHECK_STR(st_meta(&f, "note"), mv[1]);
    CHECK(st_meta(&f, "nope") == NULL);
    CHECK(st_find(&f, "nope") == NULL);
    CHECK_EQ_INT((uintptr_t)f.data % 64, 0); /* the data section is 64-byte aligned in memory */
    uint64_t off = 0;
    for (size_t i = 0; i < 4; i++) {
        const st_entry *e = &f.entries[i];
        CHECK_STR(e->name, t[i].name); /* header order = given order */
        CHECK_EQ_INT(e->dt, t[i].dt);
        CHECK_EQ_INT(e->ndim, t[i].ndim);
        for (int d = 0; d < e->ndim; d++) CHECK_EQ_INT(e->shape[d], t[i].shape[d]);
        size_t nb = dtype_size(t[i].dt) * (size_t)shape_numel(t[i].ndim, t[i].shape);
        CHECK_EQ_INT(e->begin, off); /* contiguous from 0 */
        CHECK_EQ_INT(e->end, off + nb);
        CHECK_MSG(memcmp(st_data(&f, e), t[i].data, nb) == 0, "tensor %s: data differs", e->name);
        CHECK(st_find(&f, t[i].name) == e);
        off += nb;
    }
    CHECK_EQ_INT(f.data_len, off);
    const st_entry *e = st_find(&f, "bf");
    if (e) CHECK_NEAR(bf16_to_f32(((const uint16_t *)st_data(&f, e))[2]), 3.140625, 0);
    st_close(&f);
    CHECK(f.priv == NULL);

    /* truncation at every length must fail, never crash */
    size_t len;
    unsigned char *full = slurp(path, &len);
    int accepted = 0;
    for (size_t l = 0; full && l < len; l++) {
        unsigned char *cut = malloc(l ? l : 1);
        memcpy(cut, full, l);
        safetensors g;
        if (st_open_memory(&g, cut, l, "cut") >= 0) accepted++;
        st_close(&g);
        free(cut);
    }
    CHECK_MSG(accepted == 0, "%d truncated prefixes of %zu bytes were accepted", accepted, len);
    /* the complete buffer opens from memory too */
    safetensors g;
    CHECK_EQ_INT(st_open_memory(&g, full, len, "mem"), YOLOC_OK);
    CHECK_EQ_INT(g.n, 4);
    st_close(&g);
    free(full);

    /* no tensors, no metadata */
    CHECK_EQ_INT(st_write(path, NULL, 0, NULL, NULL, 0), YOLOC_OK);
    CHECK_EQ_INT(st_open(&f, path), YOLOC_OK);
    CHECK(f.n == 0 && f.nmeta == 0 && f.data_len == 0);
    st_close(&f);
}

/* tiny.safetensors was written by the Python package (tools/make_io_fixtures.py). */
static void test_python_fixture(void) {
    safetensors f;
    CHECK_EQ_INT(st_open(&f, FIX "tiny.safetensors"), YOLOC_OK);
    CHECK_EQ_INT(f.n, 3);
    CHECK_STR(st_meta(&f, "format"), "pt");
    CHECK_STR(st_meta(&f, "epoch"), "3");
    const st_entry *w = st_find(&f, "model.0.conv.weight"),
                   *n = st_find(&f, "model.0.bn.num_batches_tracked"),
                   *h = st_find(&f, "model.1.half");
    CHECK(w && n && h);
    if (w && n && h) {
        CHECK(w->dt == DT_F32 && w->ndim == 2 && w->shape[0] == 2 && w->shape[1] == 3);
        float want[6] = {0, 0.5f, 1, 1.5f, 2, 2.5f}, got[6];
        memcpy(got, st_data(&f, w), sizeof got);
        test_allclose("python F32", got, want, 6, 0, 0);
        CHECK(n->dt == DT_I64 && n->ndim == 0 && n->end - n->begin == 8);
        int64_t v;
        memcpy(&v, st_data(&f, n), 8);
        CHECK_EQ_INT(v, -7);
        CHECK(h->dt == DT_F16 && h->ndim == 1 && h->shape[0] == 3);
        uint16_t hv[3];
        memcpy(hv, st_data(&f, h), sizeof hv);
        CHECK_NEAR(f16_to_f32(hv[0]), 1.0, 0);
        CHECK_NEAR(f16_to_f32(hv[1]), -2.0, 0);
        CHECK_NEAR(f16_to_f32(hv[2]), 0.25, 0);
    }
    st_close(&f);
}

static void test_atomic(void) {
    char path[512], tmp[600];
    float v[4] = {1, 2, 3, 4};
    st_tensor t = {.name = "v", .dt = DT_F32, .ndim = 1, .shape = {4}, .data = v};

    snprintf(path, sizeof path, "%s/no_such_dir/w.safetensors", tmpdir);
    CHECK_EQ_INT(st_write(path, &t, 1, NULL, NULL, 0), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "no_such_dir/w.safetensors: cannot create");
    CHECK_CONTAINS(yoloc_last_error(), "No such file or directory");
    snprintf(tmp, sizeof tmp, "%s/no_such_dir", tmpdir);
    CHECK(!file_exists(tmp));

    safetensors f;
    CHECK_EQ_INT(st_open(&f, path), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "w.safetensors: cannot open: No such file or directory");
    CHECK_EQ_INT(st_open(&f, tmpdir), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), ": cannot read: not a regular file");

    /* an existing file survives failed writes */
    snprintf(path, sizeof path, "%s/keep.safetensors", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_EQ_INT(st_write(path, &t, 1, NULL, NULL, 0), YOLOC_OK);
    size_t len0;
    unsigned char *before = slurp(path, &len0);

    /* 1: bad arguments are refused before anything is written */
    st_tensor bad[2] = {t, t};
    CHECK_EQ_INT(st_write(path, bad, 2, NULL, NULL, 0), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "keep.safetensors: tensor 'v' given twice");
    bad[1].name = "__metadata__";
    CHECK_EQ_INT(st_write(path, bad, 2, NULL, NULL, 0), YOLOC_ERR_INVALID);
    bad[1].name = "w";
    bad[1].data = NULL;
    CHECK_EQ_INT(st_write(path, bad, 2, NULL, NULL, 0), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "tensor 'w': no data");

    /* 2: the tmp name is taken by a folder: cannot create */
    CHECK_EQ_INT(mkdir(tmp, 0755), 0);
    CHECK_EQ_INT(st_write(path, &t, 1, NULL, NULL, 0), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "keep.safetensors: cannot create");
    rmdir(tmp);

    /* 3: the write fails midway (file size limit): tmp removed */
    static float big[1 << 16];
    st_tensor tb = {.name = "big", .dt = DT_F32, .ndim = 1, .shape = {1 << 16}, .data = big};
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 8192;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        status st = st_write(path, &tb, 1, NULL, NULL, 0);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK_EQ_INT(st, YOLOC_ERR_IO);
        CHECK_CONTAINS(yoloc_last_error(), "keep.safetensors: cannot write: File too large");
    } else {
        printf("note: setrlimit failed, mid-write failure not tested\n");
    }
    CHECK_MSG(!file_exists(tmp), "tmp file left behind after a failed write");
    size_t len1;
    unsigned char *after = slurp(path, &len1);
    CHECK_MSG(before && after && len0 == len1 && memcmp(before, after, len0) == 0,
              "existing file changed");
    free(before);
    free(after);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/yoloc_test_st_XXXXXX");
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");
    test_validation();
    test_bytes_against_spec();
    test_round_trip();
    test_python_fixture();
    test_atomic();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_safetensors");
}
