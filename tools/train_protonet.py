#!/usr/bin/python3
"""Train the bundled few-shot model: a Conv-4 Prototypical Network (Snell et al. 2017) on Omniglot.

Data: ../shared/data/omniglot (brendenlake/omniglot, MIT): images_background_small1/2.zip for training
(10 alphabets; every character and its 90/180/270-degree rotations are classes, as in the ProtoNet
paper), all_runs.zip (Lake et al.'s 20 one-shot 20-way runs, drawn from the *evaluation* alphabets,
never seen in training) for the accuracy report.

The model takes the 105x105 Omniglot image itself (1 channel, x = 1 - v/255 so that strokes are 1 and
the background 0) and downsamples it with a 3x3/3 average pool, so naflow's own preprocessing needs no
resize and reproduces these numbers exactly: AvgPool(3) -> 4 x [Conv3x3-64, BN, ReLU, MaxPool2]
-> 64x2x2 -> flatten -> 256-D embedding. Decision: nearest prototype by squared Euclidean distance.

Run with Debian's PyTorch (CPU): /usr/bin/python3 tools/train_protonet.py [--episodes 1500]
Writes models/protonet-omniglot/{protonet-omniglot.onnx, training-log.txt}.
"""
import argparse
import io
import os
import random
import sys
import time
import zipfile

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(ROOT, '..', 'shared', 'data', 'omniglot')
OUT = os.path.join(ROOT, 'models', 'protonet-omniglot')


def decode(raw):
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert img is not None and img.shape == (105, 105), img.shape if img is not None else None
    return 1.0 - img.astype(np.float32) / 255.0


def load_background():
    classes = []
    for name in ('images_background_small1.zip', 'images_background_small2.zip'):
        with zipfile.ZipFile(os.path.join(DATA, name)) as z:
            by_char = {}
            for n in sorted(z.namelist()):
                if n.endswith('.png'):
                    by_char.setdefault(os.path.dirname(n), []).append(decode(z.read(n)))
            classes.extend(np.stack(v) for _, v in sorted(by_char.items()))
    return classes


def load_runs():
    runs = []
    with zipfile.ZipFile(os.path.join(DATA, 'all_runs.zip')) as z:
        for r in range(1, 21):
            lines = z.read(f'run{r:02d}/class_labels.txt').decode().split()
            pairs = list(zip(lines[0::2], lines[1::2]))
            train_names = sorted({t for _, t in pairs})
            support = np.stack([decode(z.read(t)) for t in train_names])
            query = np.stack([decode(z.read(q)) for q, _ in pairs])
            answer = np.array([train_names.index(t) for _, t in pairs])
            runs.append((support, query, answer))
    return runs


def block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2))


class ProtoNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.AvgPool2d(3)
        self.features = nn.Sequential(block(1, 64), block(64, 64), block(64, 64), block(64, 64))

    def forward(self, x):
        return torch.flatten(self.features(self.down(x)), 1)


def sq_dists(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def evaluate(model, runs):
    model.eval()
    correct = []
    with torch.no_grad():
        for support, query, answer in runs:
            s = model(torch.from_numpy(support)[:, None])
            q = model(torch.from_numpy(query)[:, None])
            pred = sq_dists(q, s).argmin(1).numpy()
            correct.append((pred == answer).mean())
    model.train()
    return float(np.mean(correct)), [float(c) for c in correct]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--episodes', type=int, default=1500)
    ap.add_argument('--way', type=int, default=30)
    ap.add_argument('--shot', type=int, default=5)
    ap.add_argument('--query', type=int, default=5)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    os.makedirs(OUT, exist_ok=True)
    log_lines = []

    def log(msg):
        print(msg, flush=True)
        log_lines.append(msg)

    t0 = time.time()
    chars = load_background()
    classes = [np.rot90(c, k, axes=(1, 2)).copy() for c in chars for k in range(4)]
    runs = load_runs()
    log(f'torch {torch.__version__}; {len(chars)} background characters x 4 rotations = {len(classes)} classes; '
        f'{args.way}-way {args.shot}-shot {args.query}-query episodes, {args.episodes} episodes, Adam 1e-3 halved every '
        f'{args.episodes // 3}; seed {args.seed}')
    model = ProtoNet()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, args.episodes // 3), gamma=0.5)
    n = args.shot + args.query
    for ep in range(1, args.episodes + 1):
        picked = random.sample(range(len(classes)), args.way)
        batch = np.stack([classes[c][np.random.choice(len(classes[c]), n, replace=False)] for c in picked])
        x = torch.from_numpy(batch.reshape(-1, 1, 105, 105))
        emb = model(x).view(args.way, n, -1)
        protos = emb[:, :args.shot].mean(1)
        q = emb[:, args.shot:].reshape(args.way * args.query, -1)
        target = torch.arange(args.way).repeat_interleave(args.query)
        logits = -sq_dists(q, protos)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if ep % 100 == 0 or ep == args.episodes:
            acc = (logits.argmax(1) == target).float().mean().item()
            line = f'episode {ep}: loss {loss.item():.4f}, episode accuracy {acc:.3f}, {time.time() - t0:.0f} s'
            if ep % 500 == 0 or ep == args.episodes:
                line += f'; one-shot runs 20-way 1-shot accuracy {evaluate(model, runs)[0] * 100:.2f} %'
            log(line)
    model.eval()
    mean, per_run = evaluate(model, runs)
    log(f'FINAL 20-way 1-shot accuracy on the 20 one-shot runs (all_runs.zip, 400 queries): {mean * 100:.2f} %')
    log('per run: ' + ' '.join(f'{c * 100:.0f}' for c in per_run))
    path = os.path.join(OUT, 'protonet-omniglot.onnx')
    model.eval()  # evaluate() leaves train mode: a train-mode export would update the BatchNorm statistics
    torch.onnx.export(model, torch.zeros(1, 1, 105, 105), path, opset_version=13, input_names=['image'],
                      output_names=['embedding'], dynamic_axes={'image': {0: 'n'}, 'embedding': {0: 'n'}},
                      do_constant_folding=False, training=torch.onnx.TrainingMode.PRESERVE)
    log(f'exported {os.path.relpath(path, ROOT)} ({os.path.getsize(path)} bytes); total {time.time() - t0:.0f} s')
    with open(os.path.join(OUT, 'training-log.txt'), 'w') as f:
        f.write('\n'.join(log_lines) + '\n')


if __name__ == '__main__':
    sys.exit(main())
