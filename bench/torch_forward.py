#!/usr/bin/python3
"""PyTorch forward-pass baseline for a bench model made by tools/make_bench_models.py.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_forward.py resnet50      # or vgg16, or bench/work/vgg16.onnx
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/torch_forward.py resnet50 --fwdbwd   # forward + backward

--fwdbwd times the forward pass plus the backward pass of the top logit to the input and to every
leaf module's output (retain_grad), weights frozen: the work a per-layer explanation needs.

Rebuilds the same seeded model as tools/make_bench_models.py (PyTorch cannot run the .onnx itself), checks
that it reproduces bench/work/<name>.logits.npy when that file exists, then times model(x) with
torch.set_num_threads(2): 2 warm-ups, median of 7 runs. Prints one JSON line:
{"model", "median_ms", "peak_rss_mb", "torch"}  (peak RSS of this process, from getrusage).
"""
import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"

import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_bench_models as mbm  # noqa: E402


def timed_fwdbwd(model, x):
    for p in model.parameters():
        p.requires_grad_(False)
    outs = []

    def keep(_m, _i, out):
        if isinstance(out, torch.Tensor) and out.requires_grad:
            out.retain_grad()
            outs.append(out)

    for m in model.modules():
        if not list(m.children()):
            m.register_forward_hook(keep)
    times = []
    for i in range(2 + 7):
        outs.clear()
        xi = x.clone().requires_grad_(True)
        t0 = time.perf_counter()
        logits = model(xi)
        logits[0, int(logits.argmax())].backward()
        dt = (time.perf_counter() - t0) * 1000.0
        if i >= 2:
            times.append(dt)
    return times


def main(argv):
    fwdbwd = "--fwdbwd" in argv
    argv = [a for a in argv if a != "--fwdbwd"]
    if len(argv) != 2:
        raise SystemExit(f"usage: {argv[0]} <onnx-name>   (one of {list(mbm.BENCH_MODELS)})")
    name = Path(argv[1]).name
    if name.endswith(".onnx"):
        name = name[: -len(".onnx")]
    torch.set_num_threads(2)
    model, x = mbm.build(name)
    ref = mbm.WORK / f"{name}.logits.npy"
    if fwdbwd:
        times = timed_fwdbwd(model, x)
    with torch.no_grad():
        if ref.exists():
            diff = float(np.abs(model(x).numpy() - np.load(ref)).max())
            if diff > 1e-4:
                raise SystemExit(f"{name}: rebuilt model differs from {ref} (max abs diff {diff:.3g})")
        if not fwdbwd:
            times = []
            for i in range(2 + 7):
                t0 = time.perf_counter()
                model(x)
                dt = (time.perf_counter() - t0) * 1000.0
                if i >= 2:
                    times.append(dt)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    print(json.dumps({"model": name, "mode": "fwdbwd" if fwdbwd else "fwd", "median_ms": round(statistics.median(times), 2),
                      "peak_rss_mb": round(peak, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main(sys.argv)
