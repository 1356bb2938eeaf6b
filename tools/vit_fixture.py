#!/usr/bin/python3
"""A tiny vision transformer (torchvision.models.VisionTransformer: 32 px, 8 px patches, 2 layers of
hidden size 16 with 2 heads, MLP 32, 10 classes; seeded random weights, the zero-initialised head
redrawn), exported the ordinary way (opset 13), with PyTorch's logits: test/fixtures/vit-tiny/ for
test/vit.test.ts (naflow predicts it; inspect says why it cannot be explained).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/vit_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models import VisionTransformer

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "vit-tiny"


def main():
    torch.manual_seed(16)
    model = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32, num_classes=10)
    nn.init.normal_(model.heads.head.weight, std=0.5)
    nn.init.uniform_(model.heads.head.bias, -0.1, 0.1)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        logits = model(x)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(OUT / "model.onnx"), opset_version=13, input_names=["input"], output_names=["logits"])
    np.save(OUT / "input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "logits.npy", logits.numpy().astype(np.float32))
    (OUT / "manifest.json").write_text(json.dumps({
        "name": "vit-tiny-random",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "opset": 13,
        "model": "model.onnx",
        "input": {"name": "input", "shape": [1, 3, 32, 32], "file": "input.npy", "layout": "NCHW"},
        "logits": {"file": "logits.npy"},
        "topClass": int(logits[0].argmax()),
    }, indent=2) + "\n")
    print("logits", logits.numpy())


if __name__ == "__main__":
    main()
