/* yoloc info model=yolov8n.yaml [imgsz=640] [nc=80] */
#include "cli/commands.h"
#include "core/kv.h"
#include "nn/model.h"
#include "train/weights.h"

#include <stdio.h>

int cmd_info(int argc, char **argv) {
    static const char *const keys[] = {"model", "imgsz", "nc", NULL};
    kv_args a;
    const char *mname = "yolov8n.yaml";
    long imgsz = 640, nc = 0;
    status st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = kv_str(&a, "model", NULL, &mname);
    if (st == YOLOC_OK) st = kv_int(&a, "imgsz", 32, 8192, &imgsz);
    if (st == YOLOC_OK) st = kv_int(&a, "nc", 1, 100000, &nc);
    if (st == YOLOC_OK) st = kv_unused(&a, "info", keys);
    if (st < 0) return cli_fail(st);
    model_spec spec;
    if ((st = weights_model_spec(mname, (int)nc, &spec)) < 0) return cli_fail(st);
    model_options opt = {.be = NULL /* the default: nothing runs */, .norm = NORM_BN, .gn_groups = 32};
    model *m = NULL;
    st = model_create(&m, &spec, &opt, 0);
    model_spec_free(&spec);
    if (st < 0) return cli_fail(st);
    st = model_print_info(m, stdout, (int)imgsz);
    model_free(m);
    return st < 0 ? cli_fail(st) : 0;
}
