#!/usr/bin/python3
"""A small CNN with the smooth activations users asked for (ELU, Softplus, SELU), exported the ordinary
way (torch.onnx.export, opset 13), with PyTorch's logits and the gradient of the top logit at the input:
test/fixtures/smooth-act/ for test/smooth-activations.test.ts.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/smooth_activation_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "smooth-act"


def main():
    torch.manual_seed(14)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ELU(alpha=0.7),
        nn.Conv2d(8, 8, 3, padding=1), nn.Softplus(),
        nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.SELU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5),
    ).eval()
    x = torch.randn(1, 3, 16, 16)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    top = int(logits[0].argmax())
    logits[0, top].backward()
    OUT.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(model, x, str(OUT / "model.onnx"), opset_version=13, input_names=["input"], output_names=["logits"])
    np.save(OUT / "input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "logits.npy", logits.detach().numpy().astype(np.float32))
    np.save(OUT / "grad.npy", xg.grad.numpy().astype(np.float32))
    (OUT / "manifest.json").write_text(json.dumps({
        "name": "smooth-act",
        "torch": torch.__version__,
        "opset": 13,
        "model": "model.onnx",
        "input": {"name": "input", "shape": [1, 3, 16, 16], "file": "input.npy", "layout": "NCHW"},
        "logits": {"file": "logits.npy"},
        "topClass": top,
        "grad": {"file": "grad.npy", "what": "d logits[0, topClass] / d input (NCHW)"},
        "activations": ["Elu(alpha=0.7)", "Softplus", "Selu"],
    }, indent=2) + "\n")
    print("top", top, "logits", logits.detach().numpy())


if __name__ == "__main__":
    main()
