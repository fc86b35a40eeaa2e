#!/usr/bin/env python3
"""The PyTorch side of `yoloc bench` (optional tool; bench/compare.sh runs both).

The same measurements as `yoloc bench` (src/train/bench.h), on the same kind
of fixed synthetic batch (random images in [0, 1], 10 random boxes per image
with sides in [0.05, 0.4]), with the same number of threads
(torch.set_num_threads), on Ultralytics' DetectionModel built from the same
model YAML (yolov8n.yaml: Ultralytics' own copy):

  training step  (median of --reps after a warm-up) as Ultralytics' trainer
                 runs one with accumulate = 1: forward, v8DetectionLoss,
                 backward of loss.sum(), clip_grad_norm_(10), SGD (nesterov,
                 Ultralytics' three parameter groups), zero_grad, ModelEMA
                 update; and each phase;
  eval forward   at the batch, predict latency at batch 1 (median of
                 max(reps, 10)): a copy of the model in eval mode with
                 Conv+BatchNorm fused (model.fuse()), under inference_mode;
  convolutions   one profiled training step (torch.profiler): the self CPU
                 time of every op whose name contains "conv" (forward and
                 backward), their FLOPs counted by hooks on every Conv2d
                 call (2 per multiply-add; backward: weight gradient plus
                 input gradient where the input requires one), so
                 conv_gflops and non_conv_share mean what yoloc's do;
  peak RSS       the process's VmHWM at the end.

--amp: bf16 autocast when the CPU has bf16 (avx512_bf16 or amx_bf16 in
/proc/cpuinfo); otherwise a one-line notice and fp32.

Prints the report on stderr and the JSON (keys as yoloc bench's out=) on
stdout; --out also writes it to a file. Exits 77 with "SKIPPED: reason" when
torch or ultralytics is missing. Needs nothing else; never installs anything.

usage: bench_torch.py [--model yolov8n.yaml] [--imgsz 640] [--batch 16]
                      [--threads 2] [--reps 5] [--amp] [--seed 0] [--out FILE]
"""
import argparse
import copy
import json
import os
import statistics
import sys
import time

TARGETS_PER_IMAGE = 10  # as BENCH_TARGETS_PER_IMAGE in src/train/bench.h


def skip(reason):
    print(f"SKIPPED: {reason}", file=sys.stderr)
    sys.exit(77)


