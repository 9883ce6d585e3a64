"""Training that outgrows one process: lstmkit -> PyTorch DDP -> lstmkit.

`train_distributed(obj, x, y, ...)` converts `obj` (a layer or model) with
`to_torch`, starts `world_size` processes with `torch.multiprocessing.spawn`,
wraps the module in `DistributedDataParallel` (gloo on the CPU, nccl on GPUs),
trains each rank on its shard (`DistributedSampler`), and copies rank 0's
trained weights back into `obj` with `load_torch_weights`. Every rank ends with
the same weights (DDP averages gradients), which `train_distributed` checks.

Inputs may be arrays or paths of `.npy` files, which every rank opens memory-mapped
(`np.load(mmap_mode="r")`), so data larger than memory streams from disk.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> from lstmkit.convert.distributed import train_distributed
    >>> layer = lk.layers.LSTM(2)
    >>> x = np.random.default_rng(0).normal(size=(16, 5, 3)).astype("float32")
    >>> history = train_distributed(layer, x, np.zeros((16, 2), "float32"), epochs=1,
    ...                             world_size=2, batch_size=4)  # doctest: +SKIP
"""

from __future__ import annotations

import datetime
import os
import socket
import tempfile

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..layers import LSTM, Bidirectional
from ._torch_layers import keras_param_groups
from ._torch_optimizers import KerasAdam, KerasRMSprop
from .torch import _unwrap, load_torch_weights, to_torch


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 now (for MASTER_PORT)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keras_bce(p, y):
    # Keras's binary_crossentropy on probabilities: clip to [eps, 1 - eps] (eps = 1e-7).
    p = p.clamp(1e-7, 1 - 1e-7)
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def _keras_sparse_cce(p, y):
    p = p / p.sum(-1, keepdim=True)
    return nn.functional.nll_loss(p.clamp(1e-7, 1 - 1e-7).log().reshape(-1, p.shape[-1]),
                                  y.reshape(-1).long())


def _keras_cce(p, y):
    p = p / p.sum(-1, keepdim=True)
    return -(y * p.clamp(1e-7, 1 - 1e-7).log()).sum(-1).mean()


#: Keras loss name -> the same loss in torch, on the model's outputs (probabilities, not logits).
LOSSES = {
    "mse": nn.functional.mse_loss,
    "mean_squared_error": nn.functional.mse_loss,
    "mae": nn.functional.l1_loss,
    "mean_absolute_error": nn.functional.l1_loss,
    "binary_crossentropy": _keras_bce,
    "categorical_crossentropy": _keras_cce,
    "sparse_categorical_crossentropy": _keras_sparse_cce,
}


def make_optimizer(name: str, params, learning_rate: float):
    """Keras's optimizer update in torch: "adam", "sgd" or "rmsprop" (Keras's defaults)."""
    if name == "adam":
        return KerasAdam(params, lr=learning_rate)
    if name == "sgd":  # no momentum: w -= lr * g, the same in both
        return torch.optim.SGD(params, lr=learning_rate)
    if name == "rmsprop":
        return KerasRMSprop(params, lr=learning_rate)
    raise ValueError(f"optimizer must be 'adam', 'sgd' or 'rmsprop', got {name!r}")


def regularization_spec(obj, module) -> list:
    """[(torch parameter names, l1, l2)] for every regularized weight of `obj`.

    Keras adds `l1 * sum|w| + l2 * sum w**2` of each regularized weight to the loss;
    training in torch must add the same. Constraints and activity regularizers have no
    equivalent here and get a ValueError naming the layer.
    """
    names = {id(p): n for n, p in module.named_parameters()}
    single = isinstance(obj, (LSTM, Bidirectional))
    spec = []
    for layer in [obj] if single else obj.layers:
        if getattr(layer, "activity_regularizer", None) is not None:
            raise ValueError(f"Layer {layer.name!r} has an activity_regularizer, which "
                             f"train_distributed does not apply; remove it or train with fit")
        if not layer.weights:
            continue
        sub = module if single else module.layers[layer.name]
        for var, group in zip(layer.weights, keras_param_groups(sub)):
            if var.constraint is not None:
                raise ValueError(f"Weight {var.path!r} has a constraint, which "
                                 f"train_distributed does not apply; remove it or train "
                                 f"with fit")
            reg = var.regularizer
            if reg is not None and (reg.l1 or reg.l2):
                spec.append(([names[id(p)] for p in group], float(reg.l1), float(reg.l2)))
    return spec


def regularization_loss(module, spec):
    """The Keras regularization penalty of `module`'s parameters (a torch scalar)."""
    params = dict(module.named_parameters())
    total = 0.0
    for names, l1, l2 in spec:
        w = sum(params[n] for n in names)  # an LSTM's bias is bias_ih + bias_hh
        if l1:
            total = total + l1 * w.abs().sum()
        if l2:
            total = total + l2 * w.square().sum()
    return total


def _as_array(data):
    if isinstance(data, (str, os.PathLike)):
        return np.load(os.fspath(data), mmap_mode="r")
    return data


def _primary(out):
    return out[0] if isinstance(out, tuple) else out


