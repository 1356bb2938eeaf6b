#!/usr/bin/python3
"""Run the authors' NAFlow code (github.com/ly9802/NAFlow) on AlexNet and write a parity fixture.

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/parity/run_authors.py AUTHORS_DIR \
        [--image assets/photos/chelsea.png] [--out test/fixtures/parity/alexnet-chelsea] [--width reduced|full]

AUTHORS_DIR is a checkout of the authors' repository (tools/parity/README.md says which commit). Their
modules are imported from there, never copied. What runs is their `AlexNet_Flow.forward` (forward pass,
unit registration incl. the "complex" fusion, top gradient, the NA-BP cascade, the channel sum), their
`Reverse*` units and their preprocessing (`util.utils.transform_function` / `read_image`, as `main.py`).

Run-time patches (documented in README.md; the authors' files are not edited):
  1. `torch.autograd.grad(..., materialize_grads=True)` needs PyTorch >= 2.1: on Debian's 1.13 the
     argument is dropped and None results are replaced by zeros (what the argument does).
  2. `batch_jacobian` would allocate dense m x n Jacobians (tens of GB for AlexNet's conv2) whose rows are
     all zero, because it differentiates w.r.t. a view of the unit input made after the forward pass
     (tools/parity/zero_jacobian_demo.py shows this on a small layer). It is replaced by a function that
     returns the same all-zero matrix as a zero-stride tensor (no memory) and, to check the premise on
     the real layers, asks autograd for three rows (first, middle, last) with the code's own arguments
     and fails unless every answer is None (= the code's zero row).
     `apply_inverse_lsmr` then calls SciPy's real `lsmr` with the code's atol/btol on a zero
     LinearOperator of the same shape and dtype (a dense zero matrix of 2 x 10^9 entries would be copied by
     BLAS). LSMR on a zero matrix returns x = 0 (float64), so the code's own fallback (BPFM := forward
     input) runs exactly as it would with enough memory.

Recorded (no edit of their code either): the raw per-layer maps are the argument of
`AlexNet_Flow.scale_batch_map` (sum over channels of ReLU(B * G), before min-max normalisation / resize /
colour); each unit's call is logged by wrapping the `Reverse*.forward` methods.

--width reduced (default, the committed fixture) keeps the authors' AlexNet_Flow / AlexNet classes and
replaces the children of `model.features` and `model.classifier` by narrower layers of the same kinds,
kernel sizes, strides and paddings, chosen so the code registers the same 11 units (see README.md).
--width full loads torchvision.models.alexnet(weights=None) (seed 0) into AlexNet_Flow, as main.py loads
the pretrained checkpoint (model.onnx is then ~244 MB: for local checks only, not for committing).
"""
import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authors_compat import SHIM_STATS, import_authors, patch_materialize_grads  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SEED = 0
# reduced widths: conv1 must keep numel(out) >= numel(in) (64*55*55 >= 3*224*224 needs >= 50 channels),
# conv2, conv3 grow (q > p), conv4 shrinks below conv3 but stays above conv2's width (so the code fuses
# exactly conv3 -> ReLU3 -> conv4 into a "complex" unit), conv5 is square: the same unit list as AlexNet.
REDUCED = {"c1": 64, "c2": 80, "c3": 160, "c4": 112, "c5": 112, "hidden": 96, "classes": 1000}
FULL = {"c1": 64, "c2": 192, "c3": 384, "c4": 256, "c5": 256, "hidden": 4096, "classes": 1000}
# the units the code registers for torchvision's AlexNet (unit 0, conv1, is never called)
ALEXNET_UNITS = ["ReverseConv", "ReverseReLU", "ReverseMaxPool2d", "ReverseConv", "ReverseReLU", "ReverseMaxPool2d",
                 "ReverseComplex", "ReverseReLU", "ReverseConv", "ReverseReLU", "ReverseMaxPool2d"]
ONNX_OP = {nn.Conv2d: "Conv", nn.ReLU: "Relu", nn.MaxPool2d: "MaxPool"}


