#!/usr/bin/python3
"""A small ConvNeXt (torchvision.models.convnext.ConvNeXt: channels 8/16/32/64, one block per stage, 10
classes, seeded random weights, eval mode), exported the ordinary way twice: at opset 13 (LayerNorm as
ReduceMean/Sub/Pow/Sqrt/Div, GELU as Erf) and at opset 17 (LayerNormalization). Records PyTorch's logits,
the gradient of the top logit at the input, and reference-mode maps (docs/spec.md §7: Σ_c ReLU(A ⊙ ∂S/∂A),
computed here from PyTorch's activations and autograd gradients) at a few tensors:
test/fixtures/convnext/ for test/convnext.test.ts.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/convnext_fixture.py
"""
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torchvision
from torchvision.models.convnext import CNBlockConfig, ConvNeXt

OUT = Path(__file__).resolve().parent.parent / "test" / "fixtures" / "convnext"
SIZE = 64

# PyTorch module whose output is mapped → the naflow node that produces that tensor, and whether the
# PyTorch tensor is channels-last (inside a block, after the permute)
MAPS = [
    ("features.0", "/features/features.0/features.0.1/LayerNormalization", False),
    ("features.1.0.block.0", "/features/features.1/features.1.0/block/block.0/Conv", False),
    ("features.1.0.block.4", "/features/features.1/features.1.0/block/block.4/Gelu", True),
    ("features.1", "/features/features.1/features.1.0/Add", False),
    ("features.2", "/features/features.2/features.2.1/Conv", False),
    ("features.3.0.block.2", "/features/features.3/features.3.0/block/block.2/LayerNormalization", True),
    ("features.3", "/features/features.3/features.3.0/Add", False),
    ("features.5.0.block.5", "/features/features.5/features.5.0/block/block.5/Add", True),
    ("features.7", "/features/features.7/features.7.0/Add", False),
]


def build():
    torch.manual_seed(15)
    settings = [CNBlockConfig(8, 16, 1), CNBlockConfig(16, 32, 1), CNBlockConfig(32, 64, 1), CNBlockConfig(64, None, 1)]
    model = ConvNeXt(settings, num_classes=10)
    # torchvision's init (std 0.02, zero biases, layer scale 1e-6) leaves every residual branch silent:
    # draw weights that make each layer matter
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            fan_in = mod.weight[0].numel()
            nn.init.normal_(mod.weight, std=1.0 / np.sqrt(fan_in))
            nn.init.uniform_(mod.bias, -0.1, 0.1)
        elif isinstance(mod, nn.LayerNorm):
            nn.init.uniform_(mod.weight, 0.5, 1.5)
            nn.init.uniform_(mod.bias, -0.2, 0.2)
    for name, p in model.named_parameters():
        if name.endswith("layer_scale"):
            nn.init.uniform_(p, 0.3, 1.0)
    return model.eval()


class Patterns(nn.Module):
    """The import patterns' other forms: tanh GELU, a LayerNorm without γ/β on a channels-last view, a
    Linear on that view, a channels-last view flattened (read in the standard layout), a lone Erf."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
        self.norm = nn.LayerNorm(8, elementwise_affine=False)
        self.linear = nn.Linear(8, 8)
        self.fc = nn.Linear(8 * 4 * 4 + 8, 5)

    def forward(self, x):
        y = self.conv(x)
        a = nn.functional.gelu(y, approximate="tanh")
        b = self.linear(self.norm(a.permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        c = nn.functional.max_pool2d(b, 2).permute(0, 2, 3, 1).flatten(1)
        e = torch.erf(y).mean(dim=(2, 3))
        return self.fc(torch.cat([c, e], dim=1))


def patterns():
    torch.manual_seed(17)
    model = Patterns().eval()
    x = torch.randn(1, 3, 16, 16)
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    top = int(logits[0].argmax())
    logits[0, top].backward()
    torch.onnx.export(model, x, str(OUT / "patterns.onnx"), opset_version=13, input_names=["input"], output_names=["logits"])
    np.save(OUT / "patterns-input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "patterns-logits.npy", logits.detach().numpy().astype(np.float32))
    np.save(OUT / "patterns-grad.npy", xg.grad.numpy().astype(np.float32))
    return {"model": "patterns.onnx", "input": {"shape": [1, 3, 16, 16], "file": "patterns-input.npy"}, "logits": "patterns-logits.npy",
            "topClass": top, "grad": "patterns-grad.npy"}


def main():
    model = build()
    x = torch.randn(1, 3, SIZE, SIZE)
    captured = {}
    hooks = []
    for name, _, _ in MAPS:
        def keep(_m, _i, out, name=name):
            out.retain_grad()
            captured[name] = out
        hooks.append(model.get_submodule(name).register_forward_hook(keep))
    xg = x.clone().requires_grad_(True)
    logits = model(xg)
    top = int(logits[0].argmax())
    logits[0, top].backward()
    for h in hooks:
        h.remove()
    OUT.mkdir(parents=True, exist_ok=True)
    for opset in (13, 17):
        torch.onnx.export(model, x, str(OUT / f"model-opset{opset}.onnx"), opset_version=opset, input_names=["input"], output_names=["logits"])
    np.save(OUT / "input.npy", x.numpy().astype(np.float32))
    np.save(OUT / "logits.npy", logits.detach().numpy().astype(np.float32))
    np.save(OUT / "grad.npy", xg.grad.numpy().astype(np.float32))
    maps = []
    for k, (name, node, channels_last) in enumerate(MAPS):
        a, g = captured[name].detach(), captured[name].grad
        axis = 3 if channels_last else 1
        m = torch.relu(a * g).sum(dim=axis)[0].numpy().astype(np.float32)
        np.save(OUT / f"map{k}.npy", m)
        maps.append({"torchModule": name, "node": node, "channelsLast": channels_last, "shape": list(m.shape), "file": f"map{k}.npy"})
    (OUT / "manifest.json").write_text(json.dumps({
        "name": "convnext-small-random",
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "models": {"13": "model-opset13.onnx", "17": "model-opset17.onnx"},
        "input": {"name": "input", "shape": [1, 3, SIZE, SIZE], "file": "input.npy", "layout": "NCHW"},
        "logits": {"file": "logits.npy"},
        "topClass": top,
        "grad": {"file": "grad.npy", "what": "d logits[0, topClass] / d input (NCHW)"},
        "patterns": patterns(),
        "referenceMaps": {"what": "sum over channels of relu(A * dS/dA), S = logits[0, topClass]", "maps": maps},
    }, indent=2) + "\n")
    print("top", top, "logits", logits.detach().numpy())


if __name__ == "__main__":
    main()
