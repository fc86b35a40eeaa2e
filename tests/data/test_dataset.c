/* Dataset discovery and checking on a broken dataset built here in a temp
 * folder: every kind of bad image and label line gives exactly the expected
 * problem (file, line, reason) and counts, every good image and line is
 * still used; the check cache (second open reads it, a changed label
 * invalidates one entry, a damaged cache is rebuilt, a read-only folder is
 * a warning); data.yaml errors name the key; list files; and, when
 * ../shared/data exists, the coco128 and bccd counts. */
#include "harness.h"

#include "core/log.h"
#include "data/dataset.h"
#include "data/report.h"
#include "io/image.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_root[PATH_MAX]; /* realpath of the fixture folder */

static const char *at(const char *rel) {
    static char buf[4][PATH_MAX + 64];
    static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_root, rel);
    return buf[k];
}

static void write_file(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}
static void write_str(const char *path, const char *s) {
    write_file(path, s, strlen(s));
}

static unsigned char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(*n);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* A textured w x h image saved as png/jpg by the extension. */
static void make_image(const char *path, int w, int h) {
    image img = {w, h, malloc((size_t)w * h * 3)};
    for (size_t i = 0; i < (size_t)w * h * 3; i++) img.data[i] = (uint8_t)((i * 7919) % 251);
    if (image_save(path, &img, 90) != YOLOC_OK) {
        fprintf(stderr, "%s\n", yoloc_last_error());
        exit(1);
    }
    image_free(&img);
}

/* 24-bit bottom-up BMP. */
static void make_bmp(const char *path, int w, int h) {
    size_t stride = ((size_t)w * 3 + 3) & ~(size_t)3, total = 54 + stride * h;
    unsigned char *b = calloc(total, 1);
    b[0] = 'B', b[1] = 'M';
    b[2] = (unsigned char)total, b[3] = (unsigned char)(total >> 8);
    b[10] = 54, b[14] = 40, b[18] = (unsigned char)w, b[22] = (unsigned char)h, b[26] = 1,
    b[28] = 24;
    for (size_t i = 54; i < total; i++) b[i] = (unsigned char)(i * 13);
    write_file(path, b, total);
    free(b);
}

static void mkdirs(const char *rel) {
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s'", at(rel));
    if (system(cmd) != 0) exit(1);
}