def narrow_layers(w):
    """The AlexNet `features` / `classifier` layer lists (torchvision layout) with widths `w`."""
    features = nn.Sequential(
        nn.Conv2d(3, w["c1"], kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(w["c1"], w["c2"], kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(w["c2"], w["c3"], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(w["c3"], w["c4"], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(w["c4"], w["c5"], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    classifier = nn.Sequential(
        nn.Dropout(),
        nn.Linear(w["c5"] * 6 * 6, w["hidden"]),
        nn.ReLU(inplace=True),
        nn.Dropout(),
        nn.Linear(w["hidden"], w["hidden"]),
        nn.ReLU(inplace=True),
        nn.Linear(w["hidden"], w["classes"]),
    )
    return features, classifier


def build_net(af, width):
    torch.manual_seed(SEED)
    np.random.seed(SEED)
    net = af.AlexNet_Flow()  # the authors' class; its AlexNet has torchvision's layout minus avgpool
    if width == "full":
        import torchvision

        torch.manual_seed(SEED)
        tv = torchvision.models.alexnet(weights=None)
        msg = net.model.load_state_dict(tv.state_dict(), strict=False)  # as util.utils.load_pretrained_weights
        assert not msg.missing_keys and not msg.unexpected_keys, msg
        widths = FULL
    else:
        torch.manual_seed(SEED)
        features, classifier = narrow_layers(REDUCED)
        for name, new in (("features", features), ("classifier", classifier)):
            old = getattr(net.model, name)
            assert [type(m) for m in old.children()] == [type(m) for m in new.children()], name
            for a, b in zip(old.children(), new.children()):
                for attr in ("kernel_size", "stride", "padding", "dilation", "groups", "ceil_mode", "inplace", "p"):
                    assert getattr(a, attr, None) == getattr(b, attr, None), (name, a, b, attr)
            setattr(net.model, name, new)
        widths = REDUCED
    net.eval()
    return net, widths


class Recorder:
    """Patches: materialize_grads shim, zero-Jacobian stub, LSMR on a zero operator, call logging."""

    def __init__(self, bpm, af):
        self.bpm, self.af = bpm, af
        self.raw_maps = []
        self.unit_calls = []
        self.jacobian_checks = []
        self.lsmr_calls = []

    def install(self):
        bpm, af = self.bpm, self.af
        self.materialize_shim = patch_materialize_grads()
        rec = self

        def batch_jacobian(x, y):  # same contract as the code's: (bs, min(m, n), n), rows for outputs
            batch_size, n = x.shape
            m = y.size(dim=-1)
            rows = sorted({0, m // 2, m - 1})
            answers = []
            for i in rows:  # the code's own call for row i
                grad_outputs = torch.zeros_like(y, device=x.device)
                grad_outputs[:, i] = 1.0
                g = torch.autograd.grad(outputs=y, inputs=x, allow_unused=True, grad_outputs=grad_outputs,
                                        retain_graph=True, create_graph=False)[0]
                answers.append(g is None)
            if not all(answers):
                raise RuntimeError(f"batch_jacobian premise failed: a row of the {m}x{n} Jacobian is not None")
            rec.jacobian_checks.append({"m": m, "n": n, "rowsChecked": rows, "allNone": True})
            return torch.zeros((), dtype=torch.float32, device=x.device).expand(batch_size, min(m, n), n)

        def apply_inverse_lsmr(A, Y, atol=1e-8, btol=1e-8):
            from scipy.sparse.linalg import LinearOperator, lsmr

            assert A.strides == (0, 0) and float(A.flat[0]) == 0.0, "expected the zero-stride zero Jacobian"
            zero = LinearOperator(A.shape, dtype=A.dtype, matvec=lambda v: np.zeros(A.shape[0], dtype=A.dtype),
                                  rmatvec=lambda v: np.zeros(A.shape[1], dtype=A.dtype))
            x, istop, itn, *_ = lsmr(zero, Y, atol=atol, btol=btol)
            rec.lsmr_calls.append({"shape": list(A.shape), "istop": int(istop), "itn": int(itn),
                                   "maxAbsX": float(np.abs(x).max()), "dtype": str(x.dtype)})
            return x

        bpm.batch_jacobian = batch_jacobian
        bpm.apply_inverse_lsmr = apply_inverse_lsmr

        original_scale = af.AlexNet_Flow.scale_batch_map

        def scale_batch_map(net_self, bmap, target_size=None):
            rec.raw_maps.append(np.array(bmap, copy=True))
            return original_scale(net_self, bmap, target_size)

        af.AlexNet_Flow.scale_batch_map = scale_batch_map

        for cls in (bpm.ReverseReLU, bpm.ReverseMaxPool2d, bpm.ReverseConv, bpm.ReverseComplex):
            original_forward = cls.forward

            def forward(unit, x, grad=None, _orig=original_forward, _cls=cls.__name__):
                y, g = _orig(unit, x, grad)
                rec.unit_calls.append({"unit": _cls, "module": unit.module, "input": unit.input,
                                       "output": unit.output, "bpfm": y.detach().clone(), "grad": g.detach().clone()})
                return y, g

            cls.forward = forward


def producers(net):
    """Forward hooks on model.features: tensor id -> (index, module) of the LAST module that returned it
    (an in-place ReLU returns its input tensor, so the ReLU wins over the conv that computed it)."""
    table = {}
    handles = []
    for idx, module in enumerate(net.model.features.children()):
        def hook(mod, inp, out, _idx=idx):
            table[id(out)] = (_idx, mod, out)
        handles.append(module.register_forward_hook(hook))
    return table, handles


def onnx_name(idx, module):
    return f"/features/features.{idx}/{ONNX_OP[type(module)]}_output_0"


def max_pool_ties(net, table):
    """Per max-pool: windows whose maximum is positive and shared by two entries (exact), or by two entries
    within 1e-5 relative (could flip between implementations), and windows of exact zeros (harmless)."""
    by_idx = {idx: out for idx, _m, out in table.values()}
    result = []
    for idx, module in enumerate(net.model.features.children()):
        if not isinstance(module, nn.MaxPool2d):
            continue
        a = by_idx[idx - 1].detach()
        cols = torch.nn.functional.unfold(a, module.kernel_size, stride=module.stride, padding=module.padding)
        cols = cols.view(a.shape[1], module.kernel_size * module.kernel_size, -1)
        s = cols.sort(dim=1, descending=True).values
        top, second = s[:, 0], s[:, 1]
        result.append({"module": f"features.{idx}", "windows": int(top.numel()),
                       "positiveExactTies": int(((top == second) & (top > 0)).sum()),
                       "positiveNearTies1e-5": int(((top - second <= 1e-5 * top) & (top > 0)).sum()),
                       "allZeroWindows": int((top == 0).sum())})
    return result


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("authors_dir")
    ap.add_argument("--image", default=str(ROOT / "assets/photos/chelsea.png"))
    ap.add_argument("--out", default=str(ROOT / "test/fixtures/parity/alexnet-chelsea"))
    ap.add_argument("--width", choices=["reduced", "full"], default="reduced")
    args = ap.parse_args()
    torch.set_num_threads(1)

    bpm, af, uu = import_authors(args.authors_dir)
    rec = Recorder(bpm, af)
    rec.install()
    net, widths = build_net(af, args.width)

    # preprocessing exactly as main.py: util.utils.transform_function(224, is_train=False), read_image, unsqueeze
    trans = uu.transform_function(resolution=224, is_train=False)
    x = trans(uu.read_image(args.image)).unsqueeze(dim=0)

    table, handles = producers(net)
    predicted_label, flow_list = net(x)
    for h in handles:
        h.remove()
    with torch.no_grad():
        logits = net.model(x)
    assert int(logits.argmax()) == predicted_label

    # ---- the 11 maps: inputs of units 1..10 (called deep -> shallow) + the top ----------------------
    calls = list(reversed(rec.unit_calls))  # shallow -> deep: calls[i] is unit i+1
    got = [c["unit"] for c in calls]
    assert got == ALEXNET_UNITS[1:], f"the code registered other units than for AlexNet: {got}"
    assert len(rec.raw_maps) == len(calls) + 1 == len(flow_list), (len(rec.raw_maps), len(calls))
    # the top is the output of the last features child (the tensor that feeds the classifier)
    last = [v for v in table.values() if v[0] == len(net.model.features) - 1]
    assert len(last) == 1
    top_tensor = last[0][2]

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for f in out.glob("*.npy"):
        f.unlink()
    np.save(out / "input.npy", x.detach().numpy().astype(np.float32))
    np.save(out / "logits.npy", logits.numpy().astype(np.float32))

    maps = []
    unit_names = []
    for i, raw in enumerate(rec.raw_maps):
        assert raw.shape[0] == 1
        if i < len(calls):
            c = calls[i]
            tensor, role = c["input"], f"input of unit {i + 1} ({c['unit']}: {type(c['module']).__name__ if not isinstance(c['module'], nn.Sequential) else ' -> '.join(type(m).__name__ for m in c['module'])})"
            unit_names.append(c["unit"])
        else:
            tensor, role = top_tensor, "top: output of the last features layer (feeds the classifier)"
        idx, module, _ = table[id(tensor)]
        name = onnx_name(idx, module)
        entry = {
            "index": i,
            "file": f"map_{i:02d}.npy",
            "tensor": name,
            "torchModule": f"features.{idx}",
            "authorsTensor": role,
            "shape": list(raw.shape[1:]),
            "authorsDtype": str(raw.dtype),
            "max": float(raw.max()),
            "nonzero": int((raw != 0).sum()),
        }
        if isinstance(module, nn.ReLU) and idx > 0 and isinstance(net.model.features[idx - 1], nn.Conv2d):
            entry["alsoEquals"] = onnx_name(idx - 1, net.model.features[idx - 1])
            entry["note"] = (f"features.{idx - 1} (Conv) is followed by an in-place ReLU: the tensor the code stores "
                             f"as the conv output / ReLU input IS the ReLU output. In naflow the pre-activation "
                             f"tensor {entry['alsoEquals']} has the same map: where it is <= 0 its importance is 0, "
                             f"elsewhere it equals the ReLU output.")
        if i < len(calls):
            c = calls[i]
            a = c["input"].detach().to(c["bpfm"].dtype)
            masked = a * (c["grad"] != 0).to(a.dtype)
            entry["bpfmMismatchesVsForwardTimesMask"] = int((c["bpfm"] != masked).sum())
            entry["kept"] = float((c["grad"] != 0).float().mean())
        np.save(out / entry["file"], raw[0].astype(np.float32))
        maps.append(entry)

    onnx_path = out / "model.onnx"
    torch.onnx.export(net.model, x, str(onnx_path), opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=["input"], output_names=["logits"])
    import onnx

    graph = onnx.load(str(onnx_path)).graph
    produced = {o: n.op_type for n in graph.node for o in n.output}
    for e in maps:
        for key in ("tensor", "alsoEquals"):
            if key in e:
                assert e[key] in produced, f"{e[key]} is not a node output of the export"
        e["op"] = produced[e["tensor"]]

    try:
        commit = subprocess.run(["git", "-C", args.authors_dir, "rev-parse", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
    except Exception:  # a checkout without .git: say so
        commit = None
    import scipy
    import torchvision

    manifest = {
        "name": f"alexnet-chelsea{'' if args.width == 'reduced' else '-full'}",
        "source": "github.com/ly9802/NAFlow (MIT): AlexNet_Flow.forward run by tools/parity/run_authors.py",
        "authorsCommit": commit,
        "authorsFiles": {rel: sha256(Path(args.authors_dir) / rel) for rel in
                         ("model/alexnetFlow.py", "model/BackPropagationModule.py", "util/utils.py")},
        "torch": torch.__version__, "torchvision": torchvision.__version__, "numpy": np.__version__,
        "scipy": scipy.__version__, "onnxPackage": onnx.__version__, "opset": 13,
        "seed": SEED,
        "width": args.width,
        "widths": widths,
        "image": os.path.relpath(args.image, ROOT) if str(Path(args.image).resolve()).startswith(str(ROOT)) else args.image,
        "preprocessing": "util.utils.transform_function(224, is_train=False): Resize((224,224), BICUBIC) on the PIL "
                         "image (antialias), ToTensor, Normalize(ImageNet mean/std); read_image converts to RGB",
        "model": "model.onnx",
        "input": {"name": "input", "file": "input.npy", "shape": list(x.shape), "layout": "NCHW"},
        "logits": {"name": "logits", "file": "logits.npy", "shape": list(logits.shape)},
        "predictedClass": predicted_label,
        "units": ["ReverseConv (conv1: registered, never inverted)"] + unit_names,
        "patches": {
            "materializeGradsShim": {"installed": rec.materialize_shim, **SHIM_STATS},
            "jacobianStub": rec.jacobian_checks,
            "lsmrOnZeroOperator": rec.lsmr_calls,
        },
        "maxPoolTies": max_pool_ties(net, table),
        "maps": maps,
        "mapNote": "map_i = the code's sum over channels of ReLU(B*G) for map i (the argument of scale_batch_map), "
                   "H x W row-major, saved as float32 (authorsDtype: what the code had; LSMR returns float64, so the "
                   "BPFMs below a conv/complex unit are float64). Maps 0..9 belong to the inputs of units 1..10, map "
                   "10 to the top. Unit 0 (conv1) is never inverted, so the image gets no map.",
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    print(f"authors' commit {commit}; predicted class {predicted_label}; widths {widths}")
    print(f"units called (deep -> shallow): {[c['unit'] for c in rec.unit_calls]}")
    print(f"jacobian stub: {rec.jacobian_checks}")
    print(f"lsmr: {rec.lsmr_calls}")
    print(f"max-pool ties: {manifest['maxPoolTies']}")
    for e in maps:
        print(f"  map {e['index']:2d} {e['tensor']:<40s} {e['shape']} kept={e.get('kept', 1):.3f} "
              f"max={e['max']:.4g} bpfm-mismatch={e.get('bpfmMismatchesVsForwardTimesMask', '-')}")
    total = sum(f.stat().st_size for f in out.iterdir())
    print(f"wrote {out} ({total / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
