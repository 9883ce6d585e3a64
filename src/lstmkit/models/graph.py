"""The graph behind a functional model: ordering (Keras's `map_graph`), forward, backward.

`map_graph` follows keras/src/ops/function.py: a depth-first walk from the
outputs gives the nodes, depths order them, and the layers come out in Keras's
order. `run_forward` runs the nodes on arrays, passing masks as Keras 3 does
(keras/src/layers/layer.py `__call__`: the mask of the only tensor argument is
passed on; layers that support masking set their outputs' masks with
`compute_mask`; others drop it). `run_backward` goes through the same nodes in
reverse with each layer's `backward`.
"""

from __future__ import annotations

import collections
from typing import NamedTuple

import numpy as np

from ..layers.base import Layer
from ..layers.node import KerasTensor, flatten, map_structure


def map_graph(inputs, outputs):
    """(nodes in run order, layers in Keras's order) for a graph from `inputs` to `outputs`."""
    finished, in_progress, ordered, indices = set(), set(), [], {}

    def visit(tensor):
        layer, node_index, _ = tensor._keras_history
        node = layer._inbound_nodes[node_index]
        if node in finished:
            return
        is_input = not node.input_tensors
        if not is_input and any(tensor is t for t in inputs):
            finished.add(node)
            return
        if node in in_progress:
            raise ValueError(f"Tensor {tensor} from layer {layer.name!r} is part of a cycle.")
        indices.setdefault(layer, len(indices))
        in_progress.add(node)
        if not is_input:
            for t in node.input_tensors:
                visit(t)
        finished.add(node)
        in_progress.remove(node)
        ordered.append(node)

    for t in flatten(outputs):
        visit(t)
    in_graph = set(ordered)
    node_depth, layer_depth = {}, {}
    for node in reversed(ordered):
        depth = node_depth.setdefault(node, 0)
        depth = max(depth, layer_depth.get(node.layer, 0))
        layer_depth[node.layer] = depth
        node_depth[node] = depth
        for parent in node.parent_nodes:
            if parent in in_graph:
                node_depth[parent] = max(depth + 1, node_depth.get(parent, 0))
    by_depth = collections.defaultdict(list)
    for layer, depth in layer_depth.items():
        by_depth[depth].append(layer)
    layers = []
    for depth in sorted(by_depth, reverse=True):
        layers.extend(sorted(by_depth[depth], key=lambda lay: indices[lay]))
    nodes_by_depth = collections.defaultdict(list)
    for node, depth in node_depth.items():
        nodes_by_depth[depth].append(node)
    run_order = []
    known = {id(t) for t in inputs}
    for depth in sorted(nodes_by_depth, reverse=True):
        for node in nodes_by_depth[depth]:
            if node.input_tensors:
                for t in node.input_tensors:
                    if id(t) not in known:
                        raise ValueError(
                            f"Graph disconnected: cannot find parent for tensor {t} at layer "
                            f"{node.layer.name!r}. Pass every lk.Input the outputs depend on."
                        )
                run_order.append(node)
            elif not any(t is o for o in inputs for t in node.output_tensors):
                raise ValueError(
                    f"Graph disconnected: input {node.layer.name!r} is not among the model's "
                    f"inputs"
                )
            known.update(id(t) for t in node.output_tensors)
    names = [lay.name for lay in layers]
    for name in names:
        if names.count(name) != 1:
            raise ValueError(f'The name "{name}" is used {names.count(name)} times in the '
                             f'model. All layer names should be unique.')
    return run_order, layers


def supports_masking(layer) -> bool:
    """Keras's `supports_masking`: set on the layer, or implied by a custom compute_mask."""
    if getattr(layer, "_outputs_carry_masks", False):  # a nested model
        return True
    flag = getattr(layer, "supports_masking", None)
    if flag is not None:
        return bool(flag)
    return type(layer).compute_mask is not Layer.compute_mask


class Step(NamedTuple):
    node: object
    cache: object
    outputs: list  # flat output arrays
    has_state: bool


class ForwardRun(NamedTuple):
    """Everything one forward run leaves: values and masks by tensor id, steps, extra loss."""

    values: dict
    masks: dict
    steps: list
    activity_loss: float