/* The broken dataset (see the expectations in test_broken). */
static void build_fixture(void) {
    mkdirs("images/train/sub");
    mkdirs("labels/train/sub");
    mkdirs("images/val");
    mkdirs("labels/val");
    mkdirs("images/empty");
    mkdirs("images/allbad");
    write_str(at("data.yaml"), "# broken fixture\npath: .\ntrain: images/train\nval: val.txt\n"
                               "names: [alpha, beta, gamma]\n");
    /* good images */
    make_image(at("images/train/good1.jpg"), 64, 48);
    write_str(at("labels/train/good1.txt"), "0 0.25 0.25 0.2 0.2\n1 0.75 0.75 0.3 0.1\n");
    make_image(at("images/train/good2.png"), 40, 30);
    write_str(at("labels/train/good2.txt"),
              "0 0.5 0.5 0.2 0.2\n"                 /* 1 kept */
              "1 0.5 0.5 0.2\n"                     /* 2 four fields */
              "1 0.5 0.5 0.2 0.2 0.1\n"             /* 3 six fields */
              "x 0.5 0.5 0.2 0.2\n"                 /* 4 not a number */
              "1 nan 0.5 0.2 0.2\n"                 /* 5 NaN */
              "1 0.5 inf 0.2 0.2\n"                 /* 6 inf */
              "3 0.5 0.5 0.2 0.2\n"                 /* 7 class out of range */
              "-1 0.5 0.5 0.2 0.2\n"                /* 8 negative class */
              "1.5 0.5 0.5 0.2 0.2\n"               /* 9 non-integer class */
              "1 1.2 0.5 0.2 0.2\n"                 /* 10 outside [0, 1] */
              "1 0.5 -0.3 0.2 0.2\n"                /* 11 negative coordinate */
              "2 0.5 0.5 0 0.2\n"                   /* 12 zero size */
              "0 0.50 0.5 0.2 0.20\n"               /* 13 duplicate of 1 */
              "2 1.005 0.3 0.1 0.1\n"               /* 14 kept, clipped */
              "\n"                                  /* 15 blank: ignored */
              "2 0.1 0.1 0.3 0.1 0.3 0.4 0.1 0.4\n" /* 16 polygon: kept as its box */
              "1 0.25 0.75 0.1 0.1\r\n");           /* 17 CRLF: kept */
    make_image(at("images/train/bg.png"), 32, 32);  /* no label file: background */
    make_image(at("images/train/empty.png"), 32, 32);
    write_str(at("labels/train/empty.txt"), "");
    make_image(at("images/train/UPPER.JPG"), 24, 24);
    write_str(at("labels/train/UPPER.txt"), "2 0.5 0.5 0.5 0.5\n");
    make_bmp(at("images/train/sub/nested.bmp"), 12, 12);
    write_str(at("labels/train/sub/nested.txt"), "1 0.5 0.5 1 1\n");
    /* a JPEG without its end marker: kept with a note */
    make_image(at("images/train/noeoi.jpg"), 48, 32);
    size_t n;
    unsigned char *b = read_file(at("images/train/noeoi.jpg"), &n);
    write_file(at("images/train/noeoi.jpg"), b, n - 2);
    write_str(at("labels/train/noeoi.txt"), "0 0.5 0.5 0.5 0.5\n");
    /* a JPEG cut in half: corrupt */
    write_file(at("images/train/trunc.jpg"), b, n / 2);
    write_str(at("labels/train/trunc.txt"), "0 0.5 0.5 0.5 0.5\n");
    free(b);
    write_str(at("images/train/text.jpg"), "this is not a JPEG\n");
    write_str(at("images/train/zero.png"), "");
    make_image(at("images/train/tiny.png"), 8, 8);
    write_str(at("images/train/anim.webp"), "RIFF\x10\0\0\0WEBPVP8 ");
    write_str(at("images/train/notes.txt"), "not an image extension: not listed\n");
    write_str(at("images/train/.hidden.jpg"), "hidden: not listed");
    write_str(at("labels/train/orphan.txt"), "0 0.5 0.5 0.1 0.1\n");
    /* val: a list file with ./, bare relative and absolute entries */
    make_image(at("images/val/v1.png"), 20, 20);
    make_image(at("images/val/v2.jpg"), 20, 20);
    make_image(at("images/val/v3.png"), 20, 20);
    for (int i = 1; i <= 3; i++) {
        char rel[64], line[64];
        snprintf(rel, sizeof rel, "labels/val/v%d.txt", i);
        snprintf(line, sizeof line, "%d 0.5 0.5 0.%d 0.%d\n", i - 1, i, i);
        write_str(at(rel), line);
    }
    char list[PATH_MAX * 2];
    snprintf(list, sizeof list, "./images/val/v1.png\nimages/val/v2.jpg\n%s\nREADME.md\n\n",
             at("images/val/v3.png"));
    write_str(at("val.txt"), list);
    write_str(at("images/allbad/bad.jpg"), "nope");
}

typedef struct {
    const char *rel;
    int line;
    const char *reason; /* exact, or a prefix when it ends with '(' */
} expect_problem;

static void check_problems(const ds_split *s, const expect_problem *e, size_t n) {
    CHECK_EQ_INT(s->nproblems, n);
    for (size_t i = 0; i < n && i < s->nproblems; i++) {
        const ds_problem *p = &s->problems[i];
        size_t rl = strlen(e[i].reason);
        int reason_ok = e[i].reason[rl - 1] == '(' ? strncmp(p->reason, e[i].reason, rl) == 0
                                                   : strcmp(p->reason, e[i].reason) == 0;
        CHECK_MSG(strcmp(p->file, at(e[i].rel)) == 0 && p->line == e[i].line && reason_ok,
                  "problem %zu: got %s:%d: %s; expected %s:%d: %s", i, p->file, p->line, p->reason,
                  at(e[i].rel), e[i].line, e[i].reason);
    }
}

static const ds_image *find_image(const ds_split *s, const char *rel) {
    for (size_t i = 0; i < s->nimages; i++)
        if (strcmp(s->images[i].path, at(rel)) == 0) return &s->images[i];
    return NULL;
}

