#!/usr/bin/env python3
"""Checks that PyTorch and Ultralytics take a .pt written by `yoloc export format=pt`.

    python tools/check_pt_export.py EXPORTED.pt REFERENCE.pt

EXPORTED.pt: `yoloc export model=REFERENCE.pt format=pt file=EXPORTED.pt` (or any yoloc model's export);
REFERENCE.pt: an Ultralytics checkpoint of the same architecture. The script
  1. loads EXPORTED.pt with torch.load(weights_only=True) (no code runs: only tensors and dicts);
  2. loads it into REFERENCE.pt's model (Ultralytics' DetectionModel) with load_state_dict(strict=True);
  3. compares every tensor with REFERENCE.pt's own state dict (float32: exactly; the reference's fp16
     values convert exactly), and the model's eval output on a fixed input before and after.
Prints one line per check; exit status 1 on a failure. Needs PyTorch and ultralytics==8.3.253.
"""
import sys

import torch


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    exported, reference = sys.argv[1], sys.argv[2]
    sd = torch.load(exported, map_location="cpu", weights_only=True)
    print("torch.load(weights_only=True): %d tensors" % len(sd))
    ck = torch.load(reference, map_location="cpu", weights_only=False)
    model = (ck.get("ema") or ck["model"]).float().eval()
    ref = {k: v.clone() for k, v in model.state_dict().items()}
    x = torch.rand(1, 3, 160, 160, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        y0 = model(x)[0]
    model.load_state_dict(sd, strict=True)
    print("load_state_dict(strict=True): ok (%d keys)" % len(sd))
    bad = [k for k, v in ref.items() if not torch.equal(sd[k].to(v.dtype), v)]
    with torch.no_grad():
        y1 = model(x)[0]
    same = torch.equal(y0, y1)
    print("tensors equal to the reference's: %s" % ("all" if not bad else "NOT %s" % bad[:5]))
    print("eval output after loading: %s" % ("identical" if same else "differs by %g" % (y0 - y1).abs().max()))
    sys.exit(0 if not bad and same else 1)


if __name__ == "__main__":
    main()
