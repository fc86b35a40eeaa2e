/* YAML tree: a yolov8-style model YAML and a data.yaml (three spellings of
 * `names`) checked for structure, values and line:col positions; plain,
 * multi-line, quoted and block scalars; null detection; the typed getters
 * and their messages; each error kind with its exact "file:line:col:"
 * prefix; empty documents; loading from a file. */
#include "harness.h"
#include "io/yaml.h"

#include <string.h>
#include <unistd.h>

static const char *MODEL_YAML =
    "# Ultralytics YOLOv8 object detection model with P3-P5 outputs\n" /* 1 */
    "\n"                                                               /* 2 */
    "# Parameters\n"                                                   /* 3 */
    "nc: 80  # number of classes\n"                                    /* 4 */
    "scales: # model compound scaling constants\n"                     /* 5 */
    "  # [depth, width, max_channels]\n"                               /* 6 */
    "  n: [0.33, 0.25, 1024]  # YOLOv8n summary\n"                     /* 7 */
    "  s: [0.33, 0.50, 1024]\n"                                        /* 8 */
    "\n"                                                               /* 9 */
    "# YOLOv8.0n backbone\n"                                           /* 10 */
    "backbone:\n"                                                      /* 11 */
    "  # [from, repeats, module, args]\n"                              /* 12 */
    "  - [-1, 1, Conv, [64, 3, 2]]  # 0-P1/2\n"                        /* 13 */
    "  - [-1, 1, Conv, [128, 3, 2]] # 1-P2/4\n"                        /* 14 */
    "  - [-1, 3, C2f, [128, True]]\n"                                  /* 15 */
    "  - [-1, 1, SPPF, [1024, 5]]  # 3\n"                              /* 16 */
    "\n"                                                               /* 17 */
    "# YOLOv8.0n head\n"                                               /* 18 */
    "head:\n"                                                          /* 19 */
    "  - [-1, 1, nn.Upsample, [None, 2, 'nearest']]\n"                 /* 20 */
    "  - [[-1, 2], 1, Concat, [1]]  # cat backbone P4\n"               /* 21 */
    "  - [[15, 18, 21], 1, Detect, [nc]]  # Detect(P3, P4, P5)\n";     /* 22 */

static const ynode *item(const ynode *n, size_t i) {
    return n && n->kind == YNODE_SEQ && i < n->n ? n->items[i] : NULL;
}
static const char *str(const ynode *n) {
    return n && n->kind == YNODE_SCALAR ? n->str : "(not a scalar)";
}

static void test_model_yaml(void) {
    ydoc d;
    CHECK_EQ_INT(ydoc_load_string(&d, MODEL_YAML, strlen(MODEL_YAML), "models/yolov8.yaml"),
                 YOLOC_OK);
    const ynode *r = d.root;
    CHECK(r && r->kind == YNODE_MAP && r->n == 4);
    if (!r || r->n != 4) {
        ydoc_free(&d);
        return;
    }
    CHECK_STR(d.name, "models/yolov8.yaml");
    CHECK_STR(r->keys[0], "nc");
    CHECK_STR(r->keys[1], "scales");
    CHECK_STR(r->keys[2], "backbone");
    CHECK_STR(r->keys[3], "head");
    CHECK_EQ_INT(r->key_lines[0], 4);
    CHECK_EQ_INT(r->key_lines[2], 11);
    CHECK_EQ_INT(r->key_lines[3], 19);

    long nc = 0;
    const ynode *ncn = ynode_get(r, "nc");
    CHECK_EQ_INT(ynode_int(&d, ncn, "nc", &nc), YOLOC_OK);
    CHECK_EQ_INT(nc, 80);
    CHECK(ncn && ncn->line == 4 && ncn->col == 5 && !ncn->quoted);

    const ynode *n = ynode_get(ynode_get(r, "scales"), "n");
    CHECK(n && n->kind == YNODE_SEQ && n->n == 3 && n->line == 7 && n->col == 6);
    double w = 0;
    CHECK_EQ_INT(ynode_double(&d, item(n, 1), "width", &w), YOLOC_OK);
    CHECK_NEAR(w, 0.25, 0);
    long maxc = 0;
    CHECK_EQ_INT(ynode_int(&d, item(n, 2), "max_channels", &maxc), YOLOC_OK);
    CHECK_EQ_INT(maxc, 1024);

    const ynode *bb = ynode_get(r, "backbone");
    CHECK(bb && bb->kind == YNODE_SEQ && bb->n == 4);
    const ynode *l0 = item(bb, 0);
    CHECK(l0 && l0->kind == YNODE_SEQ && l0->n == 4 && l0->line == 13 && l0->col == 5);
    long from = 0;
    CHECK_EQ_INT(ynode_int(&d, item(l0, 0), "from", &from), YOLOC_OK);
    CHECK_EQ_INT(from, -1);
    CHECK_STR(str(item(l0, 2)), "Conv");
    CHECK_EQ_INT(item(l0, 2)->col, 13);
    const ynode *args = item(l0, 3);
    CHECK(args && args->kind == YNODE_SEQ && args->n == 3);
    CHECK_STR(str(item(args, 0)), "64");
    CHECK_EQ_INT(item(args, 0)->line, 13);
    CHECK_EQ_INT(item(args, 0)->col, 20);
    int b = 0;
    CHECK_EQ_INT(ynode_bool(&d, item(item(item(bb, 2), 3), 1), "shortcut", &b), YOLOC_OK);
    CHECK_EQ_INT(b, 1);
    CHECK_EQ_INT(item(bb, 3)->line, 16);

    const ynode *head = ynode_get(r, "head");
    CHECK(head && head->n == 3);
    const ynode *up = item(item(head, 0), 3);
    CHECK_STR(str(item(up, 0)), "None"); /* a Python None stays text; null only for null/~/empty */
    CHECK(!ynode_is_null(item(up, 0)));
    CHECK_STR(str(item(up, 2)), "nearest");
    CHECK(item(up, 2)->quoted);
    const ynode *cat_from = item(item(head, 1), 0);
    CHECK(cat_from && cat_from->kind == YNODE_SEQ && cat_from->n == 2 && cat_from->line == 21);
    const ynode *det = item(head, 2);
    CHECK_EQ_INT(item(det, 0)->n, 3);
    CHECK_STR(str(item(item(det, 3), 0)), "nc");
    CHECK_STR(str(item(det, 2)), "Detect");
    CHECK_EQ_INT(item(det, 2)->line, 22);
    CHECK_EQ_INT(item(det, 2)->col, 23);
    ydoc_free(&d);
    CHECK(d.root == NULL && d.pool == NULL);
}