static void check_box(const ds_image *im, size_t k, int cls, double cx, double cy, double w,
                      double h) {
    if (!im || k >= im->nboxes) {
        CHECK_MSG(0, "box %zu missing", k);
        return;
    }
    const ds_box *b = &im->boxes[k];
    CHECK_MSG(b->cls == cls && fabs(b->cx - cx) < 1e-6 && fabs(b->cy - cy) < 1e-6 &&
                  fabs(b->w - w) < 1e-6 && fabs(b->h - h) < 1e-6,
              "%s box %zu: %d %g %g %g %g, expected %d %g %g %g %g", im->path, k, b->cls, b->cx,
              b->cy, b->w, b->h, cls, cx, cy, w, h);
}

static const expect_problem TRAIN_PROBLEMS[] = {
    {"images/train/anim.webp", 0,
     "unsupported image format 'webp' (yoloc reads jpg, jpeg, png, bmp)"},
    {"labels/train/good2.txt", 2, "expected 5 fields (class cx cy w h), got 4"},
    {"labels/train/good2.txt", 3, "expected 5 fields (class cx cy w h), got 6"},
    {"labels/train/good2.txt", 4, "field 1 ('x') is not a number"},
    {"labels/train/good2.txt", 5, "field 2 ('nan') is not finite"},
    {"labels/train/good2.txt", 6, "field 3 ('inf') is not finite"},
    {"labels/train/good2.txt", 7, "class id 3 is out of range [0, 3)"},
    {"labels/train/good2.txt", 8, "class id -1 is out of range [0, 3)"},
    {"labels/train/good2.txt", 9, "class id 1.5 is not an integer"},
    {"labels/train/good2.txt", 10, "cx 1.2 is outside [0, 1]"},
    {"labels/train/good2.txt", 11, "cy -0.3 is outside [0, 1]"},
    {"labels/train/good2.txt", 12, "zero-size box (w 0, h 0.2)"},
    {"labels/train/good2.txt", 13, "duplicate of line 1"},
    {"images/train/noeoi.jpg", 0, "JPEG end marker missing (decoded, kept)"},
    {"images/train/text.jpg", 0, "not an image (content is not JPEG, PNG or BMP)"},
    {"images/train/tiny.png", 0, "image size 8x8 is under 10 pixels"},
    {"images/train/trunc.jpg", 0, "truncated JPEG ("},
    {"images/train/zero.png", 0, "empty file"},
    {"labels/train/orphan.txt", 0, "label file has no image (ignored)"},
};
#define N_TRAIN_PROBLEMS (sizeof TRAIN_PROBLEMS / sizeof TRAIN_PROBLEMS[0])

/* Counts, problems and kept boxes of the fixture (same on every open). */
static void check_fixture(const dataset *ds) {
    CHECK_EQ_INT(ds->nc, 3);
    CHECK_STR(ds->names[2], "gamma");
    CHECK_STR(ds->root, g_root);
    const ds_split *t = dataset_split(ds, "train");
    CHECK(t != NULL);
    if (!t) return;
    CHECK_EQ_INT(t->nimages, 7); /* UPPER, bg, empty, good1, good2, noeoi, sub/nested */
    CHECK_EQ_INT(t->nbackgrounds, 2);
    CHECK_EQ_INT(t->ncorrupt, 5); /* anim.webp, text, tiny, trunc, zero */
    CHECK_EQ_INT(t->nboxes, 9);
    CHECK_EQ_INT(t->ndropped, 12);
    check_problems(t, TRAIN_PROBLEMS, N_TRAIN_PROBLEMS);
    static const char *order[7] = {"images/train/UPPER.JPG",     "images/train/bg.png",
                                   "images/train/empty.png",     "images/train/good1.jpg",
                                   "images/train/good2.png",     "images/train/noeoi.jpg",
                                   "images/train/sub/nested.bmp"};
    for (size_t i = 0; i < 7 && i < t->nimages; i++) CHECK_STR(t->images[i].path, at(order[i]));
    const ds_image *g2 = find_image(t, "images/train/good2.png");
    CHECK(g2 && g2->nboxes == 4 && g2->width == 40 && g2->height == 30);
    CHECK_STR(g2 ? g2->label_path : NULL, at("labels/train/good2.txt"));
    check_box(g2, 0, 0, 0.5, 0.5, 0.2, 0.2);
    check_box(g2, 1, 2, 0.975, 0.3, 0.05, 0.1); /* 1.005 clipped to 1, box clipped to the image */
    check_box(g2, 2, 2, 0.2, 0.25, 0.2, 0.3);   /* polygon */
    check_box(g2, 3, 1, 0.25, 0.75, 0.1, 0.1);
    const ds_image *g1 = find_image(t, "images/train/good1.jpg");
    CHECK(g1 && g1->nboxes == 2 && g1->width == 64 && g1->height == 48);
    check_box(g1, 1, 1, 0.75, 0.75, 0.3, 0.1);
    const ds_image *nb = find_image(t, "images/train/sub/nested.bmp");
    CHECK(nb && nb->nboxes == 1 && nb->width == 12);
    const ds_image *ne = find_image(t, "images/train/noeoi.jpg");
    CHECK(ne && ne->nboxes == 1 && ne->width == 48 && ne->height == 32);
    const ds_image *bg = find_image(t, "images/train/bg.png");
    CHECK(bg && bg->nboxes == 0);
    CHECK_STR(bg ? bg->label_path : NULL, at("labels/train/bg.txt"));
    const ds_split *v = dataset_split(ds, "val");
    CHECK(v && v->nimages == 3 && v->nboxes == 3 && v->nproblems == 0 && v->ncorrupt == 0);
    if (v && v->nimages == 3) {
        CHECK_STR(v->images[1].path, at("images/val/v2.jpg"));
        check_box(&v->images[2], 0, 2, 0.5, 0.5, 0.3, 0.3);
    }
    CHECK(dataset_split(ds, "test") == NULL);
    CHECK(ds->test.name == NULL && ds->test.nimages == 0);
}

