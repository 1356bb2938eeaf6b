#!/usr/bin/python3
"""A small CNN with a squeeze-excitation block (global pool → 1×1 convs → sigmoid gate), the layers whose
tensors are 1×1 and carry no picture, exported the ordinary way (torch.onnx.export, opset 13), with an
input and PyTorch's logits: test/fixtures/se-block/ for test/pictureless-layers.test.ts.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/se_block_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "se-block"


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))
        return x * s


def main():
    torch.manual_seed(15)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        SqueezeExcitation(8, 4),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    logits = model(x)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(OUT / "model.onnx"), opset_version=13, input_names=["input"], output_names=["logits"])
    np.save(OUT / "input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "logits.npy", logits.detach().numpy().astype(np.float32))
    (OUT / "manifest.json").write_text(json.dumps({
        "name": "se-block",
        "torch": torch.__version__,
        "opset": 13,
        "model": "model.onnx",
        "input": {"name": "input", "shape": [1, 3, 16, 16], "file": "input.npy", "layout": "NCHW"},
        "logits": {"file": "logits.npy"},
        "topClass": int(logits[0].argmax()),
    }, indent=2) + "\n")
    print("logits", logits.detach().numpy())


if __name__ == "__main__":
    main()