def _node_inputs(node, values, masks):
    """(args, kwargs for forward, mask passed, previous mask) for one node."""
    layer = node.layer
    args = map_structure(lambda t: values[id(t)], node.call_args)
    args = layer._convert_inputs(args)
    kwargs = {}
    if "initial_state" in node.call_kwargs:
        kwargs["initial_state"] = map_structure(lambda t: values[id(t)],
                                                node.call_kwargs["initial_state"])
    previous = map_structure(lambda t: masks.get(id(t)), node.call_args)
    if "mask" in node.call_kwargs:
        mask = map_structure(lambda t: values[id(t)] if isinstance(t, KerasTensor) else t,
                             node.call_kwargs["mask"])
        previous = mask
    elif "initial_state" not in node.call_kwargs:
        mask = previous  # Keras passes the only tensor argument's mask
    else:
        mask = None
    if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
        mask = None
    return args, kwargs, mask, previous


def run_forward(run_order, inputs, arrays, training=False, keep_cache=False,
                input_masks=None) -> ForwardRun:
    """Run the nodes on `arrays` (aligned with the input KerasTensors `inputs`).

    `input_masks` (aligned with `inputs`, None entries allowed) are the masks the inputs
    arrive with, as when a model is called inside another model.
    """
    values = {id(t): a for t, a in zip(inputs, arrays)}
    masks = {id(t): np.asarray(m, bool) for t, m in zip(inputs, input_masks or [])
             if m is not None}
    steps, activity_loss = [], 0.0
    for node in run_order:
        layer = node.layer
        args, kwargs, mask, previous = _node_inputs(node, values, masks)
        out, cache = layer.forward(args, training=training, mask=mask, keep_cache=keep_cache,
                                   **kwargs)
        flat = flatten(out) if isinstance(node.outputs, list) else [out]
        for t, a in zip(node.output_tensors, flat):
            values[id(t)] = a
        if supports_masking(layer):
            out_masks = layer.compute_mask(args, previous)
            if not (isinstance(node.outputs, list) and isinstance(out_masks, (list, tuple))):
                out_masks = [out_masks]
            for t, m in zip(node.output_tensors, out_masks):
                if m is not None:
                    masks[id(t)] = np.asarray(m, bool)
        reg = getattr(layer, "activity_regularizer", None)
        if reg is not None:
            for a in flat:
                activity_loss += float(reg(a)) / max(a.shape[0], 1) if a.ndim else float(reg(a))
        steps.append(Step(node, cache, flat, "initial_state" in node.call_kwargs))
    return ForwardRun(values, masks, steps, activity_loss)


def run_backward(run: ForwardRun, outputs, d_outputs, inputs=None):
    """Gradients for a forward run kept with `keep_cache=True`.

    Args:
        outputs: the output KerasTensors; d_outputs: their gradients (None for none).
        inputs: the model's input KerasTensors when their gradients are not wanted
            (training): a layer fed by them alone may skip its input gradient.

    Returns:
        (grads of the input tensors by id, weight grads by id(Variable)).
    """
    grads = {}
    for t, d in zip(outputs, d_outputs):
        if d is not None:
            grads[id(t)] = grads[id(t)] + d if id(t) in grads else d
    weight_grads = {}
    for step in reversed(run.steps):
        node, layer = step.node, step.node.layer
        d = [grads.get(id(t)) for t in node.output_tensors]
        reg = getattr(layer, "activity_regularizer", None)
        if reg is not None:
            d = [(0 if g is None else g) + reg.grad(a) / max(a.shape[0], 1)
                 for g, a in zip(d, step.outputs)]
        if all(g is None for g in d):
            continue
        if isinstance(node.outputs, list):
            d_out = tuple(d)
        else:
            d_out = d[0]
        if skip_input_grad(layer, node, inputs):
            d_in, d_w = layer.backward(step.cache, d_out, input_grad=False)
        else:
            d_in, d_w = layer.backward(step.cache, d_out)
        for var, g in zip(layer.trainable_weights, d_w):
            if g is not None:
                key = id(var)
                weight_grads[key] = weight_grads[key] + g if key in weight_grads else g
        if step.has_state:
            d_in, d_states = d_in
            _accumulate(grads, node.call_kwargs["initial_state"], d_states)
        _accumulate(grads, node.call_args, d_in)
    return grads, weight_grads


def skip_input_grad(layer, node, inputs) -> bool:
    """Whether `layer` may skip dx: it can, and only the unwanted model inputs feed it."""
    if inputs is None or not getattr(layer, "can_skip_input_grad", False):
        return False
    unwanted = {id(t) for t in inputs}
    return all(id(t) in unwanted for t in flatten(node.call_args)
               if isinstance(t, KerasTensor))


def _accumulate(grads, tensors, d):
    if d is None:
        return
    if isinstance(tensors, (list, tuple)):
        for t, g in zip(tensors, d):
            _accumulate(grads, t, g)
        return
    if isinstance(tensors, KerasTensor):
        grads[id(tensors)] = grads[id(tensors)] + d if id(tensors) in grads else d
