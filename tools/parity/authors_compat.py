"""Run-time shims for importing the authors' NAFlow code (github.com/ly9802/NAFlow) from a checkout.

Nothing from that repository is copied here; these helpers import its modules from the path given
and patch, at run time only, what Debian's PyTorch 1.13 or this machine's memory cannot run.
"""
import importlib
import inspect
import os
import sys

import torch

# what the materialize_grads shim did: calls made with materialize_grads=True, None results replaced
SHIM_STATS = {"materializeCalls": 0, "noneReplaced": 0}


def import_authors(authors_dir):
    """Import `model.BackPropagationModule`, `model.alexnetFlow` and `util.utils` from AUTHORS_DIR."""
    authors_dir = os.path.abspath(authors_dir)
    for rel in ("model/BackPropagationModule.py", "model/alexnetFlow.py", "util/utils.py"):
        if not os.path.isfile(os.path.join(authors_dir, rel)):
            raise SystemExit(f"{authors_dir}: no {rel} — is this a checkout of github.com/ly9802/NAFlow?")
    if authors_dir not in sys.path:
        sys.path.insert(0, authors_dir)
    bpm = importlib.import_module("model.BackPropagationModule")
    af = importlib.import_module("model.alexnetFlow")
    uu = importlib.import_module("util.utils")
    for mod in (bpm, af, uu):
        if not os.path.abspath(mod.__file__).startswith(authors_dir + os.sep):
            raise SystemExit(f"imported {mod.__name__} from {mod.__file__}, not from {authors_dir}")
    return bpm, af, uu


def patch_materialize_grads():
    """Patch 1: `torch.autograd.grad(..., materialize_grads=True)` exists from PyTorch 2.1 on.

    On an older torch, drop the argument and do what it does: an input the outputs do not depend on
    gets a zero tensor instead of None. Returns True when the shim was installed.
    """
    original = torch.autograd.grad
    if "materialize_grads" in inspect.signature(original).parameters:
        return False

    def grad(outputs, inputs, *args, materialize_grads=False, **kwargs):
        result = original(outputs, inputs, *args, **kwargs)
        if not materialize_grads:
            return result
        ins = (inputs,) if isinstance(inputs, torch.Tensor) else tuple(inputs)
        SHIM_STATS["materializeCalls"] += 1
        SHIM_STATS["noneReplaced"] += sum(r is None for r in result)
        return tuple(torch.zeros_like(i) if r is None else r for r, i in zip(result, ins))

    grad.__wrapped__ = original
    torch.autograd.grad = grad
    return True