static void test_broken(void) {
    dataset ds;
    dataset_options opt = {.use_cache = 0, .quiet = 1};
    status st = dataset_open(&ds, at("data.yaml"), &opt);
    CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
    if (st != YOLOC_OK) return;
    check_fixture(&ds);
    CHECK(ds.train.cache_path == NULL);
    CHECK(access(at("labels/train.yoloc.cache"), F_OK) != 0);
    /* every usable image decodes, at the size the check found */
    for (size_t i = 0; i < ds.train.nimages; i++) {
        image img;
        status ls = dataset_load_image(&ds, &ds.train, i, &img);
        CHECK_MSG(ls == YOLOC_OK && img.w == ds.train.images[i].width, "%s: %s",
                  ds.train.images[i].path, ls ? yoloc_last_error() : "size differs");
        image_free(&img);
    }
    /* the JSON report carries the same facts */
    sbuf s;
    sbuf_init(&s);
    CHECK_EQ_INT(report_build_json(&s, &ds), YOLOC_OK);
    CHECK_CONTAINS(s.buf,
                   "\"train\": {\"images\": 7, \"backgrounds\": 2, \"corrupt\": 5, \"boxes\": 9, "
                   "\"dropped_lines\": 12, \"problems\": [");
    CHECK_CONTAINS(s.buf, "\"line\": 13, \"reason\": \"duplicate of line 1\"}");
    CHECK_CONTAINS(s.buf, "\"usable\": true");
    jdoc doc;
    CHECK_EQ_INT(jdoc_parse(&doc, s.buf, s.len, "report"), YOLOC_OK);
    jdoc_free(&doc);
    sbuf_free(&s);
    CHECK_EQ_INT(report_usable(&ds), 1);
    dataset_close(&ds);
}

static void set_mtime(const char *path, long sec) {
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    utimensat(AT_FDCWD, path, ts, 0);
}

