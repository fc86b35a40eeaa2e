/* yoloc train key=value ... (see `yoloc help` for the keys) */
#include "cli/commands.h"
#include "train/config.h"
#include "train/trainer.h"

int cmd_train(int argc, char **argv) {
    config c;
    kv_args a;
    status st = config_init(&c);
    if (st == YOLOC_OK) st = kv_parse(&a, argc, argv);
    if (st == YOLOC_OK) st = config_apply_args(&c, &a);
    if (st == YOLOC_OK) st = train_run(&c, NULL, 0);
    config_free(&c);
    return st < 0 ? cli_fail(st) : 0;
}
