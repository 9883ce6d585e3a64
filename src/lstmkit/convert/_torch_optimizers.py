"""Keras's optimizer updates as `torch.optim.Optimizer`s, for training converted models.

PyTorch's Adam and RMSprop put epsilon elsewhere than Keras (keras/src/optimizers/):
Keras's Adam is `w -= alpha * m / (sqrt(v) + eps)` with `alpha = lr * sqrt(1 - b2^t) /
(1 - b1^t)`, where torch divides by `sqrt(v) / sqrt(1 - b2^t) + eps`; Keras's RMSprop is
`w -= lr * g / sqrt(v + eps)`, where torch uses `sqrt(v) + eps`. With small gradients
the difference is visible (1e-4 after a few steps), so training through torch uses these.

Example:
    >>> import torch
    >>> from lstmkit.convert._torch_optimizers import KerasAdam
    >>> w = torch.nn.Parameter(torch.ones(3))
    >>> opt = KerasAdam([w], lr=0.1)
    >>> w.sum().backward(); opt.step()
    >>> [round(float(v), 4) for v in w.detach()]
    [0.9, 0.9, 0.9]
"""

from __future__ import annotations

import math

import torch


class KerasAdam(torch.optim.Optimizer):
    """Keras 3's Adam (no amsgrad): the update of `lk.optimizers.Adam`."""

    def __init__(self, params, lr=1e-3, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        super().__init__(params, {"lr": lr, "beta_1": beta_1, "beta_2": beta_2,
                                  "epsilon": epsilon})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["beta_1"], group["beta_2"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["t"] = 0
                    state["m"] = torch.zeros_like(p)
                    state["v"] = torch.zeros_like(p)
                state["t"] += 1
                t, m, v, g = state["t"], state["m"], state["v"], p.grad
                alpha = group["lr"] * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                m.mul_(b1).add_(g * (1 - b1))
                v.mul_(b2).add_(g * g * (1 - b2))
                p.sub_((m * alpha) / (v.sqrt() + group["epsilon"]))


class KerasRMSprop(torch.optim.Optimizer):
    """Keras 3's RMSprop (no momentum, not centered): `w -= lr * g / sqrt(v + eps)`."""

    def __init__(self, params, lr=1e-3, rho=0.9, epsilon=1e-7):
        super().__init__(params, {"lr": lr, "rho": rho, "epsilon": epsilon})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            rho = group["rho"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if not state:
                    state["v"] = torch.zeros_like(p)
                v, g = state["v"], p.grad
                v.mul_(rho).add_(g * g * (1 - rho))
                p.sub_((g * group["lr"]) / (v + group["epsilon"]).sqrt())