static void test_cache(void) {
    dataset ds;
    dataset_options opt = {.use_cache = 1, .quiet = 1};
    unlink(at("labels/train.yoloc.cache"));
    unlink(at("labels/val.yoloc.cache"));
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 0);
    CHECK_STR(ds.train.cache_path, at("labels/train.yoloc.cache"));
    CHECK_STR(ds.val.cache_path, at("labels/val.yoloc.cache"));
    check_fixture(&ds);
    dataset_close(&ds);
    CHECK(access(at("labels/train.yoloc.cache"), F_OK) == 0);
    /* second open: everything from the cache, same result */
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 12);
    CHECK_EQ_INT(ds.val.ncache_hits, 3);
    check_fixture(&ds);
    dataset_close(&ds);
    /* a label file changed (same size, new mtime): that entry is checked again */
    write_str(at("labels/train/UPPER.txt"), "1 0.5 0.5 0.5 0.5\n");
    set_mtime(at("labels/train/UPPER.txt"), 1700000000);
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 11);
    const ds_image *up = find_image(&ds.train, "images/train/UPPER.JPG");
    CHECK(up && up->nboxes == 1 && up->boxes[0].cls == 1);
    dataset_close(&ds);
    write_str(at("labels/train/UPPER.txt"), "2 0.5 0.5 0.5 0.5\n");
    /* a label file appears for a background image */
    write_str(at("labels/train/bg.txt"), "0 0.5 0.5 0.1 0.1\n");
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 10);
    CHECK_EQ_INT(ds.train.nbackgrounds, 1);
    dataset_close(&ds);
    unlink(at("labels/train/bg.txt"));
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 11); /* bg.png checked again, the rest cached */
    check_fixture(&ds);
    dataset_close(&ds);
    /* a damaged cache is ignored and rewritten */
    size_t n;
    unsigned char *b = read_file(at("labels/train.yoloc.cache"), &n);
    CHECK(b && n > 100);
    if (b && n > 100) {
        b[n / 2] ^= 0x40;
        write_file(at("labels/train.yoloc.cache"), b, n);
    }
    free(b);
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 0);
    check_fixture(&ds);
    dataset_close(&ds);
    write_str(at("labels/train.yoloc.cache"), "YOLOCCHK");
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 0);
    dataset_close(&ds);
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.ncache_hits, 12);
    dataset_close(&ds);
    /* a read-only labels folder: a warning, the dataset still opens */
    unlink(at("labels/train.yoloc.cache"));
    unlink(at("labels/val.yoloc.cache"));
    chmod(at("labels"), 0555);
    CHECK_EQ_INT(dataset_open(&ds, at("data.yaml"), &opt), YOLOC_OK);
    check_fixture(&ds);
    dataset_close(&ds);
    CHECK(access(at("labels/train.yoloc.cache"), F_OK) != 0);
    chmod(at("labels"), 0755);
}

/* data.yaml problems: each error names the key (and the yaml line). */
static void yaml_case(const char *yaml, status want, const char *needle) {
    write_str(at("case.yaml"), yaml);
    dataset ds;
    dataset_options opt = {.use_cache = 0, .quiet = 1};
    status st = dataset_open(&ds, at("case.yaml"), &opt);
    CHECK_MSG(st == want, "yaml [%s]: status %d, expected %d (%s)", yaml, st, want,
              yoloc_last_error());
    if (st == YOLOC_OK) {
        if (needle) CHECK_STR(ds.names[ds.nc - 1], needle);
        dataset_close(&ds);
    } else {
        CHECK_CONTAINS(yoloc_last_error(), needle);
    }
}

