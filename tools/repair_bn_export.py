#!/usr/bin/python3
"""Undo the BatchNorm running-statistics update that a train-mode ONNX export made.

The first versions of tools/train_protonet.py and tools/train_simclr.py exported with
training=PRESERVE while the model was back in train mode, so the export's tracing pass (one forward of
the all-zero dummy input) updated every BatchNorm's running statistics:
    rm' = (1 - m) rm + m mu_b,    rv' = (1 - m) rv + m var_b (unbiased),   m = 0.1,
and the exported weights differ from the model the script evaluated. In train mode the batch
statistics mu_b, var_b of that pass depend only on the weights (BatchNorm normalises with them, not
with the running statistics), so they can be recomputed exactly from the exported file and the update
inverted. This script does that, re-checks the accuracy the training log reports, and re-exports in
eval mode (the scripts now call model.eval() before exporting).

Run: /usr/bin/python3 tools/repair_bn_export.py protonet|simclr
"""
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
from onnx import numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def load_exported(model, path):
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in onnx.load(path).graph.initializer}
    state = model.state_dict()
    missing = [k for k in state if k not in weights and not k.endswith('num_batches_tracked')]
    assert not missing, missing
    model.load_state_dict({k: weights.get(k, v) for k, v in state.items()})


def invert_export_update(model, dummy):
    """Recompute the tracing pass's batch statistics and undo its running-statistics update."""
    stats = {}

    def hook(mod, inp, out, name=None):
        x = inp[0].detach()
        dims = [0] + list(range(2, x.dim()))
        stats[mod] = (x.mean(dims), x.var(dims, unbiased=True))

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    handles = [m.register_forward_hook(hook) for m in bns]
    saved = {m: (m.running_mean.clone(), m.running_var.clone()) for m in bns}
    model.train()
    with torch.no_grad():
        model(dummy)
    for h in handles:
        h.remove()
    for m in bns:
        rm, rv = saved[m]
        mu, var = stats[m]
        mom = m.momentum
        m.running_mean.copy_((rm - mom * mu) / (1 - mom))
        m.running_var.copy_((rv - mom * var) / (1 - mom))
        m.num_batches_tracked -= 1
    model.eval()


def main():
    which = sys.argv[1]
    if which == 'protonet':
        import train_protonet as t
        model, path, dummy = t.ProtoNet(), os.path.join(t.OUT, 'protonet-omniglot.onnx'), torch.zeros(1, 1, 105, 105)
    else:
        import train_simclr as t
        model, path, dummy = t.Encoder(), os.path.join(t.OUT, 'simclr-cifar10.onnx'), torch.zeros(1, 3, 32, 32)
    load_exported(model, path)
    invert_export_update(model, dummy)
    lines = []
    if which == 'protonet':
        mean, per_run = t.evaluate(model, t.load_runs())
        model.eval()
        lines.append(f'REPAIRED export (tools/repair_bn_export.py): 20-way 1-shot accuracy of the repaired weights: {mean * 100:.2f} %; '
                     'per run: ' + ' '.join(f'{c * 100:.0f}' for c in per_run))
    else:
        xb, yb = t.load_folder(t.SHARED_TEST, per_class=50)
        xq, yq = t.load_folder(t.SHARED_TEST, skip=50)
        acc = t.knn_accuracy(t.embed(model, xb), yb, t.embed(model, xq), yq)
        model.eval()
        lines.append(f'REPAIRED export (tools/repair_bn_export.py): k-NN accuracy of the repaired weights on ../shared/data/cifar10-test: {acc * 100:.2f} %')
    torch.onnx.export(model, dummy, path, opset_version=13, input_names=['image'], output_names=['embedding'],
                      dynamic_axes={'image': {0: 'n'}, 'embedding': {0: 'n'}}, do_constant_folding=False,
                      training=torch.onnx.TrainingMode.PRESERVE)
    lines.append(f're-exported {os.path.relpath(path, t.ROOT)} in eval mode ({os.path.getsize(path)} bytes)')
    with open(os.path.join(os.path.dirname(path), 'training-log.txt'), 'a') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
