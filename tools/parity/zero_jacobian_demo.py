#!/usr/bin/python3
"""Show that the authors' Jacobian routine returns an all-zero matrix (naflow docs/spec.md §7).

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 tools/parity/zero_jacobian_demo.py /tmp/naflow-authors

AUTHORS_DIR is a checkout of github.com/ly9802/NAFlow (see tools/parity/README.md). Nothing of it is
copied here: its modules are imported from that path. The script

1. builds a tiny conv + in-place ReLU (2 -> 3 channels, 3x3, 5x5 input), as AlexNet_Flow records it
   (input tensor x with requires_grad, output y = relu_(conv(x)));
2. calls the authors' `batch_jacobian` exactly as `ReverseConv.forward` does — on
   `x.contiguous().view(1, -1)`, a view made *after* the forward pass — and prints how many
   entries are non-zero;
3. computes the true Jacobian of the same layer with `torch.autograd.functional.jacobian`, and
   calls the same `batch_jacobian` on a flattened input that the forward pass *did* use, to show the
   function itself is fine once the graph connects;
4. runs the authors' `ReverseConv` and `ReverseComplex` units on that layer (original code, only the
   PyTorch >= 2.1 `materialize_grads` argument dropped) and checks that their BPFM is the forward
   input times the mask [G != 0] — the fallback taken when LSMR returns 0 for the zero matrix.

Exit status 0 when every claim holds.
"""
import os
import sys

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from authors_compat import import_authors, patch_materialize_grads  # noqa: E402


def main(authors_dir):
    torch.manual_seed(0)
    bpm, _af, _uu = import_authors(authors_dir)
    patched = patch_materialize_grads()
    print(f"torch {torch.__version__}; materialize_grads shim installed: {patched}")
    ok = True

    conv = nn.Conv2d(2, 3, kernel_size=3, padding=1)
    relu = nn.ReLU(inplace=True)
    with torch.no_grad():
        conv.bias.fill_(0.05)

    # --- (2) the code's call: Jacobian w.r.t. a view made after the forward pass -----------------
    x = torch.autograd.Variable(torch.randn(1, 2, 5, 5), requires_grad=True)
    y = relu(conv(x))  # in-place ReLU: y is the conv output tensor, overwritten
    jac_code = bpm.batch_jacobian(x.contiguous().view(1, -1), y.contiguous().view(1, -1))
    nz_code = int((jac_code != 0).sum())
    print(f"[code]  batch_jacobian(x.view after forward, y.view): shape {tuple(jac_code.shape)}, non-zero entries {nz_code}")
    raw = torch.autograd.grad(outputs=y.contiguous().view(1, -1), inputs=x.contiguous().view(1, -1),
                              grad_outputs=torch.ones(1, y.numel()), allow_unused=True, retain_graph=True)
    print(f"        torch.autograd.grad w.r.t. that view returns {raw[0]!r} (allow_unused=True)")
    ok &= nz_code == 0 and raw[0] is None

    # --- (3) the truth --------------------------------------------------------------------------
    x0 = x.detach().clone()
    true_jac = torch.autograd.functional.jacobian(lambda t: torch.relu(conv(t)).reshape(-1), x0).reshape(y.numel(), -1)
    nz_true = int((true_jac != 0).sum())
    xf = x0.reshape(1, -1).clone().requires_grad_(True)
    yf = torch.relu(conv(xf.view(1, 2, 5, 5))).view(1, -1)
    jac_connected = bpm.batch_jacobian(xf, yf)  # m = 75 > n = 50: the code keeps the first 50 rows
    print(f"[truth] true Jacobian of relu(conv(x)): shape {tuple(true_jac.shape)}, non-zero entries {nz_true}")
    print(f"        batch_jacobian with a flattened input the forward pass used: non-zero entries "
          f"{int((jac_connected != 0).sum())}, equals the first 50 true rows: "
          f"{bool(torch.allclose(jac_connected[0], true_jac[:50]))}")
    ok &= nz_true > 0 and bool(torch.allclose(jac_connected[0], true_jac[:50]))

    # LSMR on the zero matrix (the code's own apply_inverse_lsmr) returns exactly zero
    rhs = torch.randn(50).numpy()
    sol = bpm.apply_inverse_lsmr(np.zeros((50, 50), dtype=np.float32), rhs)
    print(f"[lsmr]  apply_inverse_lsmr(zero 50x50, random b): max|x| = {np.abs(sol).max()}, dtype {sol.dtype}")
    ok &= float(np.abs(sol).max()) == 0.0

    # --- (4) the code's units: BPFM = forward input * [G != 0] ------------------------------------
    g_out = torch.zeros_like(y)
    g_out[0, :, 2, 2] = torch.randn(3)  # importance at one output position: most inputs are abandoned
    unit = bpm.ReverseConv(conv, x, y)
    b_in, g_in = unit(y.detach() * 0.5 + 1.0, g_out)  # any BPFM of the output: it is ignored
    expect = x.detach() * (g_in != 0).float()
    same = bool(torch.equal(b_in.to(expect.dtype), expect))
    print(f"[unit]  ReverseConv BPFM == forward input * [G != 0]: {same} "
          f"(kept {int((g_in != 0).sum())}/{g_in.numel()}, BPFM dtype {b_in.dtype})")
    ok &= same

    x2 = torch.autograd.Variable(torch.randn(1, 2, 5, 5), requires_grad=True)
    conv_a, conv_b = nn.Conv2d(2, 4, 3, padding=1), nn.Conv2d(4, 3, 3, padding=1)
    h = nn.ReLU(inplace=True)(conv_a(x2))
    y2 = nn.ReLU(inplace=True)(conv_b(h))
    cunit = bpm.ReverseComplex(nn.Sequential(conv_a, nn.ReLU(inplace=True), conv_b), x2, y2)
    g2_out = torch.zeros_like(y2)
    g2_out[0, :, 0, 0] = 1.0
    b2, g2 = cunit(y2.detach(), g2_out)
    same2 = bool(torch.equal(b2.to(x2.dtype), x2.detach() * (g2 != 0).float()))
    print(f"[unit]  ReverseComplex BPFM == forward input * [G != 0]: {same2} (kept {int((g2 != 0).sum())}/{g2.numel()})")
    ok &= same2

    print("ALL CLAIMS HOLD" if ok else "SOME CLAIM FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
