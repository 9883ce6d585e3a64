"""What `Model` and `Sequential` share: weights, `get_layer`, `summary`, `predict`, training.

The training methods (`compile`, `fit`, `evaluate`, ...) are defined in
`lstmkit.training.trainer` and bound here, so models depend on training only
when it is used.
"""

from __future__ import annotations

import numpy as np

from ..layers import _snapshot


class ModelAPI:
    """Mixin for models; the subclass provides `layers`, `forward`, `backward`."""

    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.stop_training = False
        self.history = None

    # -- weights -------------------------------------------------------------------------
    def _unique(self, attr):
        seen, out = set(), []
        if self._weights:  # a subclassed model's own weights (add_weight) come first
            for w in self._weights:
                if attr == "weights" or w.trainable == (attr == "trainable_weights"):
                    seen.add(id(w))
                    out.append(w)
        for layer in self.layers:
            for v in getattr(layer, attr):
                if id(v) not in seen:
                    seen.add(id(v))
                    out.append(v)
        return out

    @property
    def weights(self):
        """All weights, layer by layer, in Keras's order."""
        return self._unique("weights")

    @property
    def trainable_weights(self):
        return self._unique("trainable_weights") if self.trainable else []

    @property
    def non_trainable_weights(self):
        if not self.trainable:
            return self.weights
        return self._unique("non_trainable_weights")

    trainable_variables = trainable_weights
    variables = weights

    def get_weights(self) -> list:
        """Copies of every weight as NumPy arrays, in Keras's order."""
        return [v.value.copy() for v in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight from a list of arrays in Keras's order (as `get_weights` gives)."""
        own = self.weights
        weights = list(weights)
        if len(weights) != len(own):
            raise ValueError(
                f"You called `set_weights(weights)` on model {self.name!r} with a weight list "
                f"of length {len(weights)}, but the model was expecting {len(own)} weights."
            )
        for var, value in zip(own, weights):
            if np.shape(value) != var.shape:
                raise ValueError(
                    f"Weight {var.path!r} has shape {var.shape}, got an array of shape "
                    f"{np.shape(value)}"
                )
        # All layers at once: a predict in another thread sees the old set or the new one.
        _snapshot.publish(own, weights)

    def count_params(self) -> int:
        return int(sum(v.value.size for v in self.weights))

    @property
    def losses(self) -> list:
        """The weight regularization penalties (floats), as Keras adds them to the loss."""
        return [float(v.regularizer(v.value)) for v in self.weights
                if getattr(v, "regularizer", None) is not None]

    def get_layer(self, name=None, index=None):
        """A layer by name or by index in `layers` (exactly one of them)."""
        if (name is None) == (index is None):
            raise ValueError("Provide only a layer name or a layer index. Received: "
                             f"index={index}, name={name}.")
        layers = self.layers
        if index is not None:
            if not isinstance(index, int) or not -len(layers) <= index < len(layers):
                raise ValueError(f"Was asked to retrieve layer at index {index} but model only "
                                 f"has {len(layers)} layers.")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in layers]}.")

    # -- summary -------------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Print Keras's table of layers, output shapes and parameter counts.

        `positions`, `expand_nested`, `show_trainable` and `layer_range` are accepted; other
        values than Keras's defaults give a one-time UserWarning that they have no effect.
        """
        from .. import _config
        from .summary import summary_text
        for name, value, default in (("positions", positions, None),
                                     ("expand_nested", expand_nested, False),
                                     ("show_trainable", show_trainable, False),
                                     ("layer_range", layer_range, None)):
            if value != default:
                _config.warn_no_effect("summary", name, value, "lstmkit prints Keras's "
                                       "default table")
        text = summary_text(self, line_length=line_length)
        (print_fn or print)(text)

    # -- inference -----------------------------------------------------------------------
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        from ..training import trainer
        return trainer.predict(self, x, batch_size=batch_size, verbose=verbose, steps=steps,
                               callbacks=callbacks)

    def predict_on_batch(self, x):
        from ..training import trainer
        return trainer.predict_on_batch(self, x)

    # -- training ------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        from ..training import trainer
        trainer.compile(self, optimizer=optimizer, loss=loss, loss_weights=loss_weights,
                        metrics=metrics, weighted_metrics=weighted_metrics,
                        run_eagerly=run_eagerly, steps_per_execution=steps_per_execution,
                        jit_compile=jit_compile, auto_scale_loss=auto_scale_loss)

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        from ..training import trainer
        return trainer.fit(self, x, y, batch_size=batch_size, epochs=epochs, verbose=verbose,
                           callbacks=callbacks, validation_split=validation_split,
                           validation_data=validation_data, shuffle=shuffle,
                           class_weight=class_weight, sample_weight=sample_weight,
                           initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
                           validation_steps=validation_steps,
                           validation_batch_size=validation_batch_size,
                           validation_freq=validation_freq)

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        from ..training import trainer
        return trainer.evaluate(self, x, y, batch_size=batch_size, verbose=verbose,
                                sample_weight=sample_weight, steps=steps,
                                callbacks=callbacks, return_dict=return_dict)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None,
                       return_dict=False):
        from ..training import trainer
        return trainer.train_on_batch(self, x, y, sample_weight=sample_weight,
                                      class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        from ..training import trainer
        return trainer.test_on_batch(self, x, y, sample_weight=sample_weight,
                                     return_dict=return_dict)

    def get_compile_config(self):
        """Keras's `compile_config` (what a `.keras` file stores), or None if not compiled."""
        state = getattr(self, "_compile_state", None)
        return None if state is None else state.get_config()

    def compile_from_config(self, config):
        """Compile from a Keras `compile_config` dict (optimizer, loss, metrics)."""
        from ..training import trainer
        trainer.compile_from_config(self, config)

    def reset_metrics(self):
        state = getattr(self, "_compile_state", None)
        if state is not None:
            state.reset()

    @property
    def metrics(self) -> list:
        """Keras 3's `model.metrics`: [] before compile; then the "loss" Mean, the
        "compile_metrics" group (when metrics were given) and, once a step has run on a
        model with several outputs, one "<output>_loss" Mean per output."""
        if not getattr(self, "compiled", False):
            return []
        state = getattr(self, "_compile_state", None)
        if state is None:  # compiled before the model was built: the state comes with data
            from ..training.compile_state import CompileMetrics
            from ..training.metrics import Mean
            args = getattr(self, "_compile_args", {})
            has = bool(args.get("metrics") or args.get("weighted_metrics"))
            return [Mean("loss")] + ([CompileMetrics(None)] if has else [])
        return state.metric_objects()

    def get_metrics_result(self) -> dict:
        """The current values of the loss and metrics by log name (floats), as Keras's."""
        state = getattr(self, "_compile_state", None)
        return {} if state is None else state.results()

    @property
    def metrics_names(self):
        """The names of `metrics`: e.g. ["loss", "compile_metrics"]."""
        return [m.name for m in self.metrics]

    def to_json(self, **kwargs) -> str:
        """The model's Keras 3 config entry as a JSON string (see `lstmkit.saving.to_json`)."""
        from .. import saving as _io
        return _io.to_json(self, **kwargs)

    def save(self, filepath, overwrite=True, **kwargs):
        """Save to a `.keras` / `.h5` file (needs `lstmkit.saving`)."""
        try:
            from .. import saving as _io
            save_model = _io.save_model
        except (ImportError, AttributeError) as err:
            raise NotImplementedError("Saving models needs lstmkit.saving.save_model") from err
        return save_model(self, filepath, overwrite=overwrite, **kwargs)

    def save_weights(self, filepath, overwrite=True):
        try:
            from .. import saving as _io
            save_weights = _io.save_weights
        except (ImportError, AttributeError) as err:
            raise NotImplementedError("Saving weights needs lstmkit.saving.save_weights") from err
        return save_weights(self, filepath, overwrite=overwrite)

    def load_weights(self, filepath, **kwargs):
        from .. import saving as _io
        return _io.load_weights(self, filepath, **kwargs)

