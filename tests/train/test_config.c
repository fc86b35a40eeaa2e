/* The option table: defaults (Ultralytics' where the key exists), typed
 * parsing with messages naming the key, cfg= YAML files with file:line
 * errors, precedence (defaults < cfg < command line), args.yaml round trip. */
#include "harness.h"
#include "ops/backend.h"
#include "train/config.h"

#include <stdlib.h>
#include <unistd.h>

static void test_defaults(void) {
    config c;
    CHECK(config_init(&c) == YOLOC_OK);
    CHECK_EQ_INT(c.epochs, 100);
    CHECK_NEAR(c.batch, 16, 0);
    CHECK_EQ_INT(c.nbs, 64);
    CHECK_NEAR(c.lr0, 0.01, 0);
    CHECK_NEAR(c.lrf, 0.01, 0);
    CHECK_NEAR(c.momentum, 0.937, 0);
    CHECK_NEAR(c.weight_decay, 0.0005, 0);
    CHECK_NEAR(c.warmup_epochs, 3.0, 0);
    CHECK_NEAR(c.warmup_momentum, 0.8, 0);
    CHECK_NEAR(c.warmup_bias_lr, 0.1, 0);
    CHECK_NEAR(c.box, 7.5, 0);
    CHECK_NEAR(c.cls, 0.5, 0);
    CHECK_NEAR(c.dfl, 1.5, 0);
    CHECK_NEAR(c.hsv_s, 0.7, 0);
    CHECK_NEAR(c.fliplr, 0.5, 0);
    CHECK_EQ_INT(c.close_mosaic, 10);
    CHECK_EQ_INT(c.imgsz, 640);
    CHECK_STR(c.optimizer, "auto");
    CHECK_EQ_INT(c.given.lr0, 0);
    config_free(&c);
}

static void test_set(void) {
    config c;
    config_init(&c);
    CHECK(config_set(&c, "lr0", "0.02", NULL) == YOLOC_OK && c.lr0 == 0.02 && c.given.lr0);
    CHECK(config_set(&c, "optimizer", "sgd", NULL) == YOLOC_OK);
    CHECK_STR(c.optimizer, "SGD"); /* canonical spelling */
    CHECK(config_set(&c, "cos_lr", "true", NULL) == YOLOC_OK && c.cos_lr == 1);
    CHECK(config_set(&c, "epochs", "ten", NULL) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "key 'epochs': expected an integer");
    CHECK(config_set(&c, "lr0", "-1", "command line") == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "command line: key 'lr0'");
    CHECK(config_set(&c, "optimizer", "Lion", NULL) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "SGD,Adam,AdamW,auto");
    CHECK(config_set(&c, "lr_0", "0.1", NULL) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "did you mean 'lr0'");
    CHECK(config_set(&c, "val", "maybe", NULL) == YOLOC_ERR_INVALID);
    config_free(&c);
}

static void test_yaml_and_precedence(void) {
    char path[] = "/tmp/yoloc_cfg_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "# hyperparameters\nlr0: 0.005\nepochs: 30\nname: 'my run'\nmixup: ~\n");
    fclose(f);
    config c;
    config_init(&c);
    char k0[64], k1[] = "epochs=40";
    snprintf(k0, sizeof k0, "cfg=%s", path);
    char *argv[] = {k0, k1};
    kv_args a;
    CHECK(kv_parse(&a, 2, argv) == YOLOC_OK);
    CHECK(config_apply_args(&c, &a) == YOLOC_OK);
    CHECK_NEAR(c.lr0, 0.005, 0);   /* from the file */
    CHECK_EQ_INT(c.epochs, 40);    /* the command line wins */
    CHECK_STR(c.name, "my run");
    CHECK_NEAR(c.mixup, 0.0, 0);   /* null keeps the default */
    config_free(&c);

    f = fopen(path, "w");
    fprintf(f, "lr0: 0.005\n\nmomentum: high\n");
    fclose(f);
    config_init(&c);
    CHECK(config_load_yaml(&c, path) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), ":3: key 'momentum'");
    config_free(&c);
    f = fopen(path, "w");
    fprintf(f, "lr0: 0.005\nwarmup_epoch: 2\n");
    fclose(f);
    config_init(&c);
    CHECK(config_load_yaml(&c, path) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), ":2: unknown key 'warmup_epoch' (did you mean 'warmup_epochs'");
    config_free(&c);

    /* args.yaml written by one run loads back into the same values */
    config_init(&c);
    config_set(&c, "lr0", "0.0123", NULL);
    config_set(&c, "name", "a: b # c", NULL);
    config_set(&c, "sched", "linear", NULL);
    f = fopen(path, "w");
    config_write_yaml(&c, f);
    fclose(f);
    config d;
    config_init(&d);
    CHECK(config_load_yaml(&d, path) == YOLOC_OK);
    CHECK_NEAR(d.lr0, 0.0123, 0);
    CHECK_STR(d.name, "a: b # c");
    CHECK_STR(d.sched, "linear");
    config_free(&c);
    config_free(&d);
    unlink(path);
}

/* device= as Ultralytics spells it, and backend=: checked when set, and
 * together by config_backend. */
static void test_device(void) {
    config c;
    config_init(&c);
    backend be = NULL;
    CHECK_STR(c.device, "cpu");
    CHECK(config_backend(&c, &be) == YOLOC_OK && be && strcmp(be->name, "cpu") == 0);
    CHECK(config_set(&c, "backend", "ref", NULL) == YOLOC_OK);
    CHECK(config_backend(&c, &be) == YOLOC_OK && be && strcmp(be->name, "ref") == 0);
    CHECK(config_set(&c, "backend", "cuda", "command line") == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "command line: key 'backend': 'cuda' is not a backend built in (built in: ref, cpu)");
    int gpu = 0;
    for (const ops_backend *const *b = backend_list(); *b; b++) gpu |= (*b)->gpu;
    if (!gpu) { /* this build: a GPU device is a clear error naming what is built in */
        CHECK(config_set(&c, "device", "0", "command line") == YOLOC_ERR_INVALID);
        CHECK_CONTAINS(yoloc_last_error(), "command line: key 'device': device=0 asks for a GPU");
        CHECK_CONTAINS(yoloc_last_error(), "built in: ref, cpu");
        CHECK(config_set(&c, "device", "cuda:0,1", NULL) == YOLOC_ERR_INVALID);
    }
    CHECK(config_set(&c, "device", "tpu", NULL) == YOLOC_ERR_INVALID);
    CHECK_CONTAINS(yoloc_last_error(), "'tpu' is not a device");
    CHECK(config_set(&c, "device", "CPU", NULL) == YOLOC_OK);
    CHECK(config_backend(&c, &be) == YOLOC_OK && be && strcmp(be->name, "ref") == 0);
    config_free(&c);
}

int main(void) {
    test_defaults();
    test_device();
    test_set();
    test_yaml_and_precedence();
    return test_finish("test_config");
}