def peak_rss_mb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def cpu_bf16():
    """The bf16 flags of /proc/cpuinfo's first processor ([] when none, None when unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return [x for x in ("avx512_bf16", "amx_bf16") if x in flags]
    except OSError:
        return None
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="yolov8n.yaml")
    ap.add_argument("--imgsz", type=int, default=640)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--amp", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    if a.batch < 1 or a.reps < 1 or a.threads < 1 or a.imgsz < 32:
        ap.error("batch, reps and threads must be >= 1 and imgsz >= 32")
    # stdout carries the JSON alone: what the libraries log there goes to stderr
    json_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    try:
        return run(a, json_out)
    finally:
        sys.stdout.flush()
        json_out.close()


def run(a, json_out):

    try:
        import torch
    except ImportError as e:
        skip(f"PyTorch is not installed ({e})")
    try:
        import ultralytics
        from ultralytics.cfg import get_cfg
        from ultralytics.nn.tasks import DetectionModel
        from ultralytics.utils.loss import v8DetectionLoss
        from ultralytics.utils.torch_utils import ModelEMA
    except Exception as e:  # ImportError, or a dependency ultralytics needs
        skip(f"ultralytics is not usable ({type(e).__name__}: {e})")

    log = sys.stderr
    torch.set_num_threads(a.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    torch.manual_seed(a.seed)

    amp = False
    if a.amp:
        flags = cpu_bf16()
        if flags:
            amp = True
            print(f"amp=True: this CPU has bf16 ({' '.join(flags)}): bf16 autocast", file=log)
        else:
            why = "cannot read /proc/cpuinfo" if flags is None else "no avx512_bf16 or amx_bf16 in /proc/cpuinfo"
            print(f"amp=True: this CPU has no bf16 support ({why}): running fp32", file=log)

    model = DetectionModel(a.model, verbose=False)
    model.args = get_cfg()  # the loss gains box 7.5, cls 0.5, dfl 1.5
    nc = model.model[-1].nc
    crit = v8DetectionLoss(model)
    nparams = sum(p.numel() for p in model.parameters())

    # the synthetic batch
    g = torch.Generator().manual_seed(a.seed)
    B, S = a.batch, a.imgsz
    imgs = torch.rand(B, 3, S, S, generator=g)
    n = B * TARGETS_PER_IMAGE
    wh = 0.05 + 0.35 * torch.rand(n, 2, generator=g)
    xy = wh / 2 + (1 - wh) * torch.rand(n, 2, generator=g)
    batch = {
        "batch_idx": torch.arange(B).repeat_interleave(TARGETS_PER_IMAGE).float(),
        "cls": torch.randint(0, nc, (n, 1), generator=g).float(),
        "bboxes": torch.cat([xy, wh], 1),
    }

    # SGD with Ultralytics' groups: weights with decay, norm weights and biases without
    decay, no_decay, biases = [], [], []
    norm_types = tuple(v for k, v in torch.nn.__dict__.items() if "Norm" in k and isinstance(v, type))
    for mname, mod in model.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            if "bias" in pname:
                biases.append(p)
            elif isinstance(mod, norm_types):
                no_decay.append(p)
            else:
                decay.append(p)
    lr, momentum, wd = 0.01, 0.937, 0.0005
    opt = torch.optim.SGD(biases, lr=lr, momentum=momentum, nesterov=True)
    opt.add_param_group({"params": decay, "weight_decay": wd})
    opt.add_param_group({"params": no_decay, "weight_decay": 0.0})
    ema = ModelEMA(model)
    model.train()

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp)

    def step():
        t0 = time.perf_counter()
        with autocast():
            preds = model(imgs)
            t1 = time.perf_counter()
            loss, _ = crit(preds, batch)
        t2 = time.perf_counter()
        loss.sum().backward()
        t3 = time.perf_counter()
        torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=10.0)
        opt.step()
        opt.zero_grad()
        t4 = time.perf_counter()
        ema.update(model)
        t5 = time.perf_counter()
        return [t5 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4]

    print(f"benchmarking {a.model} in PyTorch {torch.__version__} (ultralytics {ultralytics.__version__}): "
          f"batch {B} at {S}, {a.threads} threads, {a.reps} repeats after a warm-up ...", file=log)
    step()  # warm-up
    times = [step() for _ in range(a.reps)]
    med = [statistics.median(t[k] for t in times) for k in range(6)]
    step_s, fwd_s, loss_s, bwd_s, optim_s, ema_s = med

    # one profiled step: convolution time (self CPU time of the conv ops) and FLOPs (hooks)
    flops = {"fwd": 0.0, "bwd": 0.0}

    def conv_hook(mod, inp, out):
        f = 2.0 * out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        flops["fwd"] += f
        if torch.is_grad_enabled():
            flops["bwd"] += f * (2 if inp[0].requires_grad else 1)

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        step()
        prof_step_s = time.perf_counter() - t0
    for h in hooks:
        h.remove()
    ev = prof.key_averages()
    conv_fwd_s = conv_bwd_s = 0.0
    kinds = {}
    for e in ev:
        s = e.self_cpu_time_total / 1e6
        name = e.key.lower()
        if "conv" in name:
            if "backward" in name:
                conv_bwd_s += s
            else:
                conv_fwd_s += s
        kinds[e.key] = kinds.get(e.key, 0.0) + s
    conv_s = conv_fwd_s + conv_bwd_s
    conv_gflops = (flops["fwd"] + flops["bwd"]) / conv_s / 1e9 if conv_s > 0 else 0.0
    non_conv = 1.0 - conv_s / prof_step_s if prof_step_s > 0 else 0.0

    # eval forward and predict latency: a fused copy in eval mode
    fused = copy.deepcopy(model).eval()
    fused.fuse(verbose=False)

    def time_forward(x, reps):
        with torch.inference_mode(), autocast():
            fused(x)
            ts = []
            for _ in range(reps):
                t0 = time.perf_counter()
                fused(x)
                ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    eval_s = time_forward(imgs, a.reps)
    predict_s = time_forward(imgs[:1].contiguous(), max(a.reps, 10))
    # forward GFLOPs of one image (every convolution of the training forward, as `yoloc info` counts them)
    model_gflops = flops["fwd"] / B / 1e9

    r = {
        "tool": "pytorch",
        "model": a.model,
        "imgsz": S,
        "batch": B,
        "threads": torch.get_num_threads(),
        "reps": a.reps,
        "precision": "bf16-mixed" if amp else "fp32",
        "amp_requested": a.amp,
        "bn_folded": True,
        "optimizer": f"SGD(lr={lr}, momentum={momentum}, nesterov) with Ultralytics' 3 parameter groups",
        "torch": torch.__version__,
        "ultralytics": ultralytics.__version__,
        "params": nparams,
        "model_gflops": model_gflops,
        "targets_per_image": TARGETS_PER_IMAGE,
        "step_s": step_s,
        "train_img_s": B / step_s,
        "fwd_s": fwd_s,
        "loss_s": loss_s,
        "bwd_s": bwd_s,
        "optim_s": optim_s,
        "ema_s": ema_s,
        "eval_s": eval_s,
        "eval_img_s": B / eval_s,
        "predict_ms": predict_s * 1e3,
        "peak_rss_mb": peak_rss_mb(),
        "conv_gflops": conv_gflops,
        "conv_fwd_gflops": flops["fwd"] / conv_fwd_s / 1e9 if conv_fwd_s > 0 else 0.0,
        "conv_bwd_gflops": flops["bwd"] / conv_bwd_s / 1e9 if conv_bwd_s > 0 else 0.0,
        "non_conv_share": max(0.0, non_conv),
        "profiled_step_s": prof_step_s,
        "conv_fwd_s": conv_fwd_s,
        "conv_bwd_s": conv_bwd_s,
    }

    # the report
    print(f"pytorch bench: {a.model} ({nparams / 1e6:.2f}M parameters, {model_gflops:.3g} GFLOPs per image at {S}), "
          f"batch {B}, imgsz {S}, {r['threads']} threads, {r['precision']}", file=log)
    print(f"{'training step (accumulate=1)':38s} {step_s:10.3f} s   {B / step_s:8.2f} images/s", file=log)
    for name, v in (("forward (training)", fwd_s), ("loss + gradient", loss_s), ("backward", bwd_s),
                    ("optimizer (clip, step, zero_grad)", optim_s), ("EMA", ema_s)):
        print(f"  {name:36s} {v:10.3f} s", file=log)
    print(f"{'eval forward, batch %d (fused)' % B:38s} {eval_s:10.3f} s   {B / eval_s:8.2f} images/s", file=log)
    print(f"{'predict latency, batch 1 (fused)':38s} {predict_s * 1e3:10.2f} ms", file=log)
    print(f"{'peak RSS (VmHWM)':38s} {r['peak_rss_mb']:10.1f} MiB", file=log)
    print(f"\nops of one profiled training step ({prof_step_s:.3f} s with the profiler), by self CPU time:", file=log)
    for key, s in sorted(kinds.items(), key=lambda kv: -kv[1])[:12]:
        print(f"  {key:44s} {s * 1e3:9.1f} ms {100 * s / prof_step_s:6.1f} %", file=log)
    print(f"convolutions: {conv_gflops:.1f} GFLOP/s (forward {r['conv_fwd_gflops']:.1f}, backward "
          f"{r['conv_bwd_gflops']:.1f}; {flops['fwd'] / 1e9:.1f} + {flops['bwd'] / 1e9:.1f} GFLOP per step); "
          f"outside convolutions: {100 * r['non_conv_share']:.1f} % of the step", file=log)

    text = json.dumps(r, indent=2) + "\n"
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    json_out.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
