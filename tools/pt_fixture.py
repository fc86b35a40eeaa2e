"""What the .pt fixture scripts (make_ultralytics_ckpt.py, make_yolov5_ckpt.py) record of a model, one
home for both: test_pt_weights.c reads these figures and computes the same fixed input."""
import torch


def tensor_sums(model):
    """Per state-dict tensor: shape, float64 sum and sum of squares of its values."""
    out = {}
    for k, v in model.state_dict().items():
        d = v.double()
        out[k] = {"shape": list(v.shape), "sum": float(d.sum()), "sumsq": float((d * d).sum())}
    return out


def forward_summary(model, size=160):
    """The eval output on x[c, y, x] = ((7c + 13y + 29x) mod 97) / 96: shape, first 64 values, sum of |y|."""
    c, yy, xx = torch.meshgrid(torch.arange(3), torch.arange(size), torch.arange(size), indexing="ij")
    x = (((7 * c + 13 * yy + 29 * xx) % 97).float() / 96.0).unsqueeze(0)
    with torch.no_grad():
        y = model(x)
    y = y[0] if isinstance(y, (list, tuple)) else y
    return {"shape": list(y.shape), "first": [float(v) for v in y.flatten()[:64]],
            "abs_sum": float(y.double().abs().sum())}