static const char *DATA_YAML = "# COCO8 dataset\n"                              /* 1 */
                               "path: ../datasets/coco8  # dataset root dir\n"  /* 2 */
                               "train: images/train  # train images\n"          /* 3 */
                               "val: images/val\n"                              /* 4 */
                               "test:  # test images (optional)\n"              /* 5 */
                               "\n"                                             /* 6 */
                               "# Classes\n"                                    /* 7 */
                               "names:\n"                                       /* 8 */
                               "  0: person\n"                                  /* 9 */
                               "  1: bicycle\n"                                 /* 10 */
                               "  2: \"traffic light\"\n"                       /* 11 */
                               "  3: 'fire hydrant'\n"                          /* 12 */
                               "\n"                                             /* 13 */
                               "desc: a long\n"                                 /* 14 */
                               "  plain value\n"                                /* 15 */
                               "script: |\n"                                    /* 16 */
                               "  from pathlib import Path\n"                   /* 17 */
                               "  print(1)\n"                                   /* 18 */
                               "folded: >\n"                                    /* 19 */
                               "  one\n"                                        /* 20 */
                               "  two\n"                                        /* 21 */
                               "nulls: [~, null, Null, '', \"null\", x]\n"      /* 22 */
                               "download: https://ultralytics.com/coco8.zip\n"; /* 23 */

