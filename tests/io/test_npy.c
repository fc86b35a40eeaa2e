/* .npy reading and writing: numpy-written fixtures read back (1.0, 2.0,
 * '<f8', scalar, empty), the writer's bytes equal numpy's for the same
 * arrays, a write/read round trip, hand-built headers, each error with its
 * message, truncation at every length, and the atomic-write guarantees. */
#include "harness.h"
#include "io/npy.h"

#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <unistd.h>

#define FIX YOLOC_SOURCE_DIR "/tests/io/fixtures/"

static char tmpdir[256];

static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    unsigned char *buf = malloc(1 << 16);
    *len = buf ? fread(buf, 1, 1 << 16, f) : 0;
    fclose(f);
    return buf;
}

static int file_exists(const char *path) {
    return access(path, F_OK) == 0;
}

/* A 1.0 file from a header dict text (padded so data starts at 64) + data. */
static size_t build_npy(unsigned char *out, const char *dict, const void *data, size_t nbytes) {
    size_t k = strlen(dict);
    memcpy(out, "\x93NUMPY\x01\x00", 8);
    size_t total = 10 + k + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = k + pad + 1;
    out[8] = (unsigned char)(hlen & 0xff);
    out[9] = (unsigned char)(hlen >> 8);
    memcpy(out + 10, dict, k);
    memset(out + 10 + k, ' ', pad);
    out[10 + k + pad] = '\n';
    memcpy(out + 10 + hlen, data, nbytes);
    return 10 + hlen + nbytes;
}

/* Parses buf and checks the status and the exact message. */
static void expect_error(const char *what, const unsigned char *buf, size_t len, int want_st,
                         const char *want_msg) {
    float *d = (float *)1;
    int nd = -1;
    int64_t sh[TENSOR_MAX_DIMS];
    status st = npy_parse_f32(buf, len, "x.npy", &d, &nd, sh);
    CHECK_MSG(st == want_st, "%s: status %d, want %d (%s)", what, st, want_st, yoloc_last_error());
    CHECK_MSG(d == NULL, "%s: data not NULL on error", what);
    CHECK_STR(yoloc_last_error(), want_msg);
}

