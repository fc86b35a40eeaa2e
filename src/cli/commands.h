/* The command registry: X(name, summary). Each command is
 * `int cmd_<name>(int argc, char **argv)` in src/cli/cmd_<name>.c, taking the
 * key=value tokens after the command word and returning the exit status.
 * A two-word command ("yoloc data check") is registered as data_check.
 * Add a line only once the command's function and everything it calls exist
 * (the binary must always link). */
#ifndef YOLOC_CLI_COMMANDS_H
#define YOLOC_CLI_COMMANDS_H

#define YOLOC_COMMANDS(X)                                                        \
    X(version, "print the version and the kernels' backend")                   \
    X(info, "print a model's layers, parameters and GFLOPs: model=yolov8n.yaml [imgsz=640] [nc=80]") \
    X(forward, "one forward (and backward) pass on .npy tensors: model=... input=X.npy out=Y.npy") \
    X(demo, "the built-in demo of `make demo`") \
    X(train, "train a model: model=yolov8n.yaml data=data.yaml epochs=100 batch=16 ... (yoloc help)") \
    X(plan, "batch from the memory model and the LR/batch recommendation, written as plan.yaml: model=... data=... [imgsz=640] [batch=-1|0.6|N] [processes=N] [mem=GiB] [noise=True] (train keys apply)") \
    X(lrfind, "LR range test, suggests lr0: model=... data=... [optimizer=SGD] [lr_start=1e-7] [lr_end=1] [lr_steps=300] (train keys apply)") \
    X(tune, "hyper-parameter search with successive halving: model=... data=... [space=tune.yaml] [budget=8] [epochs=E] [eta=3] [resume=True] (train keys apply)") \
    X(doctor, "name what went wrong with a run's LR/batch settings, with evidence and next settings: yoloc doctor RUN_DIR [out=findings.json]") \
    X(val, "validate a model on a dataset split: model=W.safetensors data=... [split=val]") \
    X(predict, "detect objects in images: model=W.safetensors source=IMAGE|DIR|LIST.txt") \
    X(help, "list the options of train/val/predict, or one: yoloc help [key]") \
    X(data_check, "check a dataset's images and labels: data=... [out=report.json]") \
    X(data_export, "write a dataset (e.g. data=synth) in YOLO format: data=... dir=OUT") \
    X(data_plot, "plot labels.png and train_batch0.png: data=... [dir=.] [imgsz=640] [batch=16] [seed=0]") \
    X(data_bench, "loader speed (decode + augment): data=... [imgsz=640] [batch=16] [workers=2] [batches=N]") \
    X(export, "write a model as ONNX: model=... [weights=W.safetensors] format=onnx [imgsz=640] [batch=1] [opset=13] [dynamic=False] [half=False] [file=OUT.onnx]") \
    X(eval, "score YOLO-format prediction files: data=... pred=DIR [split=val] [metric=ultralytics|coco] [out=metrics.json] [conf=0.001]") \
    X(bench, "time a training step, eval forward and predict latency on a synthetic batch: model=... imgsz=640 batch=16 [amp=True] [threads=N] [reps=5] [out=bench.json]")

#define DECLARE_CMD(name, summary) int cmd_##name(int argc, char **argv);
YOLOC_COMMANDS(DECLARE_CMD)
#undef DECLARE_CMD

/* Prints "error: <last error>" and returns the exit code for a status. */
int cli_fail(int status);

#endif