static void test_data_yaml(void) {
    ydoc d;
    CHECK_EQ_INT(ydoc_load_string(&d, DATA_YAML, strlen(DATA_YAML), "coco8.yaml"), YOLOC_OK);
    const ynode *r = d.root;
    CHECK(r && r->kind == YNODE_MAP && r->n == 10);
    if (!r) return;
    CHECK_STR(str(ynode_get(r, "path")), "../datasets/coco8");
    CHECK_STR(str(ynode_get(r, "train")), "images/train");
    const ynode *test = ynode_get(r, "test");
    CHECK(test && test->kind == YNODE_SCALAR && ynode_is_null(test) && strcmp(test->str, "") == 0);
    const ynode *names = ynode_get(r, "names");
    CHECK(names && names->kind == YNODE_MAP && names->n == 4);
    if (names && names->n == 4) {
        CHECK_STR(names->keys[0], "0");
        CHECK_STR(names->keys[3], "3");
        CHECK_EQ_INT(names->key_lines[2], 11);
        CHECK_STR(str(names->items[2]), "traffic light");
        CHECK(names->items[2]->quoted && names->items[2]->line == 11 && names->items[2]->col == 6);
        CHECK_STR(str(names->items[3]), "fire hydrant");
    }
    CHECK_STR(str(ynode_get(r, "desc")), "a long plain value");
    CHECK_STR(str(ynode_get(r, "script")), "from pathlib import Path\nprint(1)\n");
    CHECK_STR(str(ynode_get(r, "folded")), "one two\n");
    const ynode *nulls = ynode_get(r, "nulls");
    int want[6] = {1, 1, 1, 0, 0, 0}; /* quoted '' and "null" are strings */
    for (size_t i = 0; i < 6; i++)
        CHECK_MSG(ynode_is_null(item(nulls, i)) == want[i], "nulls[%zu]", i);
    CHECK(!ynode_is_null(NULL) && !ynode_is_null(names));
    CHECK(ynode_get(r, "missing") == NULL);
    CHECK(ynode_get(names, "person") == NULL);
    CHECK(ynode_get(nulls, "x") == NULL); /* not a map */
    ydoc_free(&d);

    /* names as a flow mapping and as a list */
    const char *flow = "nc: 2\nnames: {0: person, 1: bicycle}\n";
    CHECK_EQ_INT(ydoc_load_string(&d, flow, strlen(flow), "flow.yaml"), YOLOC_OK);
    names = ynode_get(d.root, "names");
    CHECK(names && names->kind == YNODE_MAP && names->n == 2 && names->line == 2 &&
          names->col == 8);
    CHECK_STR(str(ynode_get(names, "1")), "bicycle");
    ydoc_free(&d);
    const char *list = "names: ['person', bicycle, \"car\"]\n";
    CHECK_EQ_INT(ydoc_load_string(&d, list, strlen(list), "list.yaml"), YOLOC_OK);
    names = ynode_get(d.root, "names");
    CHECK(names && names->kind == YNODE_SEQ && names->n == 3);
    CHECK_STR(str(item(names, 2)), "car");
    ydoc_free(&d);
}

static void expect_error(const char *text, int want_st, const char *want_msg) {
    ydoc d;
    status st = ydoc_load_string(&d, text, strlen(text), "t.yaml");
    CHECK_MSG(st == want_st, "input '%s': status %d, want %d", text, st, want_st);
    CHECK_STR(yoloc_last_error(), want_msg);
    CHECK(d.root == NULL && d.pool == NULL);
    ydoc_free(&d);
}

static void test_errors(void) {
    /* libyaml's own errors, with its context */
    expect_error(
        "a: [1, 2\nb: 3\n", YOLOC_ERR_PARSE,
        "t.yaml:2:2: did not find expected ',' or ']' (while parsing a flow sequence at line 1)");
    expect_error("a: 1\n b: 2\n", YOLOC_ERR_PARSE,
                 "t.yaml:2:3: mapping values are not allowed in this context");
    expect_error(
        "a: 'x\n", YOLOC_ERR_PARSE,
        "t.yaml:2:1: found unexpected end of stream (while scanning a quoted scalar at line 1)");
    expect_error("- a\nb: c\n", YOLOC_ERR_PARSE,
                 "t.yaml:2:1: did not find expected '-' indicator (while parsing a block "
                 "collection at line 1)");
    /* reader errors: position counted from the byte offset */
    expect_error("a: 1\nb: \xff\n", YOLOC_ERR_PARSE,
                 "t.yaml:2:4: invalid leading UTF-8 octet (byte 0xff)");
    expect_error("a: \x01\n", YOLOC_ERR_PARSE,
                 "t.yaml:1:4: control characters are not allowed (byte 0x01)");
    /* ours */
    expect_error("a: &x 1\nb: 2\n", YOLOC_ERR_PARSE, "t.yaml:1:4: anchors are not supported (&x)");
    expect_error("base: &b {x: 1}\n", YOLOC_ERR_PARSE,
                 "t.yaml:1:7: anchors are not supported (&b)");
    expect_error("a: 1\nb: *x\n", YOLOC_ERR_PARSE, "t.yaml:2:4: aliases are not supported (*x)");
    expect_error("? [a, b]\n: c\n", YOLOC_ERR_PARSE,
                 "t.yaml:1:3: a mapping key must be a scalar, got a sequence");
    expect_error("{{a: 1}: 1}\n", YOLOC_ERR_PARSE,
                 "t.yaml:1:2: a mapping key must be a scalar, got a mapping");
    expect_error("nc: 1\nx: 2\nnc: 3\n", YOLOC_ERR_PARSE,
                 "t.yaml:3:1: duplicate key 'nc' (first at line 1)");
    expect_error("a:\n  k: 1\n  j: 0\n  k: 2\n  k: 3\n", YOLOC_ERR_PARSE,
                 "t.yaml:4:3: duplicate key 'k' (first at line 2)");
    expect_error("names: {0: a, 1: b, 0: c}\n", YOLOC_ERR_PARSE,
                 "t.yaml:1:21: duplicate key '0' (first at line 1)");

    /* nesting limit: 256 flow levels load, 257 do not */
    char deep[1200];
    for (int depth = 256; depth <= 257; depth++) {
        memset(deep, '[', (size_t)depth);
        memset(deep + depth, ']', (size_t)depth);
        deep[2 * depth] = 0;
        ydoc d;
        status st = ydoc_load_string(&d, deep, strlen(deep), "deep.yaml");
        if (depth == 256)
            CHECK_MSG(st == YOLOC_OK, "%s", yoloc_last_error());
        else
            CHECK_STR(yoloc_last_error(), "deep.yaml:1:257: nesting deeper than 256 levels");
        ydoc_free(&d);
    }
}