static void test_fixtures(void) {
    float *d;
    int nd;
    int64_t sh[TENSOR_MAX_DIMS];
    CHECK_EQ_INT(npy_read_f32(FIX "f4_2x3.npy", &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(sh[0], 2);
    CHECK_EQ_INT(sh[1], 3);
    float want[6] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
    test_allclose("f4_2x3", d, want, 6, 0, 0);
    free(d);

    CHECK_EQ_INT(npy_read_f32(FIX "f4_scalar.npy", &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 0);
    CHECK_NEAR(d[0], 1.5, 0);
    free(d);

    CHECK_EQ_INT(npy_read_f32(FIX "f8_4.npy", &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 1);
    CHECK_EQ_INT(sh[0], 4);
    float want8[4] = {0.5f, -1.0f, 3.0f, 1e10f};
    test_allclose("f8_4 (converted)", d, want8, 4, 0, 0);
    free(d);

    CHECK_EQ_INT(npy_read_f32(FIX "f4_v2.npy", &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(sh[0], 1);
    CHECK_EQ_INT(sh[1], 2);
    CHECK_NEAR(d[0], 1.0, 0);
    CHECK_NEAR(d[1], 2.0, 0);
    free(d);

    CHECK_EQ_INT(npy_read_f32(FIX "f4_empty_0x4.npy", &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 2);
    CHECK_EQ_INT(sh[0], 0);
    CHECK_EQ_INT(sh[1], 4);
    CHECK(d != NULL);
    free(d);

    CHECK_EQ_INT(npy_read_f32("/nonexistent/x.npy", &d, &nd, sh), YOLOC_ERR_IO);
    CHECK_STR(yoloc_last_error(), "/nonexistent/x.npy: cannot open: No such file or directory");
}

/* The writer's file must equal numpy.save's byte for byte. */
static void check_same_as_numpy(const char *fixture, const float *data, int ndim,
                                const int64_t *shape) {
    char path[512], out[600];
    snprintf(path, sizeof path, FIX "%s", fixture);
    snprintf(out, sizeof out, "%s/%s", tmpdir, fixture);
    CHECK_EQ_INT(npy_write_f32(out, data, ndim, shape), YOLOC_OK);
    size_t la = 0, lb = 0;
    unsigned char *a = slurp(out, &la), *b = slurp(path, &lb);
    size_t i = 0;
    while (a && b && i < la && i < lb && a[i] == b[i]) i++;
    CHECK_MSG(a && b && la == lb && i == la,
              "%s: %zu bytes written, numpy wrote %zu; first difference at byte %zu", fixture, la,
              lb, i);
    CHECK_MSG(!file_exists(strcat(out, ".tmp")), "%s: tmp file left behind", fixture);
    free(a);
    free(b);
}

static void test_writer_matches_numpy(void) {
    float v23[6] = {-2.5f, -1.5f, -0.5f, 0.5f, 1.5f, 2.5f};
    check_same_as_numpy("f4_2x3.npy", v23, 2, (int64_t[]){2, 3});
    float s = 1.5f;
    check_same_as_numpy("f4_scalar.npy", &s, 0, NULL);
    check_same_as_numpy("f4_empty_0x4.npy", NULL, 2, (int64_t[]){0, 4});
    check_same_as_numpy("f4_empty_1234x0.npy", NULL, 2, (int64_t[]){1234, 0});
}

static void test_round_trip(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/rt.npy", tmpdir);
    float v[2 * 3 * 4 * 1 * 2 * 1];
    for (int i = 0; i < 48; i++) v[i] = (float)i * 0.37f - 5.0f;
    int64_t shape[6] = {2, 3, 4, 1, 2, 1};
    CHECK_EQ_INT(npy_write_f32(path, v, 6, shape), YOLOC_OK);
    size_t len;
    unsigned char *raw = slurp(path, &len);
    size_t hl = raw ? raw[8] + 256u * raw[9] : 0;
    CHECK_EQ_INT((10 + hl) % 64, 0); /* data starts at a multiple of 64 */
    CHECK_EQ_INT(len, 10 + hl + sizeof v);
    CHECK(raw && raw[10 + hl - 1] == '\n');
    free(raw);
    float *d;
    int nd;
    int64_t sh[TENSOR_MAX_DIMS];
    CHECK_EQ_INT(npy_read_f32(path, &d, &nd, sh), YOLOC_OK);
    CHECK_EQ_INT(nd, 6);
    for (int i = 0; i < 6; i++) CHECK_EQ_INT(sh[i], shape[i]);
    test_allclose("round trip", d, v, 48, 0, 0);
    free(d);

    /* overwriting an existing file works and leaves no tmp */
    float w = 7.0f;
    CHECK_EQ_INT(npy_write_f32(path, &w, 1, (int64_t[]){1}), YOLOC_OK);
    CHECK_EQ_INT(npy_read_f32(path, &d, &nd, sh), YOLOC_OK);
    CHECK(nd == 1 && sh[0] == 1 && d[0] == 7.0f);
    free(d);
}

static void test_hand_built(void) {
    unsigned char buf[1024];
    float d2[2] = {1.25f, -4.0f};
    float *d;
    int nd;
    int64_t sh[TENSOR_MAX_DIMS];
    /* double quotes, no spaces, keys in another order, Python 2 'L', trailing comma omitted */
    size_t n =
        build_npy(buf, "{\"shape\":(1L,2L),\"fortran_order\":False,\"descr\":\"<f4\"}", d2, 8);
    CHECK_EQ_INT(npy_parse_f32(buf, n, "h.npy", &d, &nd, sh), YOLOC_OK);
    CHECK(nd == 2 && sh[0] == 1 && sh[1] == 2 && d && d[0] == 1.25f && d[1] == -4.0f);
    free(d);

    /* a 2.0 header: u32 length; this one is not padded at all */
    const char *dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n";
    size_t k = strlen(dict);
    memcpy(buf, "\x93NUMPY\x02\x00", 8);
    buf[8] = (unsigned char)k;
    buf[9] = buf[10] = buf[11] = 0;
    memcpy(buf + 12, dict, k);
    memcpy(buf + 12 + k, d2, 8);
    CHECK_EQ_INT(npy_parse_f32(buf, 12 + k + 8, "v2.npy", &d, &nd, sh), YOLOC_OK);
    CHECK(nd == 1 && sh[0] == 2 && d && d[1] == -4.0f);
    free(d);
    /* 3.0 is the same layout (utf8 header) */
    buf[6] = 3;
    CHECK_EQ_INT(npy_parse_f32(buf, 12 + k + 8, "v3.npy", &d, &nd, sh), YOLOC_OK);
    free(d);
}

static void test_errors(void) {
    unsigned char buf[1024];
    float z[4] = {0};
    size_t n;

    expect_error("short", (const unsigned char *)"\x93NUM", 4, YOLOC_ERR_PARSE,
                 "x.npy: not a .npy file (no \\x93NUMPY magic)");
    expect_error("magic", (const unsigned char *)"PK\x03\x04xxxxxxxxxxxx", 16, YOLOC_ERR_PARSE,
                 "x.npy: not a .npy file (no \\x93NUMPY magic)");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", z, 8);
    buf[6] = 4;
    expect_error("version", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: .npy format version 4.0 is not supported (1.0, 2.0, 3.0 are)");
    buf[6] = 1;
    buf[9] = 0x10; /* header length 0x1000 + ... */
    expect_error(
        "header beyond file", buf, n, YOLOC_ERR_PARSE,
        "x.npy: truncated: header says 4214 bytes but the file has 126 after the header length");

    n = build_npy(buf, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", z, 8);
    expect_error(">f4", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: big-endian data ('>f4') is not supported; save it with arr.astype('<f4')");
    n = build_npy(buf, "{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", z, 2);
    expect_error("|u1", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: dtype '|u1' is not supported (only '<f4' and '<f8')");
    n = build_npy(buf, "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", z, 16);
    expect_error("<i8", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: dtype '<i8' is not supported (only '<f4' and '<f8')");
    n = build_npy(buf, "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }", z, 16);
    expect_error("object", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: object arrays ('|O') are not supported");
    n = build_npy(buf, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", z, 8);
    expect_error("structured", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: structured dtypes are not supported (only '<f4' and '<f8')");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", z, 16);
    expect_error("fortran", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: Fortran-order arrays are not supported; save np.ascontiguousarray(arr)");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (2), }", z, 8);
    expect_error(
        "(2) is no tuple", buf, n, YOLOC_ERR_PARSE,
        "x.npy: bad .npy header at byte 50 of the dict: 'shape' (2) is not a tuple, expected (2,)");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (-2,), }", z, 8);
    expect_error("negative", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: bad .npy header at byte 51 of the dict: negative dimension in 'shape'");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1), }", z,
                  4);
    expect_error("ndim 7", buf, n, YOLOC_ERR_UNSUPPORTED,
                 "x.npy: arrays with more than 6 dimensions are not supported");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False}", z, 4);
    expect_error("no shape", buf, n, YOLOC_ERR_PARSE, "x.npy: .npy header lacks 'shape'");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", z, 4);
    expect_error(
        "extra key", buf, n, YOLOC_ERR_PARSE,
        "x.npy: bad .npy header at byte 56 of the dict: unexpected key 'x' (expected 'descr', "
        "'fortran_order', 'shape')");
    n = build_npy(buf, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}", z,
                  4);
    expect_error("duplicate key", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: bad .npy header at byte 17 of the dict: key 'descr' given twice");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", z, 4);
    expect_error(
        "fortran value", buf, n, YOLOC_ERR_PARSE,
        "x.npy: bad .npy header at byte 34 of the dict: 'fortran_order' must be True or False");
    /* 2^32 x 2^32 x 2 floats overflows 64 bits */
    n = build_npy(
        buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2), }", z,
        0);
    expect_error("overflow", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: shape (4294967296, 4294967296, 2) overflows a 64-bit size");
    n = build_npy(
        buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }", z, 0);
    expect_error("dim too large", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: bad .npy header at byte 51 of the dict: dimension too large in 'shape'");
    n = build_npy(buf, "{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", z, 16);
    expect_error("truncated data", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: truncated: shape (3,) x '<f8' needs 24 bytes of data but the file has 16");
    n = build_npy(buf, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", z, 16);
    expect_error("extra data", buf, n, YOLOC_ERR_PARSE,
                 "x.npy: 4 unexpected bytes after the data of shape (3,) x '<f4'");
}

/* Every proper prefix of a valid file must fail cleanly (ASan watches). */
static void test_truncation(void) {
    size_t len;
    unsigned char *full = slurp(FIX "f4_2x3.npy", &len);
    CHECK(full != NULL);
    if (!full) return;
    int failures = 0;
    for (size_t l = 0; l < len; l++) {
        unsigned char *cut = malloc(l ? l : 1);
        memcpy(cut, full, l);
        float *d = NULL;
        int nd;
        int64_t sh[TENSOR_MAX_DIMS];
        if (npy_parse_f32(cut, l, "cut.npy", &d, &nd, sh) >= 0) failures++;
        free(d);
        free(cut);
    }
    CHECK_MSG(failures == 0, "%d truncated prefixes of %zu were accepted", failures, len);
    free(full);
}

static void test_atomic(void) {
    char path[512], tmp[600];
    float v[3] = {1, 2, 3};
    snprintf(path, sizeof path, "%s/missing_dir/a.npy", tmpdir);
    CHECK_EQ_INT(npy_write_f32(path, v, 1, (int64_t[]){3}), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "missing_dir/a.npy: cannot create");
    CHECK_CONTAINS(yoloc_last_error(), "No such file or directory");

    /* a failed write (file size limit hit mid-write) keeps the old file and removes the tmp */
    snprintf(path, sizeof path, "%s/keep.npy", tmpdir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK_EQ_INT(npy_write_f32(path, v, 1, (int64_t[]){3}), YOLOC_OK);
    static float big[100000];
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 4096;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        status st = npy_write_f32(path, big, 1, (int64_t[]){100000});
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK_EQ_INT(st, YOLOC_ERR_IO);
        CHECK_CONTAINS(yoloc_last_error(), "keep.npy: cannot write: File too large");
        CHECK_MSG(!file_exists(tmp), "tmp file left behind after a failed write");
        float *d;
        int nd;
        int64_t sh[TENSOR_MAX_DIMS];
        CHECK_EQ_INT(npy_read_f32(path, &d, &nd, sh), YOLOC_OK);
        CHECK(nd == 1 && sh[0] == 3 && d && d[2] == 3.0f);
        free(d);
    } else {
        printf("note: setrlimit failed, mid-write failure not tested\n");
    }
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/yoloc_test_npy_XXXXXX");
    if (!mkdtemp(tmpdir)) TEST_SKIP("cannot create a temporary folder");
    test_fixtures();
    test_writer_matches_numpy();
    test_round_trip();
    test_hand_built();
    test_errors();
    test_truncation();
    test_atomic();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    return test_finish("test_npy");
}