def _worker(rank, world_size, port, module, x, y, cfg, out_dir, spec):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)  # one core per rank; ranks are the parallelism
    # A bounded wait: a rank that cannot join fails instead of hanging the others.
    dist.init_process_group(cfg["backend"], rank=rank, world_size=world_size,
                            timeout=datetime.timedelta(seconds=cfg["timeout"]))
    try:
        torch.manual_seed(cfg["seed"])
        x, y = _as_array(x), _as_array(y)
        n = len(x)
        model = nn.parallel.DistributedDataParallel(
            module.train(), find_unused_parameters=cfg["find_unused_parameters"])
        opt = make_optimizer(cfg["optimizer"], model.parameters(), cfg["learning_rate"])
        loss_fn = LOSSES[cfg["loss"]] if isinstance(cfg["loss"], str) else cfg["loss"]
        sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=world_size,
                                                      rank=rank, shuffle=cfg["shuffle"],
                                                      seed=cfg["seed"])
        history = []
        for epoch in range(cfg["epochs"]):
            sampler.set_epoch(epoch)
            idx = np.fromiter(iter(sampler), np.int64)
            total, count = 0.0, 0
            for start in range(0, len(idx), cfg["batch_size"]):
                batch = np.sort(idx[start:start + cfg["batch_size"]])  # memmaps read in order
                xb = torch.as_tensor(np.asarray(x[batch]))
                yb = torch.as_tensor(np.asarray(y[batch]))
                opt.zero_grad()
                loss = loss_fn(_primary(model(xb)), yb) + regularization_loss(module, spec)
                loss.backward()  # DDP all-reduces (averages) the gradients here
                opt.step()
                total, count = total + float(loss.detach()) * len(batch), count + len(batch)
            stats = torch.tensor([total, count], dtype=torch.float64)
            dist.all_reduce(stats)
            history.append(float(stats[0] / stats[1]))
        state = {k: v.detach().cpu() for k, v in _unwrap(model).state_dict().items()}
        torch.save({"state_dict": state, "history": history},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        # Every rank is done before any tears down: a rank that destroys its gloo group
        # while a peer still talks to it aborts ("terminate called without an active
        # exception"; seen in 1 of 5 runs without this barrier).
        dist.barrier()
    finally:
        dist.destroy_process_group()


def train_distributed(obj, x, y, *, loss="mse", optimizer="adam", learning_rate=1e-3,
                      epochs=1, batch_size=32, world_size=2, backend="gloo", shuffle=True,
                      seed=0, module=None, out_dir=None, find_unused_parameters=False,
                      timeout=120):
    """Train `obj` with PyTorch DistributedDataParallel and copy the result back into it.

    Args:
        obj: an lstmkit layer or model (converted with `to_torch` unless `module` is given).
        x, y: arrays, or paths of `.npy` files opened memory-mapped in each rank.
        loss: a Keras loss name (see `LOSSES`) or a picklable torch loss `f(pred, target)`,
            applied to the model's first output (models with several outputs train on it).
        optimizer: "adam", "sgd" or "rmsprop": Keras's updates and defaults
            (`_torch_optimizers`); `learning_rate`.
        epochs, batch_size: per rank; each rank sees 1 / world_size of the data per epoch.
        world_size: number of processes; backend: "gloo" (CPU) or "nccl".
        module: an already converted module of `obj` to train (else `to_torch(obj)`).
        out_dir: where ranks write their final weights (default: a temporary directory).
        find_unused_parameters: passed to DistributedDataParallel (True when some weights
            do not reach the loss, e.g. the second output of a model).
        timeout: seconds a rank waits for the others to join.

    Returns:
        A dict: `loss` (mean loss per epoch over all ranks), `rank_state_dicts` (each
        rank's final state_dict), `module` (the trained torch module).
    """
    if loss not in LOSSES and not callable(loss):
        raise ValueError(f"loss must be one of {sorted(LOSSES)} or a callable, got {loss!r}")
    make_optimizer(optimizer, [torch.zeros(1, requires_grad=True)], learning_rate)  # validate
    if int(world_size) < 1:
        raise ValueError(f"world_size must be a positive int, got {world_size!r}")
    module = _unwrap(module) if module is not None else to_torch(obj)
    spec = regularization_spec(obj, module)
    cfg = {"loss": loss, "optimizer": optimizer, "learning_rate": float(learning_rate),
           "epochs": int(epochs), "batch_size": int(batch_size), "backend": backend,
           "shuffle": bool(shuffle), "seed": int(seed), "timeout": float(timeout),
           "find_unused_parameters": bool(find_unused_parameters)}
    with tempfile.TemporaryDirectory() as tmp:
        out = out_dir or tmp
        torch.multiprocessing.spawn(_worker, args=(world_size, free_port(), module, x, y, cfg,
                                                   out, spec), nprocs=world_size, join=True)
        results = [torch.load(os.path.join(out, f"rank{r}.pt")) for r in range(world_size)]
    states = [r["state_dict"] for r in results]
    for r, state in enumerate(states[1:], 1):
        for k, v in state.items():
            if not torch.equal(v, states[0][k]):
                raise RuntimeError(f"DDP ranks 0 and {r} ended with different {k!r}")
    module.load_state_dict(states[0])
    load_torch_weights(obj, module)
    return {"loss": results[0]["history"], "rank_state_dicts": states, "module": module.eval()}
