#!/usr/bin/python3
"""Reference CAM-baseline fixtures from pytorch-grad-cam, for test/baselines.test.ts.

For the VGG16 and ResNet-18 ONNX fixtures (test/fixtures/onnx/{vgg16,resnet18}/) this rebuilds the
same PyTorch models with tools/make_fixtures.py (same seeds and initialisation steps, so the weights
equal the committed model.onnx: the script checks the input against input.npy and the logits against
logits.npy), runs pytorch-grad-cam's GradCAM, GradCAMPlusPlus, LayerCAM, HiResCAM, ScoreCAM and XGradCAM on the three
layers listed in each manifest's `inner` list with target = the top class (ClassifierOutputTarget, i.e.
the raw logit), and saves each method's raw per-layer cam as
test/fixtures/gradcam/<model>/<method>_<label>.npy (float32, [H, W]) plus a manifest.json.

"Raw" means: the output of the method's own get_cam_image (Σ_c w_c·A_c, or the element-wise sums)
followed by BaseCAM's np.maximum(cam, 0) — exactly the array BaseCAM.compute_cam_per_layer passes to
scale_cam_image — i.e. BEFORE pytorch-grad-cam's min-max normalisation and resize to the input size.
It is captured by wrapping pytorch_grad_cam.base_cam.scale_cam_image (the wrapper records its input
and then calls the original, so the public API runs unchanged).

pytorch-grad-cam version used: git commit 084273b3f30b54ad0c64cf8020a4337d979a66e0
(github.com/jacobgil/pytorch-grad-cam, committed 2026-06-14). It is not vendored into naflow.

How to reproduce (Debian 12, Debian's PyTorch as for tools/make_fixtures.py):

    apt-get install -y python3-torch python3-torchvision python3-onnx python3-opencv python3-scipy \
                       python3-tqdm python3-sklearn
    git clone https://github.com/jacobgil/pytorch-grad-cam /tmp/pgc
    git -C /tmp/pgc checkout 084273b3f30b54ad0c64cf8020a4337d979a66e0
    OPENBLAS_NUM_THREADS=1 PGC_DIR=/tmp/pgc /usr/bin/python3 tools/gradcam_fixtures.py

`ttach` (test-time augmentation, only used by aug_smooth=True) is not packaged by Debian: when it is
missing, a stub module is registered so that `import ttach` in base_cam.py succeeds (its Compose /
HorizontalFlip / Multiply are only constructed, never applied, because aug_smooth stays False).
Likewise tqdm / sklearn / cv2 are stubbed if not installed (the four CAMs used here never call them).

ResNet-18 "middle" is the residual Add feeding layer2.1's final ReLU, which is no module's output in
torchvision; the script gives that block a forward with an nn.Identity tap on the Add (non in-place
ReLU after it, same arithmetic) so pytorch-grad-cam can hook it as an ordinary target layer.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import types  # noqa: E402
from collections import OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

PGC_COMMIT = "084273b3f30b54ad0c64cf8020a4337d979a66e0"
ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test" / "fixtures" / "gradcam"
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, os.environ.get("PGC_DIR", "/tmp/pgc"))

import make_fixtures as mf  # noqa: E402


def _stub(name, **attrs):
    try:
        importlib.import_module(name)
    except ImportError:
        mod = types.ModuleType(name)
        mod.__dict__.update(attrs)
        mod.__naflow_stub__ = True
        sys.modules[name] = mod


class _Any:
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        raise RuntimeError("stubbed dependency called: install the real package")


_stub("ttach", Compose=_Any, HorizontalFlip=_Any, Multiply=_Any)
_stub("tqdm", tqdm=_Any)
_stub("cv2")
_stub("sklearn")
_stub("sklearn.decomposition", NMF=_Any, KernelPCA=_Any)
if "sklearn.decomposition" in sys.modules and getattr(sys.modules["sklearn"], "__naflow_stub__", False):
    sys.modules["sklearn"].decomposition = sys.modules["sklearn.decomposition"]

import pytorch_grad_cam.base_cam as base_cam  # noqa: E402
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, HiResCAM, LayerCAM, ScoreCAM, XGradCAM  # noqa: E402
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

METHODS = OrderedDict(gradcam=GradCAM, gradcampp=GradCAMPlusPlus, layercam=LayerCAM, hirescam=HiResCAM, scorecam=ScoreCAM,
                      xgradcam=XGradCAM)

# per model: label -> (how to find the torch module, ONNX tensor name taken from the ONNX manifest)
TARGETS = {
    "vgg16": [("shallow", "features.4"), ("middle", "features.13"), ("deep", "features.30")],
    "resnet18": [("shallow", "maxpool"), ("middle", "layer2.1.tap"), ("deep", "layer4")],
}

_recorded = []
_orig_scale = base_cam.scale_cam_image


def _recording_scale(cam, target_size=None):
    if target_size is not None:  # per-layer call from compute_cam_per_layer (not the final aggregate)
        _recorded.append(np.array(cam, dtype=np.float64, copy=True))
    return _orig_scale(cam, target_size)


base_cam.scale_cam_image = _recording_scale

_signed = []
_orig_get_cam_image = GradCAM.get_cam_image


def _recording_get_cam_image(self, *args, **kwargs):
    cam = _orig_get_cam_image(self, *args, **kwargs)
    _signed.append(np.array(cam, dtype=np.float64, copy=True))
    return cam


GradCAM.get_cam_image = _recording_get_cam_image  # Grad-CAM's signed Σ_c w_c A_c, before BaseCAM's ReLU


def rebuild(name):
    """The exact model of make_fixtures.make_model_fixture (same RNG order), and its input."""
    spec = mf.MODELS[name]
    torch.manual_seed(spec["seed"])
    model = spec["build"]()
    mf.no_inplace(model)
    for p in model.parameters():
        p.requires_grad_(False)
    hw = spec["hw"]
    mf.randomise_biases(model)
    mf.randomise_batchnorm(model, hw)
    model.eval()
    x = torch.randn(1, 3, hw, hw)
    mf.normalise_head(model, x)
    return model, x


def tap_residual_add(block):
    """torchvision BasicBlock forward with an nn.Identity module on the residual Add (same arithmetic)."""
    block.tap = nn.Identity()

    def forward(x):
        out = block.relu(block.bn1(block.conv1(x)))
        out = block.bn2(block.conv2(out))
        identity = x if block.downsample is None else block.downsample(x)
        return torch.relu(block.tap(out + identity))

    block.forward = forward


def main(argv):
    names = argv or list(TARGETS)
    for name in names:
        onnx_dir = ROOT / "test" / "fixtures" / "onnx" / name
        onnx_man = json.loads((onnx_dir / "manifest.json").read_text())
        model, x = rebuild(name)
        if name == "resnet18":
            tap_residual_add(model.layer2[1])
        # parameters must take gradients through the graph: pytorch-grad-cam backprops the logit
        x_saved = np.load(onnx_dir / "input.npy")
        assert np.array_equal(x.numpy(), x_saved), f"{name}: rebuilt input differs from input.npy"
        with torch.no_grad():
            logits = model(x).numpy()
        logit_err = float(np.abs(logits - np.load(onnx_dir / "logits.npy")).max())
        assert logit_err < 1e-5, f"{name}: logits differ from logits.npy by {logit_err}"
        top = int(logits[0].argmax())
        assert top == onnx_man["topClass"]
        inner = {e["label"]: e for e in onnx_man["inner"]}

        d = OUT_DIR / name
        d.mkdir(parents=True, exist_ok=True)
        for p in d.glob("*.npy"):
            p.unlink()
        layers = []
        for label, path in TARGETS[name]:
            e = inner[label]
            layers.append(OrderedDict(label=label, tensor=e["tensor"], op=e["op"], torchModule=path,
                                      shape=[e["shape"][2], e["shape"][3], e["shape"][1]], maps={}))
        for method, cls in METHODS.items():
            target_layers = [mf.get_module(model, path) for _l, path in TARGETS[name]]
            _recorded.clear()
            _signed.clear()
            x_in = x.clone().requires_grad_(True)  # frozen weights: gradients must flow from the input
            with cls(model=model, target_layers=target_layers) as cam:
                cam(input_tensor=x_in, targets=[ClassifierOutputTarget(top)])
            assert len(_recorded) == len(target_layers), (method, len(_recorded))
            for layer, raw in zip(layers, _recorded):
                raw = raw[0].astype(np.float32)  # batch 1 -> [H, W]
                assert list(raw.shape) == layer["shape"][:2], (method, layer["label"], raw.shape)
                f = f"{method}_{layer['label']}.npy"
                np.save(d / f, raw)
                layer["maps"][method] = f
                if method == "gradcam":
                    fs = f"gradcam_signed_{layer['label']}.npy"
                    np.save(d / fs, _signed[layers.index(layer)][0].astype(np.float32))
                    layer["gradcamSigned"] = fs
                print(f"{name} {method:9s} {layer['label']:7s} {raw.shape} max {raw.max():.4g} "
                      f"nonzero {np.count_nonzero(raw)}/{raw.size}")
        man = OrderedDict(
            name=name,
            pytorchGradCam=OrderedDict(repo="https://github.com/jacobgil/pytorch-grad-cam", commit=PGC_COMMIT),
            torch=torch.__version__,
            onnxFixture=f"test/fixtures/onnx/{name}",
            topClass=top,
            target="ClassifierOutputTarget(topClass): the raw logit",
            maps="raw per-layer cam: max(get_cam_image(A, G), 0), before scale_cam_image (no normalisation, "
                 "no resize); float32 [H, W]. gradcamSigned: Grad-CAM's Σ_c w_c A_c before that ReLU",
            logitsMaxAbsDiff=logit_err,
            layers=layers,
        )
        (d / "manifest.json").write_text(json.dumps(man, indent=2) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
