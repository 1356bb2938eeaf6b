#!/usr/bin/python3
"""Full-width torchvision models for benchmarks (not committed; written to bench/work/, which is git-ignored).

    apt-get install -y python3-torch python3-torchvision python3-onnx
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/make_bench_models.py            # resnet50 and vgg16
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/make_bench_models.py resnet50   # just one

Writes bench/work/<name>.onnx (same export flags as the test fixtures: do_constant_folding=False,
TrainingMode.PRESERVE on an eval() model, so BatchNormalization nodes are kept; input 'input'
[1,3,224,224], output 'logits' [1,1000]) plus bench/work/<name>.input.npy and <name>.logits.npy
(PyTorch's output for that input). bench/torch_forward.py rebuilds the very same model with build().
ResNet-50 is ~100 MB of ONNX, VGG-16 ~530 MB.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import make_fixtures as mf  # noqa: E402  (shared helpers: BN/bias randomisation, export flags)

WORK = ROOT / "bench" / "work"
HW = 224
OPSET = 13
BENCH_MODELS = {
    "resnet50": (torchvision.models.resnet50, 201),
    "vgg16": (torchvision.models.vgg16, 202),
}


def build(name):
    """Deterministic full-width model (random weights, eval mode) and its input; same seed => same weights."""
    ctor, seed = BENCH_MODELS[name]
    torch.manual_seed(seed)
    model = ctor(weights=None)
    mf.no_inplace(model)
    for p in model.parameters():
        p.requires_grad_(False)
    mf.randomise_biases(model)
    mf.randomise_batchnorm(model, HW)
    model.eval()
    x = torch.randn(1, 3, HW, HW)
    mf.normalise_head(model, x)
    return model, x


def main(argv):
    names = argv[1:] or list(BENCH_MODELS)
    WORK.mkdir(parents=True, exist_ok=True)
    for name in names:
        if name not in BENCH_MODELS:
            raise SystemExit(f"unknown bench model {name!r}; choose from {list(BENCH_MODELS)}")
        model, x = build(name)
        with torch.no_grad():
            logits = model(x)
        mf.export(model, x, WORK / f"{name}.onnx", OPSET)
        np.save(WORK / f"{name}.input.npy", x.numpy().astype(np.float32))
        np.save(WORK / f"{name}.logits.npy", logits.numpy().astype(np.float32))
        size = (WORK / f"{name}.onnx").stat().st_size / 2**20
        print(f"{name}: {WORK / (name + '.onnx')} ({size:.0f} MiB, opset {OPSET}, torch {torch.__version__}), "
              f"top class {int(logits.argmax())}")


if __name__ == "__main__":
    main(sys.argv)