static void test_empty(void) {
    const char *empties[] = {"", "# only a comment\n", "---\n", "\n\n   \n", "--- # c\n...\n"};
    for (size_t i = 0; i < sizeof empties / sizeof *empties; i++) {
        ydoc d;
        CHECK_EQ_INT(ydoc_load_string(&d, empties[i], strlen(empties[i]), "e.yaml"), YOLOC_OK);
        CHECK_MSG(d.root == NULL, "empty document %zu has a root", i);
        CHECK_STR(d.name, "e.yaml");
        ydoc_free(&d);
    }
    /* a document that is just "~" or a scalar is not empty */
    ydoc d;
    CHECK_EQ_INT(ydoc_load_string(&d, "~\n", 2, "e.yaml"), YOLOC_OK);
    CHECK(d.root && ynode_is_null(d.root));
    ydoc_free(&d);
    /* empty collections as the root */
    CHECK_EQ_INT(ydoc_load_string(&d, "{}", 2, "e.yaml"), YOLOC_OK);
    CHECK(d.root && d.root->kind == YNODE_MAP && d.root->n == 0 && d.root->keys == NULL);
    ydoc_free(&d);
    CHECK_EQ_INT(ydoc_load_string(&d, "[]", 2, "e.yaml"), YOLOC_OK);
    CHECK(d.root && d.root->kind == YNODE_SEQ && d.root->n == 0);
    ydoc_free(&d);
    /* only the first document is read */
    const char *two = "a: 1\n---\nb: [\n";
    CHECK_EQ_INT(ydoc_load_string(&d, two, strlen(two), "two.yaml"), YOLOC_OK);
    CHECK(d.root && ynode_get(d.root, "a") != NULL);
    ydoc_free(&d);
}

