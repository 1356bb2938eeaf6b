#!/usr/bin/python3
"""PyTorch-computed reference fixtures for naflow's ONNX importer.

How to run (Debian 12 bookworm; needs Debian's PyTorch, not a pip one):

    apt-get update && apt-get install -y python3-torch python3-torchvision python3-onnx
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/make_fixtures.py            # all fixtures
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/make_fixtures.py resnet18   # just some

Use /usr/bin/python3 (the Debian interpreter that sees python3-torch). The script writes
test/fixtures/onnx/<name>/{model.onnx,input.npy,logits.npy,grad_input.npy,<inner>.npy,manifest.json}
for reduced-width torchvision models, the op-zoo models and the DequantizeLinear model, and
test/fixtures/bad/unknown-op.onnx. Every model is built from its own torch.manual_seed, so a rerun
on the same torch build reproduces the files (see test/fixtures/README.md for the format).

Dependencies: torch, torchvision, onnx and numpy (all from Debian). onnxruntime is not needed.
"""
import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import importlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections import Counter, OrderedDict  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402
import torchvision  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
tv_alexnet = importlib.import_module("torchvision.models.alexnet")
tv_densenet = importlib.import_module("torchvision.models.densenet")
tv_googlenet = importlib.import_module("torchvision.models.googlenet")
tv_mobilenetv2 = importlib.import_module("torchvision.models.mobilenetv2")
tv_resnet = importlib.import_module("torchvision.models.resnet")
tv_vgg = importlib.import_module("torchvision.models.vgg")
from torchvision.ops.misc import Conv2dNormActivation  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "test" / "fixtures"
ONNX_DIR = FIXTURES / "onnx"
BAD_DIR = FIXTURES / "bad"
NUM_CLASSES = 100  # reduced head, keeps the files small
TORCH_VERSION = torch.__version__


# --------------------------------------------------------------------------------------------
# reduced-width torchvision models (same classes / block structure, fewer channels)
# --------------------------------------------------------------------------------------------

