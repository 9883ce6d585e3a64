"""lstmkit models (Sequential and functional) -> one `torch.nn.Module`, node by node.

`KerasModel` replays the model's graph (the run order of `lstmkit.models.graph`)
on torch tensors: each node calls the converted module of its layer, and masks
travel as Keras 3 passes them (keras/src/layers/layer.py `__call__`: the only
tensor argument's mask goes to `mask=`; layers that support masking set their
outputs' masks with `compute_mask`; others drop it).

Call: `module(x)` for one input, `module(x1, x2, ...)` for several (in the model's
input order); returns one tensor or a list, as the lstmkit model returns arrays.
"""

from __future__ import annotations

from torch import nn

from ..layers import LSTM, Bidirectional
from ..layers.input_layer import InputLayer
from ..layers.node import KerasTensor, map_structure
from ._torch_layers import layer_to_torch, layer_weights
from ._torch_modules import freeze_hidden_bias


def _ids(structure):
    """Replace each KerasTensor of a call structure by its integer id (others kept)."""
    return map_structure(lambda t: ("t", id(t)) if isinstance(t, KerasTensor) else t, structure)


def _is_ref(x):
    return isinstance(x, tuple) and len(x) == 2 and x[0] == "t"


def _fetch(structure, values):
    """The values of the tensor references in a call structure (lists kept)."""
    if _is_ref(structure):
        return values[structure[1]]
    if isinstance(structure, (list, tuple)):
        return type(structure)(_fetch(s, values) for s in structure)
    return structure


def _call_masks(step, values, masks):
    """(mask passed to the call, previous mask for compute_mask), as Keras 3 decides.

    keras/src/layers/layer.py `__call__` (and `models/graph.py` `_node_inputs`): an
    explicit `mask=` wins; else the mask of the only tensor argument is passed, and
    none when `initial_state` adds tensor arguments. Merging layers get a list.
    """
    ref = step["args"]
    if isinstance(ref, list):
        previous = [masks.get(a[1]) if _is_ref(a) else None for a in ref]
    else:
        previous = masks.get(ref[1]) if _is_ref(ref) else None
    if step["mask"] is not None:
        mask = previous = _fetch(step["mask"], values)
    elif step["initial_state"] is None:
        mask = previous
    else:
        mask = None
    if isinstance(mask, (list, tuple)) and all(m is None for m in mask):
        mask = None
    return mask, previous


class KerasModel(nn.Module):
    """A converted lstmkit model; see the module docstring."""

    def __init__(self, layers: dict, program: list, input_ids: list, output_ids: list,
                 outputs_list: bool):
        super().__init__()
        self.layers = nn.ModuleDict(layers)
        self.program = program
        self.input_ids = input_ids
        self.output_ids = output_ids
        self.outputs_list = outputs_list

    def forward(self, *inputs):
        if len(inputs) == 1 and isinstance(inputs[0], (list, tuple)):
            inputs = tuple(inputs[0])
        if len(inputs) != len(self.input_ids):
            raise ValueError(f"This model takes {len(self.input_ids)} input(s), got {len(inputs)}")
        values = dict(zip(self.input_ids, inputs))
        masks = {}
        for step in self.program:
            module = self.layers[step["layer"]]
            args = _fetch(step["args"], values)
            mask, previous = _call_masks(step, values, masks)
            kwargs = {}
            if step["initial_state"] is not None:
                kwargs["initial_state"] = _fetch(step["initial_state"], values)
            out = module(args, mask=mask, **kwargs)
            flat = list(out) if step["outputs_list"] else [out]
            values.update(zip(step["outputs"], flat))
            if step["supports_masking"]:
                out_masks = module.compute_mask(args, previous)
                if not (step["outputs_list"] and isinstance(out_masks, (list, tuple))):
                    out_masks = [out_masks]
                for i, m in zip(step["outputs"], out_masks):
                    if m is not None:
                        masks[i] = m
        outs = [values[i] for i in self.output_ids]
        return outs if self.outputs_list else outs[0]


