#!/usr/bin/python3
"""Fixtures for naflow's similarity module (issue 4), computed with Debian's PyTorch.

test/fixtures/similarity/embedhead/:
  model.onnx      a small embedding network: conv trunk -> global average pooling -> projection head
                  (Linear, BatchNorm1d, ReLU, Linear) -> 16-D embedding (opset 13, BatchNorm kept)
  input.npy       float32 NCHW [1,3,32,32] (seeded normal)
  embedding.npy   PyTorch's embedding q for that input, [1,16]
  weights.npy     fixed channel weights w, min-max rescaled to [0,1] (as naflow's weights are), [16]
  grad_trunk.npy  the Jacobian step G_K = (dq/dA_K)^T w = dS/dA_K for S = sum_d w_d q_d, where A_K is the
                  last trunk tensor (the input of the global pooling), float32 **NHWC** [1,8,8,12]
  manifest.json   the ONNX name of A_K and the shapes

Run: OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/similarity_fixtures.py
"""
import json
import os

import numpy as np
import onnx
import torch
import torch.nn as nn

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'similarity', 'embedhead')


class EmbedHead(nn.Module):
    def __init__(self):
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 12, 3, padding=1), nn.BatchNorm2d(12), nn.LeakyReLU(0.1),
            nn.MaxPool2d(2),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(nn.Linear(12, 24), nn.BatchNorm1d(24), nn.ReLU(), nn.Linear(24, 16))

    def forward(self, x):
        return self.head(torch.flatten(self.pool(self.trunk(x)), 1))


def main():
    torch.manual_seed(4)
    model = EmbedHead()
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    model.eval()
    x = torch.randn(1, 3, 32, 32)
    w = torch.rand(16)
    w = (w - w.min()) / (w.max() - w.min())  # min-max rescaled, like naflow's weights
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, 'model.onnx')
    torch.onnx.export(model, x, path, opset_version=13, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE, input_names=['input'], output_names=['embedding'])
    proto = onnx.load(path)
    pool = [n for n in proto.graph.node if n.op_type in ('GlobalAveragePool', 'ReduceMean')]
    assert len(pool) == 1, [n.op_type for n in proto.graph.node]
    trunk_name = pool[0].input[0]

    a = model.trunk(x)
    a.retain_grad()
    q = model.head(torch.flatten(model.pool(a), 1))
    s = (q[0] * w).sum()
    s.backward()
    np.save(os.path.join(OUT, 'input.npy'), x.numpy().astype(np.float32))
    np.save(os.path.join(OUT, 'embedding.npy'), q.detach().numpy().astype(np.float32))
    np.save(os.path.join(OUT, 'weights.npy'), w.numpy().astype(np.float32))
    np.save(os.path.join(OUT, 'grad_trunk.npy'), a.grad.permute(0, 2, 3, 1).contiguous().numpy().astype(np.float32))
    with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
        json.dump({'torch': torch.__version__, 'model': 'model.onnx', 'input': 'input.npy', 'embedding': 'embedding.npy',
                   'weights': 'weights.npy', 'gradTrunk': 'grad_trunk.npy', 'trunkTensor': trunk_name,
                   'trunkShapeNHWC': list(a.permute(0, 2, 3, 1).shape), 'S': float(s)}, f, indent=2)
        f.write('\n')
    print('wrote', OUT, 'trunk tensor', trunk_name, 'S', float(s))


if __name__ == '__main__':
    main()