static void test_getters(void) {
    const char *text = "nc: eighty\n"                        /* 1 */
                       "lr0: 0.01\n"                         /* 2 */
                       "lrf: 1e-2\n"                         /* 3 */
                       "big: .inf\n"                         /* 4 */
                       "neg: -.Inf\n"                        /* 5 */
                       "nan: .nan\n"                         /* 6 */
                       "epochs: 300.0\n"                     /* 7 */
                       "half: 2.5\n"                         /* 8 */
                       "flags: [yes, off, True, 0, maybe]\n" /* 9 */
                       "list: [1, 2]\n"                      /* 10 */
                       "map: {a: 1}\n"                       /* 11 */
                       "quoted: '42'\n"                      /* 12 */
                       "space: ' 42'\n"                      /* 13 */
                       "huge: 99999999999999999999\n"        /* 14 */
                       "hexy: 0x10\n";                       /* 15 */
    ydoc d;
    CHECK_EQ_INT(ydoc_load_string(&d, text, strlen(text), "models/x.yaml"), YOLOC_OK);
    const ynode *r = d.root;
    long l = 7;
    double x = 0;
    int b = -1;
    const char *s = NULL;

    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "nc"), "nc", &l), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:1:5: nc: expected an integer, got 'eighty'");
    CHECK_EQ_INT(l, 7); /* untouched on error */
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "lr0"), "lr0", &x), YOLOC_OK);
    CHECK_NEAR(x, 0.01, 0);
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "lrf"), "lrf", &x), YOLOC_OK);
    CHECK_NEAR(x, 0.01, 0);
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "big"), "big", &x), YOLOC_OK);
    CHECK(isinf(x) && x > 0);
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "neg"), "neg", &x), YOLOC_OK);
    CHECK(isinf(x) && x < 0);
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "nan"), "nan", &x), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:6:6: nan: expected a number, got '.nan'");
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "epochs"), "epochs", &l), YOLOC_OK);
    CHECK_EQ_INT(l, 300);
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "half"), "half", &l), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:8:7: half: expected an integer, got '2.5'");
    CHECK_EQ_INT(ynode_double(&d, ynode_get(r, "half"), "half", &x), YOLOC_OK);
    CHECK_NEAR(x, 2.5, 0);

    const ynode *flags = ynode_get(r, "flags");
    int want[4] = {1, 0, 1, 0};
    for (size_t i = 0; i < 4; i++) {
        CHECK_EQ_INT(ynode_bool(&d, item(flags, i), "flag", &b), YOLOC_OK);
        CHECK_EQ_INT(b, want[i]);
    }
    CHECK_EQ_INT(ynode_bool(&d, item(flags, 4), "amp", &b), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:9:28: amp: expected true or false, got 'maybe'");

    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "list"), "depth", &l), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:10:7: depth: expected an integer, got a sequence");
    CHECK_EQ_INT(ynode_str(&d, ynode_get(r, "map"), "name", &s), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:11:6: name: expected a string, got a mapping");
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "absent"), "imgsz", &l), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml: imgsz: expected an integer, got nothing");
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "quoted"), "q", &l),
                 YOLOC_OK); /* quoted digits still convert */
    CHECK_EQ_INT(l, 42);
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "space"), "sp", &l), YOLOC_ERR_INVALID);
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "huge"), "huge", &l), YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(),
              "models/x.yaml:14:7: huge: expected an integer, got '99999999999999999999'");
    CHECK_EQ_INT(ynode_int(&d, ynode_get(r, "hexy"), "hexy", &l),
                 YOLOC_OK); /* 16, as PyYAML reads it */
    CHECK_EQ_INT(l, 16);
    CHECK_EQ_INT(ynode_str(&d, ynode_get(r, "nc"), "nc", &s), YOLOC_OK);
    CHECK_STR(s, "eighty");

    CHECK_EQ_INT(ynode_error(&d, ynode_get(r, "lr0"), YOLOC_ERR_INVALID, "lr0 %s %d", "too", 3),
                 YOLOC_ERR_INVALID);
    CHECK_STR(yoloc_last_error(), "models/x.yaml:2:6: lr0 too 3");
    CHECK_EQ_INT(ynode_error(&d, NULL, YOLOC_ERR_NOT_FOUND, "no 'backbone'"), YOLOC_ERR_NOT_FOUND);
    CHECK_STR(yoloc_last_error(), "models/x.yaml: no 'backbone'");
    ydoc_free(&d);
}

static void test_file(void) {
    char dir[] = "/tmp/yoloc_test_yaml_XXXXXX";
    if (!mkdtemp(dir)) TEST_SKIP("cannot create a temporary folder");
    char path[128];
    snprintf(path, sizeof path, "%s/m.yaml", dir);
    FILE *f = fopen(path, "w");
    fputs(MODEL_YAML, f);
    fclose(f);
    ydoc d;
    CHECK_EQ_INT(ydoc_load_file(&d, path), YOLOC_OK);
    CHECK_STR(d.name, path);
    CHECK(d.root && ynode_get(d.root, "head") != NULL);
    long nc;
    CHECK_EQ_INT(ynode_int(&d, ynode_get(d.root, "backbone"), "nc", &nc), YOLOC_ERR_INVALID);
    char want[256];
    /* the block sequence starts at its first '-', line 13 */
    snprintf(want, sizeof want, "%s:13:3: nc: expected an integer, got a sequence", path);
    CHECK_STR(yoloc_last_error(), want);
    ydoc_free(&d);

    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    f = fopen(path, "w");
    fputs("a: 1\nb: [\n", f);
    fclose(f);
    CHECK_EQ_INT(ydoc_load_file(&d, path), YOLOC_ERR_PARSE);
    snprintf(want, sizeof want,
             "%s:3:1: did not find expected node content (while parsing a flow node at line 3)",
             path);
    CHECK_STR(yoloc_last_error(), want);

    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    CHECK_EQ_INT(ydoc_load_file(&d, path), YOLOC_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    CHECK_STR(yoloc_last_error(), want);
    CHECK_EQ_INT(ydoc_load_file(&d, dir), YOLOC_ERR_IO);
    snprintf(want, sizeof want, "%s: cannot read: Is a directory", dir);
    CHECK_STR(yoloc_last_error(), want);

    unlink(path);
    snprintf(path, sizeof path, "%s/m.yaml", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/bad.yaml", dir);
    unlink(path);
    rmdir(dir);
}

int main(void) {
    test_model_yaml();
    test_data_yaml();
    test_errors();
    test_empty();
    test_getters();
    test_file();
    return test_finish("test_yaml");
}