def _supports_masking(layer):
    from ..models import graph

    return graph.supports_masking(layer)


def built_model(model, converter: str):
    """`model`, built, if it is an lstmkit Sequential or functional Model; else ValueError."""
    if not hasattr(model, "_run_order"):
        raise ValueError(
            f"{converter} converts lstmkit LSTM, Bidirectional, Sequential and functional "
            f"Model; got {type(model).__name__}"
        )
    if not model.built:
        model._ensure_built()
    return model


def model_to_torch(model) -> KerasModel:
    """Convert a built lstmkit `Sequential` or functional `Model`."""
    from ..layers.rnn import RNN
    from .torch import _TORCH_DTYPES, _rnn_to_torch, bidirectional_to_torch, lstm_to_torch

    built_model(model, "to_torch")
    layers, program = {}, []
    for node in model._run_order:
        layer = node.layer
        if isinstance(layer, InputLayer):
            continue
        if layer.name not in layers:
            if isinstance(layer, Bidirectional):
                layers[layer.name] = bidirectional_to_torch(layer)
            elif isinstance(layer, LSTM):
                layers[layer.name] = lstm_to_torch(layer)
            elif isinstance(layer, RNN):  # GRU, SimpleRNN, RNN of one of their cells
                layers[layer.name] = _rnn_to_torch(layer)
            elif hasattr(layer, "_run_order"):
                raise ValueError(f"Nested model {layer.name!r} is not supported by to_torch")
            else:
                layers[layer.name] = layer_to_torch(layer, _TORCH_DTYPES[layer.dtype])
            freeze_hidden_bias(layers[layer.name].requires_grad_(layer.trainable))
        kw = node.call_kwargs
        program.append({
            "layer": layer.name,
            "args": _ids(node.call_args),
            "initial_state": _ids(kw["initial_state"]) if "initial_state" in kw else None,
            "mask": _ids(kw["mask"]) if kw.get("mask") is not None else None,
            "outputs": [id(t) for t in node.output_tensors],
            "outputs_list": isinstance(node.outputs, list),
            "supports_masking": _supports_masking(layer),
        })
    module = KerasModel(layers, program, [id(t) for t in model.inputs],
                        [id(t) for t in model.outputs], isinstance(model._outputs_struct, list))
    from ..models import config as _model_config

    module.keras_model_entry = _model_config.serialize(model)
    return module.eval()


def _weighted_layers(model):
    return [layer for layer in model.layers if layer.weights]


def model_torch_weights(module) -> list:
    """All weights of a converted model, in the order of the model's layers."""
    if not isinstance(module, KerasModel):
        raise TypeError(f"Not a module made by lstmkit.convert.to_torch: {type(module).__name__}")
    out = []
    for m in module.layers.values():
        out += layer_weights(m)
    return out


def load_model_weights(target, module) -> None:
    """Copy the weights of a converted model back into `target`, layer by layer, by name."""
    if not hasattr(target, "_run_order"):
        raise ValueError(f"load_torch_weights: cannot load into {type(target).__name__}")
    if not isinstance(module, KerasModel):
        raise TypeError(f"load_torch_weights needs the module made by to_torch(target), got "
                         f"{type(module).__name__}")
    for layer in _weighted_layers(target):
        if layer.name not in module.layers:
            raise ValueError(f"The torch module has no layer {layer.name!r}; was it converted "
                             f"from this model?")
        layer.set_weights(layer_weights(module.layers[layer.name]))


def model_from_torch(module):
    """The lstmkit model a `KerasModel` was converted from, with the module's weights."""
    from ..models import config as _model_config

    model = _model_config.deserialize(module.keras_model_entry)
    load_model_weights(model, module)
    return model


__all__ = [
    "KerasModel",
    "load_model_weights",
    "model_from_torch",
    "model_to_torch",
    "model_torch_weights",
]
