"""What every lstmkit cell shares: one step called on arrays, and a sequence run on the
reference loop (`reference_rnn`) for the `RNN` layer.

A cell class mixes in `RecurrentCell` and defines `step_fns(masks)` (its step with
the weights bound, `reference_rnn.StepFns`) and `make_dropout_masks(batch, training)`.
`LSTMCell` overrides `run_sequence` with the fused kernels. The argument checks
(`units`, dropout rates, a step's inputs and states) are here once for every cell.

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> cell = lk.layers.GRUCell(4)
    >>> h, [h_again] = cell(np.ones((2, 3), "float32"), cell.get_initial_state(2))
    >>> h.shape
    (2, 4)
"""

from __future__ import annotations

import numpy as np

from .. import constraints as _constraints
from .. import initializers as _initializers
from .. import reference_rnn as _rr
from .. import regularizers as _regularizers
from ..kernels import cells as _cells
from ..utils import SeedGenerator
from .base import check_array
from .rnn import RunResult, _flatten, _state_names, state_sizes


def _rate(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(min(1.0, max(0.0, value)))  # Keras clips the rate


def _units(units):
    if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units <= 0:
        raise ValueError(
            f"Received an invalid value for argument `units`, expected a positive integer, "
            f"got {units!r}."
        )
    return int(units)


def dropout_mask(rng, shape, rate, dtype):
    """Inverted dropout on ones: kept units are 1 / (1 - rate), dropped are 0."""
    if rate >= 1.0:
        return np.zeros(shape, dtype)
    keep = rng.random(shape) >= rate
    return (keep / (1.0 - rate)).astype(dtype)


def cell_config(layer, cell_keys, activity_before) -> dict:
    """A GRU/SimpleRNN layer's Keras config: the RNN keys, then the cell's, flat.

    `activity_before`: the cell key that `activity_regularizer` precedes (Keras's order).
    """
    from .rnn import RNN

    config = RNN.get_config(layer)
    config.pop("cell")
    cell = layer.cell.get_config()
    from .. import regularizers as _regularizers

    for key in cell_keys:
        if key == activity_before:
            config["activity_regularizer"] = _regularizers.serialize(
                layer.activity_regularizer)
        config[key] = cell[key]
    return config


def _resolve(backend):
    from ..kernels import resolve_backend

    return resolve_backend(backend)


class RecurrentCell:
    """Mixin for `Layer` cells that run on the reference loop."""

    supports_masking = False  # as Keras 3 sets it on its cells (the RNN layer takes the mask)

    def _set_weight_args(self, units, use_bias, initializers, regularizers, constraints,
                         dropout, recurrent_dropout, seed):
        """The arguments GRUCell and SimpleRNNCell share, checked and resolved as Keras does.

        `initializers`, `regularizers`, `constraints`: (kernel, recurrent, bias) each.
        """
        self.units = _units(units)
        self.use_bias = bool(use_bias)
        for kind, module, values in (("initializer", _initializers, initializers),
                                     ("regularizer", _regularizers, regularizers),
                                     ("constraint", _constraints, constraints)):
            for weight, value in zip(("kernel", "recurrent", "bias"), values):
                setattr(self, f"{weight}_{kind}", module.get(value))
        self.dropout = _rate(dropout, "dropout")
        self.recurrent_dropout = _rate(recurrent_dropout, "recurrent_dropout")
        self.seed = seed
        self.seed_generator = SeedGenerator(seed)
        self.state_size = self.units
        self.output_size = self.units
        self.kernel = self.recurrent_kernel = self.bias = None

    def _build_weights(self, input_shape, width: int, bias_shape: tuple, bias_init=None):
        """kernel (D, width), recurrent_kernel (H, width) and, with use_bias, bias
        `bias_shape` (from `bias_init`, default the bias_initializer), under the layer's
        Keras paths; then the cell is built."""
        input_dim = input_shape[-1]
        self._check_built(input_dim)
        prefix = getattr(self, "_path_prefix", self.name)
        self._weights = []  # building again makes new weights, never a second set
        self.kernel = self.add_weight(
            "kernel", (input_dim, width), self.kernel_initializer, self.kernel_regularizer,
            self.kernel_constraint, path=f"{prefix}/kernel")
        self.recurrent_kernel = self.add_weight(
            "recurrent_kernel", (self.units, width), self.recurrent_initializer,
            self.recurrent_regularizer, self.recurrent_constraint,
            path=f"{prefix}/recurrent_kernel")
        if self.use_bias:
            init = self.bias_initializer if bias_init is None else bias_init
            self.bias = self.add_weight("bias", bias_shape, init,
                                        self.bias_regularizer, self.bias_constraint,
                                        path=f"{prefix}/bias")
        self.input_dim = int(input_dim)
        self.built = True

    #: gates with a dropout mask each in implementation 1 (LSTM 4, GRU 3)
    dropout_gates = 1

    def _applies_rate(self, rate) -> bool:
        # LSTMCell.call and GRUCell.call apply a mask only when `0 < rate < 1`: a rate of 1
        # drops nothing there (SimpleRNNCell overrides this).
        return 0.0 < rate < 1.0

    def make_dropout_masks(self, batch_size, training):
        """(input mask, recurrent mask) for one call, None where unused; drawn once a call
        and shared across time (Keras's DropoutRNNCell).

        (B, D) and (B, H); with implementation 1 (which recurrent dropout forces), one
        mask per gate: (gates, B, D) and (gates, B, H).
        """
        use_dm = training and self._applies_rate(self.dropout)
        use_rm = training and self._applies_rate(self.recurrent_dropout)
        if not (use_dm or use_rm):
            return None, None
        rng = self.seed_generator.next()
        per_gate = (self.dropout_gates,) if getattr(self, "implementation", 2) == 1 else ()
        dm = rm = None
        if use_dm:
            dm = dropout_mask(rng, per_gate + (batch_size, self.input_dim), self.dropout,
                              self.dtype)
        if use_rm:
            rm = dropout_mask(rng, per_gate + (batch_size, self.units), self.recurrent_dropout,
                              self.dtype)
        return dm, rm

    def _all_weights(self):
        """Own weights: a cell has no sublayers (it defines `call`, so the base class would
        look for tracked sublayers on every call, as for a custom layer)."""
        return list(self._weights)

    def get_initial_state(self, batch_size=None):
        return [np.zeros((batch_size, s), self.dtype) for s in state_sizes(self)]

    def _check_built(self, input_dim):
        if input_dim is None:
            raise ValueError(f"The last dimension of the inputs to {self.name!r} must be known")

    def run_sequence(self, x, states, *, mask=None, go_backwards=False,
                     zero_output_for_mask=False, training=False, return_sequences=True,
                     keep_cache=False, backend=None) -> RunResult:
        """Run the cell over x (B, T, D) from `states` (flat list, or None for zeros)."""
        B = x.shape[0]
        masks = self.make_dropout_masks(B, training)
        kind = getattr(self, "kernel_kind", None)  # "GRU" / "SimpleRNN": a fused kernel exists
        backend = _resolve(backend)
        if backend != "reference":
            weights = [w.value for w in self._weights]  # read once: one snapshot per call
            reason = f"lstmkit has no fused kernel for {type(self).__name__}" if kind is None \
                else self._kernel_reason(x, states, masks, weights, wait=backend == "kernel")
            if reason is not None and backend == "kernel":
                raise ValueError(
                    f"backend='kernel' (or use_cudnn=True) cannot run {type(self).__name__}: "
                    f"{reason}. Use backend='auto' or 'reference' (or use_cudnn='auto').")
            if reason is None:
                return self._run_kernel(x, states, masks, mask, go_backwards,
                                        zero_output_for_mask, keep_cache, return_sequences,
                                        weights)
        step = self.step_fns(masks)
        if states is None:
            states = self.get_initial_state(B)
        seq = _rr.rnn_sequence(step, x, states, mask, go_backwards, zero_output_for_mask,
                               keep_steps=keep_cache)
        return RunResult(seq.outputs, seq.outputs[:, -1], seq.states,
                         (step, seq) if keep_cache else None, "reference")

    def _kernel_reason(self, x, states, masks, weights, wait=True):
        arrays = weights + list(states or []) + list(masks)
        return _cells.unsupported_reason(self.kernel_kind, x, arrays, self.activation,
                                         getattr(self, "recurrent_activation", None),
                                         masks[1], wait=wait)

    def _run_kernel(self, x, states, masks, mask, go_backwards, zero_output_for_mask,
                    keep_cache, return_sequences, weights):
        run = _cells.run_forward(
            self.kernel_kind, x, weights[0], weights[1], weights[2] if len(weights) > 2 else None,
            None if states is None else states[0],
            reset_after=getattr(self, "reset_after", False), mask=mask,
            go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
            dropout_mask=masks[0], keep_cache=keep_cache, return_sequences=return_sequences)
        return RunResult(run.outputs, run.last, run.states, run.cache, "kernel")

    def run_sequence_backward(self, result: RunResult, d_seq, d_states, input_grad=True):
        """(dx (B, T, D), d_initial_states (flat), d_weights) for a `run_sequence` result."""
        if result.cache is None:
            raise ValueError("run_sequence_backward needs a run with keep_cache=True")
        if result.backend == "kernel":
            return _cells.run_backward(result.cache, d_seq, d_states[0])
        step, seq = result.cache
        return _rr.rnn_sequence_backward(step, seq, d_seq, d_states)

    def __call__(self, inputs, states, training=False):
        inputs = check_array(inputs, self.dtype)
        if inputs.ndim != 2:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"ndim=2 (batch, features), found ndim={inputs.ndim}. "
                f"Full shape received: {inputs.shape}"
            )
        if not self.built:
            self.build(inputs.shape)
        return self.call(inputs, states, training=training)

    def call(self, inputs, states, training=False):
        """One step: returns (output, new_states) as the Keras cell does."""
        flat = self._check_step(inputs, states)
        out, new, _ = self.step_fns(self.make_dropout_masks(len(inputs), training)).forward(
            inputs, flat)
        return out, new

    def _check_step(self, inputs, states) -> list:
        """The flat states of one step on inputs (B, D), checked: one (B, size) array each."""
        B, D = inputs.shape
        if D != self.input_dim:
            raise ValueError(
                f"Input 0 of layer {self.name!r} is incompatible with the layer: expected "
                f"axis -1 of input shape to have value {self.input_dim}, but received input "
                f"with shape {inputs.shape}"
            )
        sizes, names = state_sizes(self), _state_names(self)
        flat = _flatten(states) if isinstance(states, (list, tuple)) else [states]
        if len(flat) != len(sizes):
            each = f"(batch, {sizes[0]})" if len(set(sizes)) == 1 else f"(batch, {sizes})"
            raise ValueError(
                f"Layer {self.name!r} expects states as a list of {len(sizes)} arrays "
                f"[{', '.join(names)}], each {each}; got {len(flat)}")
        flat = [check_array(s, self.dtype, "states") for s in flat]
        for s, size, name in zip(flat, sizes, names):
            if s.shape != (B, size):  # nothing is silently broadcast
                raise ValueError(
                    f"State {name} of layer {self.name!r} must have shape (batch, units) = "
                    f"{(B, size)}, got {s.shape}")
        return flat