class NarrowResNet(tv_resnet.ResNet):
    """torchvision ResNet with every channel count divided by `div` (stem 64/div, layers 64..512/div)."""

    def __init__(self, block, layers, div, num_classes=NUM_CLASSES):
        self._div = div
        self._first_layer = True
        super().__init__(block, layers, num_classes=num_classes)
        base = 64 // div
        self.conv1 = nn.Conv2d(3, base, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.fc = nn.Linear(512 // div * block.expansion, num_classes)
        nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
        if self._first_layer:  # the stem was built with 64 channels; layer1 sees 64/div
            self.inplanes = 64 // self._div
            self._first_layer = False
        return super()._make_layer(block, planes // self._div, blocks, stride, dilate)


def build_resnet18():
    return NarrowResNet(tv_resnet.BasicBlock, [2, 2, 2, 2], div=8)


def build_resnet50():
    return NarrowResNet(tv_resnet.Bottleneck, [3, 4, 6, 3], div=8)


def build_alexnet(div=8, hidden=128):
    m = tv_alexnet.AlexNet(num_classes=NUM_CLASSES)
    c = [64 // div, 192 // div, 384 // div, 256 // div, 256 // div]
    m.features = nn.Sequential(
        nn.Conv2d(3, c[0], kernel_size=11, stride=4, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c[0], c[1], kernel_size=5, padding=2),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(c[1], c[2], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c[2], c[3], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(c[3], c[4], kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )
    m.classifier = nn.Sequential(
        nn.Dropout(p=0.5),
        nn.Linear(c[4] * 6 * 6, hidden),
        nn.ReLU(inplace=True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, NUM_CLASSES),
    )
    return m


def build_vgg16(div=16, hidden=64):
    cfg = [v if v == "M" else v // div for v in tv_vgg.cfgs["D"]]
    m = tv_vgg.VGG(tv_vgg.make_layers(cfg, batch_norm=False), num_classes=NUM_CLASSES, init_weights=True)
    last = 512 // div
    m.classifier = nn.Sequential(
        nn.Linear(last * 7 * 7, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, hidden),
        nn.ReLU(True),
        nn.Dropout(p=0.5),
        nn.Linear(hidden, NUM_CLASSES),
    )
    return m


def build_densenet121():
    # real densenet121: growth 32, 64 init features, bn_size 4, blocks (6, 12, 24, 16)
    return tv_densenet.DenseNet(growth_rate=4, block_config=(6, 12, 24, 16), num_init_features=8,
                                bn_size=4, drop_rate=0, num_classes=NUM_CLASSES)


def build_mobilenet_v2(last_channel=320):
    m = tv_mobilenetv2.MobileNetV2(num_classes=NUM_CLASSES, width_mult=0.25)
    # width_mult < 1 keeps the 1280-channel last conv; narrow it (and the classifier) as well
    m.features[-1] = Conv2dNormActivation(m.features[-2].out_channels, last_channel, kernel_size=1,
                                          norm_layer=nn.BatchNorm2d, activation_layer=nn.ReLU6)
    m.last_channel = last_channel
    m.classifier[1] = nn.Linear(last_channel, NUM_CLASSES)
    return m


def build_googlenet(div=8):
    def conv_block(in_ch, out_ch, **kw):
        return tv_googlenet.BasicConv2d(in_ch if in_ch == 3 else in_ch // div, out_ch // div, **kw)

    def inception_block(*chans, **kw):
        return tv_googlenet.Inception(*[c // div for c in chans], **kw)

    m = tv_googlenet.GoogLeNet(num_classes=NUM_CLASSES, aux_logits=False, transform_input=False,
                               init_weights=True,
                               blocks=[conv_block, inception_block, tv_googlenet.InceptionAux])
    m.fc = nn.Linear(1024 // div, NUM_CLASSES)
    nn.init.trunc_normal_(m.fc.weight, mean=0.0, std=0.01, a=-2, b=2)
    return m


# --------------------------------------------------------------------------------------------
# op zoo: the ops the torchvision models above do not cover
# --------------------------------------------------------------------------------------------

class OpZoo(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv0 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn0 = nn.BatchNorm2d(8)
        self.lrelu = nn.LeakyReLU(0.1)
        self.prelu = nn.PReLU(8, init=0.2)
        self.register_buffer("c_sub", torch.randn(1, 8, 1, 1) * 0.1)
        self.register_buffer("c_div", torch.rand(1, 8, 1, 1) + 0.5)
        self.register_buffer("c_mul", torch.randn(1, 8, 1, 1))
        self.gconv = nn.Conv2d(8, 8, 3, padding=1, groups=2)
        self.dconv = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.relu6 = nn.ReLU6()
        self.hardtanh = nn.Hardtanh(-1.0, 1.0)
        self.hsig = nn.Hardsigmoid()
        self.hswish = nn.Hardswish()
        self.pconv = nn.Conv2d(8, 8, 3)  # no padding: 18x18 -> 16x16
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)  # 16 -> 8
        self.avgpool = nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)  # 16 -> 9
        self.convt = nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1)  # 16 -> 32
        self.maxpool2 = nn.MaxPool2d(2, stride=2)  # 32 -> 16
        self.fc = nn.Linear(4 * 256, num_classes)

    def forward(self, x):
        a = self.prelu(self.lrelu(self.bn0(self.conv0(x))))            # [1,8,32,32]
        b = (a - self.c_sub) / self.c_div * self.c_mul                   # Sub, Div, Mul (per-channel)
        g = self.relu6(self.gconv(b))                                    # grouped conv, Clip(0,6)
        d = self.dconv(b)                                                # dilated conv
        h = g * torch.sigmoid(d) + self.hswish(d) - torch.tanh(self.hsig(g)) + self.hardtanh(d)
        s = h[:, :, ::2, 1::2]                                           # strided Slice -> [1,8,16,16]
        pc = F.pad(s, (1, 1, 1, 1), mode="constant", value=0.5)          # [1,8,18,18]
        pr = F.pad(s, (1, 1, 1, 1), mode="reflect")
        q = self.pconv(pc - pr * 0.5)                                    # [1,8,16,16]
        mp = self.maxpool(q)                                             # [1,8,8,8]
        ap = self.avgpool(q)                                             # [1,8,9,9] (ceil_mode)
        un = F.interpolate(mp, scale_factor=2, mode="nearest")           # [1,8,16,16]
        ub = F.interpolate(ap, size=(16, 16), mode="bilinear", align_corners=False)
        t = self.convt(un + ub)                                          # [1,4,32,32]
        m = t.mean(dim=[2, 3], keepdim=True)                             # ReduceMean [1,4,1,1]
        r = self.maxpool2(t * m)                                         # [1,4,16,16]
        f = r.reshape(1, 4, 256)
        att = torch.softmax(torch.matmul(f, f.permute(0, 2, 1)) / 16.0, dim=-1)  # [1,4,4]
        o = torch.matmul(att, f)                                         # [1,4,256]
        return self.fc(torch.flatten(o, 1))


# --------------------------------------------------------------------------------------------
# model table
# --------------------------------------------------------------------------------------------
# inner: (label, module path, "out"|"in", call index of that module, ONNX tensor name, ONNX op type)
#   "out": the module's output of that call; "in": its first input (used for the residual Add
#   feeding the block's final ReLU, whose value is not a module output in PyTorch).

MODELS = OrderedDict()
MODELS["alexnet"] = dict(
    build=build_alexnet, seed=101, opset=11, hw=224,
    inner=[
        ("shallow", "features.2", "out", 0, "/features/features.2/MaxPool_output_0", "MaxPool"),
        ("middle", "features.7", "out", 0, "/features/features.7/Relu_output_0", "Relu"),
        ("deep", "features.12", "out", 0, "/features/features.12/MaxPool_output_0", "MaxPool"),
    ])
MODELS["vgg16"] = dict(
    build=build_vgg16, seed=102, opset=13, hw=224,
    inner=[
        ("shallow", "features.4", "out", 0, "/features/features.4/MaxPool_output_0", "MaxPool"),
        ("middle", "features.13", "out", 0, "/features/features.13/Relu_output_0", "Relu"),
        ("deep", "features.30", "out", 0, "/features/features.30/MaxPool_output_0", "MaxPool"),
    ])
MODELS["resnet18"] = dict(
    build=build_resnet18, seed=103, opset=17, hw=64,
    inner=[
        ("shallow", "maxpool", "out", 0, "/maxpool/MaxPool_output_0", "MaxPool"),
        ("middle", "layer2.1.relu", "in", 1, "/layer2/layer2.1/Add_output_0", "Add"),
        ("deep", "layer4", "out", 0, "/layer4/layer4.1/relu_1/Relu_output_0", "Relu"),
    ])
MODELS["resnet50"] = dict(
    build=build_resnet50, seed=104, opset=13, hw=96,
    inner=[
        ("shallow", "maxpool", "out", 0, "/maxpool/MaxPool_output_0", "MaxPool"),
        ("middle", "layer3.0.relu", "in", 2, "/layer3/layer3.0/Add_output_0", "Add"),
        ("deep", "layer4", "out", 0, "/layer4/layer4.2/relu_2/Relu_output_0", "Relu"),
    ])
MODELS["densenet121"] = dict(
    build=build_densenet121, seed=105, opset=11, hw=64,
    inner=[
        ("shallow", "features.pool0", "out", 0, "/features/pool0/MaxPool_output_0", "MaxPool"),
        ("middle", "features.denseblock2", "out", 0, "/features/denseblock2/Concat_output_0", "Concat"),
        ("deep", "features.denseblock4", "out", 0, "/features/denseblock4/Concat_output_0", "Concat"),
    ])
MODELS["mobilenet_v2"] = dict(
    build=build_mobilenet_v2, seed=106, opset=17, hw=96,
    inner=[
        ("shallow", "features.0", "out", 0, "/features/features.0/features.0.2/Clip_output_0", "Clip"),
        ("middle", "features.10", "out", 0, "/features/features.10/Add_output_0", "Add"),
        ("deep", "features.18", "out", 0, "/features/features.18/features.18.2/Clip_output_0", "Clip"),
    ])
MODELS["googlenet"] = dict(
    build=build_googlenet, seed=107, opset=13, hw=96,
    inner=[
        ("shallow", "conv2", "out", 0, "/conv2/Relu_output_0", "Relu"),
        ("middle", "inception4a.branch2.1.conv", "out", 0, "/inception4a/branch2/branch2.1/conv/Conv_output_0", "Conv"),
        ("deep", "inception5b", "out", 0, "/inception5b/Concat_output_0", "Concat"),
    ])
MODELS["opzoo"] = dict(
    build=OpZoo, seed=108, opset=17, hw=32,
    inner=[
        ("prelu", "prelu", "out", 0, "/prelu/PRelu_output_0", "PRelu"),
        ("padded", "pconv", "in", 0, "/Sub_4_output_0", "Sub"),
        ("resized", "convt", "in", 0, "/Add_2_output_0", "Add"),
        ("convt", "convt", "out", 0, "/convt/ConvTranspose_output_0", "ConvTranspose"),
        ("attention", "fc", "in", 0, "/Flatten_output_0", "Flatten"),
    ])
MODELS["opzoo_opset11"] = dict(
    build=OpZoo, seed=108, opset=11, hw=32,
    inner=[
        ("prelu", "prelu", "out", 0, "/prelu/PRelu_output_0", "PRelu"),
        ("padded", "pconv", "in", 0, "/Sub_4_output_0", "Sub"),
        ("resized", "convt", "in", 0, "/Add_2_output_0", "Add"),
        ("convt", "convt", "out", 0, "/convt/ConvTranspose_output_0", "ConvTranspose"),
        ("attention", "fc", "in", 0, "/Flatten_output_0", "Flatten"),
    ])


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------

def no_inplace(model):
    """In-place ReLUs would overwrite tensors whose gradients we retain; the ONNX graph is unchanged."""
    for m in model.modules():
        if hasattr(m, "inplace"):
            m.inplace = False


@torch.no_grad()
def randomise_batchnorm(model, hw):
    """Give every BatchNorm real statistics (so it is not an identity): estimate running stats on
    random batches in train mode (keeps activations well scaled through depth), then perturb them and
    draw a random affine weight/bias."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    if not bns:
        return
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for _ in range(4):
        model(torch.randn(1, 3, hw, hw))
    for m in bns:
        c = m.num_features
        m.running_var.mul_(torch.empty(c).uniform_(0.7, 1.4))
        m.running_mean.add_(torch.randn(c) * 0.1 * m.running_var.sqrt())
        m.weight.copy_(torch.empty(c).uniform_(0.6, 1.4))
        m.bias.copy_(torch.randn(c) * 0.1)
    model.eval()


@torch.no_grad()
def randomise_biases(model):
    """torchvision zero-initialises many biases; give them values so bias handling is tested (and so the
    exporter does not deduplicate identical zero initialisers into Identity nodes)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)) and m.bias is not None:
            m.bias.uniform_(-0.1, 0.1)


@torch.no_grad()
def normalise_head(model, x):
    """Scale the last Linear so the logits have unit standard deviation (random deep nets otherwise give
    logits of 1e-4 or 1e3, which makes tolerance checks meaningless)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    s = float(model(x).std())
    last.weight.div_(s)
    last.bias.div_(s)


def get_module(model, path):
    m = model
    for p in path.split("."):
        m = getattr(m, p)
    return m


def onnx_outputs(model_proto):
    out = {}
    for n in model_proto.graph.node:
        for o in n.output:
            out[o] = n.op_type
    return out


def save_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr, dtype=np.float32))


def run_reference(model, x, inner_specs):
    """Forward + backward of the top logit. Returns logits, top, grad_input, [(value, grad)] per spec."""
    captured = {}
    hooks = []
    for (label, path, where, call, _name, _op) in inner_specs:
        mod = get_module(model, path)
        state = {"n": 0}

        def hook(m, inp, out, label=label, where=where, call=call, state=state):
            if state["n"] == call:
                t = out if where == "out" else inp[0]
                t.retain_grad()
                captured[label] = t
            state["n"] += 1

        hooks.append(mod.register_forward_hook(hook))
    x = x.clone().requires_grad_(True)
    logits = model(x)
    top = int(logits[0].argmax())
    logits[0, top].backward()
    for h in hooks:
        h.remove()
    inner = []
    for (label, *_rest) in inner_specs:
        t = captured[label]
        inner.append((t.detach().numpy().copy(), t.grad.detach().numpy().copy()))
    return logits.detach().numpy(), top, x.grad.detach().numpy(), inner


def export(model, x, path, opset):
    torch.onnx.export(model, x, str(path), opset_version=opset, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE,
                      input_names=["input"], output_names=["logits"])


def write_manifest(d, name, opset, x_shape, logits, top, inner_entries, proto, extra=None):
    counts = Counter(n.op_type for n in proto.graph.node)
    man = OrderedDict()
    man["name"] = name
    man["torch"] = TORCH_VERSION
    man["torchvision"] = torchvision.__version__
    man["onnxPackage"] = onnx.__version__
    man["opset"] = opset
    man["model"] = "model.onnx"
    man["input"] = {"name": "input", "shape": list(x_shape), "file": "input.npy"}
    man["logits"] = {"name": "logits", "file": "logits.npy", "shape": list(logits.shape)}
    man["topClass"] = top
    man["gradInput"] = "grad_input.npy"
    man["inner"] = inner_entries
    man["nodeCounts"] = dict(sorted(counts.items()))
    if extra:
        man.update(extra)
    with open(d / "manifest.json", "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    return counts


def clean_dir(d):
    d.mkdir(parents=True, exist_ok=True)
    for p in d.iterdir():
        if p.is_file():
            p.unlink()


def make_model_fixture(name, spec):
    torch.manual_seed(spec["seed"])
    model = spec["build"]()
    no_inplace(model)
    for p in model.parameters():
        p.requires_grad_(False)
    hw = spec["hw"]
    randomise_biases(model)
    randomise_batchnorm(model, hw)
    model.eval()
    x = torch.randn(1, 3, hw, hw)
    normalise_head(model, x)

    logits, top, grad_in, inner_vals = run_reference(model, x, spec["inner"])

    d = ONNX_DIR / name
    clean_dir(d)
    export(model, x, d / "model.onnx", spec["opset"])
    proto = onnx.load(str(d / "model.onnx"))
    onnx.checker.check_model(proto)
    outs = onnx_outputs(proto)

    # the exported graph must reproduce the same interface
    assert [i.name for i in proto.graph.input] == ["input"], [i.name for i in proto.graph.input]
    assert [o.name for o in proto.graph.output] == ["logits"]

    save_npy(d / "input.npy", x.numpy())
    save_npy(d / "logits.npy", logits)
    save_npy(d / "grad_input.npy", grad_in)
    entries = []
    for (label, path, where, call, tname, op), (val, grad) in zip(spec["inner"], inner_vals):
        if tname not in outs:
            cands = [o for o in outs if o.startswith("/" + path.split(".")[0])][:40]
            raise SystemExit(f"{name}: tensor {tname!r} not in ONNX graph; candidates: {cands}")
        if outs[tname] != op:
            raise SystemExit(f"{name}: {tname} is produced by {outs[tname]}, expected {op}")
        vfile, gfile = f"{label}_value.npy", f"{label}_grad.npy"
        save_npy(d / vfile, val)
        save_npy(d / gfile, grad)
        entries.append(OrderedDict(label=label, tensor=tname, op=op, shape=list(val.shape), value=vfile,
                                   grad=gfile, torchModule=path,
                                   torchCapture=f"{'output' if where == 'out' else 'input'} of call {call}"))
    counts = write_manifest(d, name, spec["opset"], x.shape, logits, top, entries, proto,
                            extra={"seed": spec["seed"]})
    print(f"{name}: opset {spec['opset']} input {list(x.shape)} top {top} "
          f"logit range [{logits.min():.3g}, {logits.max():.3g}] nodes {dict(sorted(counts.items()))}")


# --------------------------------------------------------------------------------------------
# DequantizeLinear fixture (hand-built ONNX graph + equivalent torch module)
# --------------------------------------------------------------------------------------------

def make_dequant_fixture():
    name, opset, seed = "dequant", 13, 109
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cin, cout, k, hw, ncls = 3, 8, 3, 16, 10
    # per-channel (axis 0) int8 conv weight with non-zero zero points
    w_q = rng.integers(-127, 128, size=(cout, cin, k, k), dtype=np.int8)
    w_scale = rng.uniform(0.002, 0.01, size=(cout,)).astype(np.float32)
    w_zp = rng.integers(-5, 6, size=(cout,), dtype=np.int8)
    conv_b = rng.normal(0, 0.05, size=(cout,)).astype(np.float32)
    # per-tensor int8 dense weight [ncls, cout] (Gemm transB=1)
    fc_q = rng.integers(-127, 128, size=(ncls, cout), dtype=np.int8)
    fc_scale = np.array(0.01, dtype=np.float32)
    fc_zp = np.array(3, dtype=np.int8)
    fc_b = rng.normal(0, 0.05, size=(ncls,)).astype(np.float32)

    w_deq = (w_q.astype(np.float32) - w_zp.astype(np.float32)[:, None, None, None]) * w_scale[:, None, None, None]
    fc_deq = (fc_q.astype(np.float32) - np.float32(fc_zp)) * fc_scale

    init = [
        numpy_helper.from_array(w_q, "conv.weight_quantized"),
        numpy_helper.from_array(w_scale, "conv.weight_scale"),
        numpy_helper.from_array(w_zp, "conv.weight_zero_point"),
        numpy_helper.from_array(conv_b, "conv.bias"),
        numpy_helper.from_array(fc_q, "fc.weight_quantized"),
        numpy_helper.from_array(fc_scale, "fc.weight_scale"),
        numpy_helper.from_array(fc_zp, "fc.weight_zero_point"),
        numpy_helper.from_array(fc_b, "fc.bias"),
    ]
    nodes = [
        helper.make_node("DequantizeLinear", ["conv.weight_quantized", "conv.weight_scale",
                                              "conv.weight_zero_point"], ["conv.weight"],
                         name="conv_weight_dequant", axis=0),
        helper.make_node("Conv", ["input", "conv.weight", "conv.bias"], ["conv_out"], name="conv",
                         kernel_shape=[k, k], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["pool_out"], name="gap"),
        helper.make_node("Flatten", ["pool_out"], ["flat"], name="flatten", axis=1),
        helper.make_node("DequantizeLinear", ["fc.weight_quantized", "fc.weight_scale",
                                              "fc.weight_zero_point"], ["fc.weight"],
                         name="fc_weight_dequant"),
        helper.make_node("Gemm", ["flat", "fc.weight", "fc.bias"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "dequant",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, cin, hw, hw])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, ncls])],
        initializer=init)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="naflow tools/make_fixtures.py")
    proto.ir_version = 8
    onnx.checker.check_model(proto)

    conv = nn.Conv2d(cin, cout, k, padding=1)
    fc = nn.Linear(cout, ncls)
    with torch.no_grad():
        conv.weight.copy_(torch.from_numpy(w_deq))
        conv.bias.copy_(torch.from_numpy(conv_b))
        fc.weight.copy_(torch.from_numpy(fc_deq))
        fc.bias.copy_(torch.from_numpy(fc_b))

    class Deq(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.fc = conv, nn.ReLU(), fc

        def forward(self, x):
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.relu(self.conv(x)), 1), 1))

    model = Deq().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, cin, hw, hw)
    spec = [("relu", "relu", "out", 0, "relu_out", "Relu")]
    logits, top, grad_in, inner_vals = run_reference(model, x, spec)

    d = ONNX_DIR / name
    clean_dir(d)
    onnx.save(proto, str(d / "model.onnx"))
    save_npy(d / "input.npy", x.numpy())
    save_npy(d / "logits.npy", logits)
    save_npy(d / "grad_input.npy", grad_in)
    val, grad = inner_vals[0]
    save_npy(d / "relu_value.npy", val)
    save_npy(d / "relu_grad.npy", grad)
    save_npy(d / "conv_weight_dequantized.npy", w_deq)
    entries = [OrderedDict(label="relu", tensor="relu_out", op="Relu", shape=list(val.shape),
                           value="relu_value.npy", grad="relu_grad.npy")]
    counts = write_manifest(d, name, opset, x.shape, logits, top, entries, proto, extra={
        "seed": seed,
        "handBuilt": True,
        "dequantizedWeights": {"conv.weight": "conv_weight_dequantized.npy"},
    })
    print(f"{name}: opset {opset} input {list(x.shape)} top {top} nodes {dict(sorted(counts.items()))}")


# --------------------------------------------------------------------------------------------
# bad input: a valid ONNX model with an op naflow does not support
# --------------------------------------------------------------------------------------------

def make_bad_fixture():
    BAD_DIR.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(110)
    w = rng.normal(0, 0.3, size=(4, 3, 3, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "conv.weight"], ["conv_out"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu"),
        helper.make_node("Einsum", ["relu_out"], ["einsum_out"], name="unsupported_einsum_node",
                         equation="nchw->nhwc"),
        helper.make_node("Flatten", ["einsum_out"], ["logits"], name="flatten", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "unknown_op",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 256])],
        initializer=[numpy_helper.from_array(w, "conv.weight")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="naflow tools/make_fixtures.py")
    proto.ir_version = 8
    onnx.checker.check_model(proto)
    onnx.save(proto, str(BAD_DIR / "unknown-op.onnx"))
    print("bad/unknown-op.onnx: Einsum node 'unsupported_einsum_node'")


def main(argv):
    wanted = argv[1:] or list(MODELS) + ["dequant", "bad"]
    for name in wanted:
        if name in MODELS:
            make_model_fixture(name, MODELS[name])
        elif name == "dequant":
            make_dequant_fixture()
        elif name == "bad":
            make_bad_fixture()
        else:
            raise SystemExit(f"unknown fixture {name!r}; choose from {list(MODELS) + ['dequant', 'bad']}")


if __name__ == "__main__":
    print(f"torch {TORCH_VERSION}, torchvision {torchvision.__version__}, onnx {onnx.__version__}")
    main(sys.argv)