static void test_yaml_errors(void) {
    dataset ds;
    CHECK_EQ_INT(dataset_open(&ds, at("nope.yaml"), NULL), YOLOC_ERR_IO);
    CHECK_CONTAINS(yoloc_last_error(), "nope.yaml");
    CHECK_EQ_INT(dataset_open(&ds, g_root, NULL), YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "is a folder");
    yaml_case("train: images/nowhere\nval: images/val\nnames: [a]\n", YOLOC_ERR_NOT_FOUND,
              "case.yaml:1:8: key 'train': 'images/nowhere' does not exist");
    yaml_case("train: images/train\nval: images/empty\nnames: [a, b, c]\n", YOLOC_ERR_NOT_FOUND,
              "case.yaml:2:6: key 'val': no images found");
    yaml_case("train: images/train\nnames: [a, b, c]\n", YOLOC_ERR_INVALID,
              "key 'val' is required");
    yaml_case("train: images/train\nval: images/val\nnc: 4\nnames: [a, b, c]\n", YOLOC_ERR_INVALID,
              "case.yaml:3:5: nc 4 does not match the 3 names");
    yaml_case("train: images/train\nval: images/val\nnames: {0: a, 2: c}\n", YOLOC_ERR_INVALID,
              "class id '2' is not in 0..1");
    yaml_case("train: images/train\nval: images/val\n", YOLOC_ERR_INVALID,
              "key 'names' (or 'nc') is required");
    yaml_case("path: missing_dir\ntrain: images/train\nval: images/val\nnames: [a]\n",
              YOLOC_ERR_NOT_FOUND, "case.yaml:1:7: key 'path': folder");
    yaml_case("train: images/train\nval: {a: 1}\nnames: [a]\n", YOLOC_ERR_INVALID,
              "key 'val': expected a path or a list of paths");
    /* good variants: map names out of order, nc only, no path, split lists */
    yaml_case("train: images/train\nval: images/val\nnames: {2: c, 0: a, 1: b}\n", YOLOC_OK, "c");
    yaml_case("train: images/train\nval: images/val\nnc: 3\n", YOLOC_OK, "class_2");
    write_str(at("case.yaml"), "train: [images/train, images/val]\nval: images/allbad\ntest: "
                               "../images/val\nnames: [a, b, c]\n");
    dataset_options opt = {.use_cache = 0, .quiet = 1};
    CHECK_EQ_INT(dataset_open(&ds, at("case.yaml"), &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.train.nimages, 10);
    CHECK_EQ_INT(ds.val.nimages, 0); /* opens, but nothing usable */
    CHECK_EQ_INT(ds.val.ncorrupt, 1);
    CHECK_EQ_INT(ds.test.nimages, 3); /* "../" fallback, as Ultralytics */
    CHECK_EQ_INT(report_usable(&ds), 0);
    dataset_close(&ds);
}

static void test_shared(void) {
    char buf[PATH_MAX];
    const char *coco = test_shared_data("coco128/data.yaml", buf, sizeof buf);
    if (!coco) return;
    dataset ds;
    /* no check cache: nothing is written into ../shared, whether or not its
     * folders are writable on this machine (the read-only case is test_cache's) */
    dataset_options opt = {.use_cache = 0, .quiet = 1};
    CHECK_EQ_INT(dataset_open(&ds, coco, &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.nc, 80);
    CHECK_EQ_INT(ds.train.nimages, 128);
    CHECK_EQ_INT(ds.train.nboxes, 929);
    CHECK_EQ_INT(ds.train.nbackgrounds, 2);
    CHECK_EQ_INT(ds.train.ncorrupt, 0);
    CHECK_EQ_INT(ds.val.nimages, 128);
    CHECK_EQ_INT(ds.val.nboxes, 898);
    CHECK_EQ_INT(ds.train.nproblems + ds.val.nproblems, 0);
    dataset_close(&ds);
    const char *ro = test_shared_data("coco128/labels/train.yoloc.cache", buf, sizeof buf);
    CHECK_MSG(ro == NULL, "a cache file was written into ../shared/data with use_cache = 0");
    const char *bccd = test_shared_data("bccd/data.yaml", buf, sizeof buf);
    CHECK(bccd != NULL);
    if (!bccd) return;
    CHECK_EQ_INT(dataset_open(&ds, bccd, &opt), YOLOC_OK);
    CHECK_EQ_INT(ds.nc, 3);
    CHECK_EQ_INT(ds.train.nimages, 205);
    CHECK_EQ_INT(ds.val.nimages, 87);
    CHECK_EQ_INT(ds.test.nimages, 72);
    CHECK_EQ_INT(ds.train.nboxes + ds.val.nboxes + ds.test.nboxes, 4886);
    CHECK_EQ_INT(ds.train.ncorrupt + ds.val.ncorrupt + ds.test.ncorrupt, 0);
    printf("bccd boxes: train %zu, val %zu, test %zu\n", ds.train.nboxes, ds.val.nboxes,
           ds.test.nboxes);
    dataset_close(&ds);
}

int main(void) {
    char tmpl[] = "/tmp/yoloc_test_dataset_XXXXXX";
    if (!mkdtemp(tmpl) || !realpath(tmpl, g_root)) {
        perror("mkdtemp");
        return 1;
    }
    log_set_level(LOG_ERROR); /* the warnings are what the checks look at */
    build_fixture();
    test_broken();
    test_cache();
    test_yaml_errors();
    char buf[PATH_MAX];
    int have_shared = test_shared_data("coco128/data.yaml", buf, sizeof buf) != NULL;
    if (have_shared) test_shared();
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_root);
    if (!have_shared && test_failures_ == 0)
        TEST_SKIP(
            "../shared/data is absent: coco128/bccd counts not checked (%d fixture checks passed)",
            test_checks_);
    return test_finish("test_dataset");
}
