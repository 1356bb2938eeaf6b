#!/usr/bin/python3
"""A small CNN exported with dynamic batch, height and width (torch.onnx.export's dynamic_axes, as
users do for fully convolutional models), its input at 20×24 and PyTorch's logits:
test/fixtures/dynamic-hw/ for the test that a card's inputSize fixes the size.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/dynamic_hw_fixture.py
"""
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "dynamic-hw"


def main():
    torch.manual_seed(15)
    model = nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 6, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4),
    ).eval()
    x = torch.randn(1, 3, 20, 24)
    with torch.no_grad():
        logits = model(x)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(OUT / "model.onnx"), opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch", 2: "height", 3: "width"}, "logits": {0: "batch"}})
    np.save(OUT / "input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "logits.npy", logits.numpy().astype(np.float32))
    print("logits", logits.numpy())


if __name__ == "__main__":
    main()
