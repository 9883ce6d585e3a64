"""`compile` and what it stores: optimizer, per-output losses and weights, metrics and their
names; `compile_from_config` for `load_model(compile=True)`.

Names follow keras/src/trainers/compile_utils.py: one output logs "loss" and each
metric under the string it was given ("accuracy", "mae"); several outputs log
"loss", "<output>_loss" and "<output>_<metric>". "accuracy" becomes binary,
sparse categorical or categorical accuracy from the shapes of the first batch.
"""

from __future__ import annotations

from . import losses as _losses
from . import metrics as _metrics
from . import optimizers as _optimizers

_DIRECTIONS = {"accuracy": "up", "acc": "up", "binary_accuracy": "up",
               "categorical_accuracy": "up", "sparse_categorical_accuracy": "up",
               "mae": "down", "mse": "down", "mean_absolute_error": "down",
               "mean_squared_error": "down"}


def _per_output(spec, names, what):
    """A list with one entry per output from a single spec, a list or a dict by name."""
    n = len(names)
    if isinstance(spec, dict):
        unknown = set(spec) - set(names)
        if unknown:
            raise ValueError(f"Unknown output names in `{what}`: {sorted(unknown)}; the model's "
                             f"outputs are {names}")
        values = [spec.get(name) for name in names]
        if what in ("metrics", "weighted_metrics"):
            values = [[] if v is None else list(v) if isinstance(v, (list, tuple)) else [v]
                      for v in values]
        return values
    if isinstance(spec, (list, tuple)) and what == "loss":
        if len(spec) != n:
            raise ValueError(f"`loss` has {len(spec)} entries for a model with {n} outputs")
        return list(spec)
    if isinstance(spec, (list, tuple)) and what in ("metrics", "weighted_metrics"):
        if n > 1 and len(spec) == n and all(isinstance(s, (list, tuple)) or s is None
                                            for s in spec):
            return [list(s or []) for s in spec]
        return [list(spec) for _ in names]
    return [spec for _ in names]


class CompileMetrics:
    """The compiled metrics as one entry of `model.metrics`, named "compile_metrics" as in
    keras/src/trainers/compile_utils.py: `result()` is a dict by metric name."""

    name = "compile_metrics"

    def __init__(self, state):
        self._state = state

    @property
    def metrics(self) -> list:
        """The metric objects (none yet before the first batch or without a state)."""
        return [m for _, m, _ in getattr(self._state, "metrics", None) or []]

    def result(self) -> dict:
        """{log name: value}, e.g. {"a_mae": ...} for output "a" of a multi-output model."""
        return {self._state.log_names[id(m)]: m.result() for m in self.metrics}

    def reset_state(self):
        for m in self.metrics:
            m.reset_state()

    def __repr__(self):
        return f"<CompileMetrics name={self.name}>"


class CompileState:
    def __init__(self, model, optimizer, loss, loss_weights, metrics, weighted_metrics):
        self.output_names = list(model.output_names)
        self.multi = len(self.output_names) > 1
        self.optimizer = _optimizers.get(optimizer)
        self._user = {"loss": loss, "loss_weights": loss_weights, "metrics": metrics,
                          "weighted_metrics": weighted_metrics, "optimizer": optimizer}
        # As Keras, compile() accepts loss=None; training then raises (see `check_loss`).
        self.losses = [None if s is None else _losses.get(s)
                       for s in _per_output(loss, self.output_names, "loss")]
        if loss_weights is None:
            self.loss_weights = [None] * len(self.output_names)
        elif isinstance(loss_weights, (int, float)):
            self.loss_weights = [float(loss_weights)] * len(self.output_names)
        else:
            self.loss_weights = _per_output(loss_weights, self.output_names, "loss")
        self._metric_specs = _per_output(metrics or [], self.output_names, "metrics")
        self._weighted_specs = _per_output(weighted_metrics or [], self.output_names,
                                           "weighted_metrics")
        for specs in self._metric_specs + self._weighted_specs:
            for s in specs:
                if isinstance(s, str) and s.lower() not in ("accuracy", "acc"):
                    _metrics.get(s)  # unknown names fail at compile time
        self.metrics = None  # built on the first batch: [(output index, metric, weighted)]
        self.log_names: dict = {}  # id(metric) -> its key in the logs ("b_accuracy")
        self.loss_tracker = _metrics.Mean("loss")
        self.output_loss_trackers = [_metrics.Mean(f"{n}_loss") for n in self.output_names] \
            if self.multi else []
        self.compile_metrics = CompileMetrics(self)
        self._stepped = False  # Keras lists the per-output losses once a step has run

    def check_loss(self):
        if all(loss_fn is None for loss_fn in self.losses):
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")

    def build_metrics(self, ys, preds):
        """Resolve the metrics on the first batch; names as keras CompileMetrics.result():
        all unweighted metrics (output by output), then the weighted ones; a repeated name
        gets "_1", "_2" (unweighted) or a "weighted_" prefix (weighted)."""
        if self.metrics is not None:
            return
        self.metrics = []
        seen = {}
        for weighted, all_specs in ((False, self._metric_specs), (True, self._weighted_specs)):
            for i, specs in enumerate(all_specs):
                prefix = f"{self.output_names[i]}_" if self.multi else ""
                for spec in specs:
                    m = _metrics.get(spec, ys[i], preds[i])
                    if isinstance(spec, _metrics.Mean) and i > 0:
                        m = type(spec)()  # a fresh instance per output
                        m.name = spec.name
                    base = spec if isinstance(spec, str) else m.name
                    m.name = base  # the metric keeps Keras's name; the logs get `name`
                    name = prefix + base
                    if name in seen and weighted:
                        name = f"{prefix}weighted_{base}"
                    if name in seen:
                        seen[name] += 1
                        name = f"{name}_{seen[name] - 1}"
                    else:
                        seen[name] = 1
                    self.log_names[id(m)] = name
                    self.metrics.append((i, m, weighted))

    def reset(self):
        self.loss_tracker.reset_state()
        for t in self.output_loss_trackers:
            t.reset_state()
        for _, m, _ in self.metrics or []:
            m.reset_state()

    def update_metrics(self, ys, preds, masks, sample_weight):
        self._stepped = True
        self.build_metrics(ys, preds)
        for i, m, weighted in self.metrics:
            sw = sample_weight[i] if isinstance(sample_weight, list) else sample_weight
            m.update_state(ys[i], preds[i], sample_weight=sw if weighted else None,
                           mask=masks[i])

    def results(self) -> dict:
        """The logs: running means, keys sorted as Keras's `pythonify_logs` sorts them."""
        logs = {"loss": float(self.loss_tracker.result())}
        for t in self.output_loss_trackers:
            logs[t.name] = float(t.result())
        for _, m, _ in self.metrics or []:
            logs[self.log_names[id(m)]] = float(m.result())
        return dict(sorted(logs.items()))

    def ordered(self, logs) -> list:
        """Keras's `_flatten_metrics_in_order`: loss, compile metrics, per-output losses."""
        keys = ["loss"] + [self.log_names[id(m)] for _, m, _ in self.metrics or []] + \
            [t.name for t in self.output_loss_trackers]
        return [logs[k] for k in keys if k in logs]

    def has_compile_metrics(self) -> bool:
        return any(self._metric_specs) or any(self._weighted_specs)

    def metric_objects(self) -> list:
        """`model.metrics`: the loss Mean, "compile_metrics", then the per-output loss Means
        (once a step has run), as Keras 3.15 lists them."""
        out = [self.loss_tracker]
        if self.has_compile_metrics():
            out.append(self.compile_metrics)
        return out + (self.output_loss_trackers if self._stepped else [])

    def metrics_names(self) -> list:
        return [m.name for m in self.metric_objects()]

    def metric_direction(self, name):
        """"up" / "down" for a logged metric name (for `mode="auto"` callbacks)."""
        for prefix in [""] + [f"{n}_" for n in self.output_names]:
            if name.startswith(prefix) and name[len(prefix):] in _DIRECTIONS:
                return _DIRECTIONS[name[len(prefix):]]
        return None

    def get_config(self) -> dict:
        """Keras's `compile_config` as saved in a `.keras` file."""
        u = self._user
        opt = _optimizers.serialize(self.optimizer)
        opt["module"] = "keras.optimizers"
        opt["registered_name"] = None

        def ser(spec):
            if spec is None or isinstance(spec, (str, int, float)):
                return spec
            if isinstance(spec, (list, tuple)):
                return [ser(s) for s in spec]
            if isinstance(spec, dict):
                return {k: ser(v) for k, v in spec.items()}
            if isinstance(spec, _losses.Loss):
                return _losses.serialize(spec)
            return getattr(spec, "name", str(spec))

        return {"optimizer": opt, "loss": ser(u["loss"]), "loss_weights": ser(u["loss_weights"]),
                "metrics": ser(u["metrics"]), "weighted_metrics": ser(u["weighted_metrics"]),
                "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


# Keras arguments about how Keras runs, not what it computes: accepted, and a one-time
# UserWarning says they do nothing here. name -> (Keras's default, why).
NO_EFFECT = {
    "run_eagerly": (False, "lstmkit always runs eagerly (NumPy and numba kernels, no graph)"),
    "jit_compile": ("auto", "lstmkit's kernels are always compiled by numba; there is no XLA"),
    "steps_per_execution": (1, "lstmkit runs one batch per step"),
    "auto_scale_loss": (True, "lstmkit computes in float32 or float64, so there is no loss "
                              "scaling"),
}


def warn_no_effect(keras_only):
    """Warn once for each of `NO_EFFECT`'s arguments given another value than Keras's."""
    from .. import _config
    for name, value in keras_only.items():
        if name not in NO_EFFECT:
            raise TypeError(f"compile() got an unexpected keyword argument {name!r}")
        default, why = NO_EFFECT[name]
        if value != default:
            _config.warn_no_effect("compile", name, value, why, stacklevel=4)


# -- compile: what model.compile and load_model(compile=True) call -------------------------
def compile(model, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
            weighted_metrics=None, **keras_only):
    """Configure training: `model.compile(optimizer="adam", loss="mse", metrics=["mae"])`.

    `run_eagerly`, `jit_compile`, `steps_per_execution` and `auto_scale_loss` are accepted;
    a value other than Keras's default gives a one-time UserWarning
    (see `compile_state.NO_EFFECT`).
    """
    warn_no_effect(keras_only)
    model._compile_args = {"optimizer": optimizer, "loss": loss, "loss_weights": loss_weights,
                               "metrics": metrics, "weighted_metrics": weighted_metrics}
    model._compile_state = None
    if getattr(model, "built", False):
        model._compile_state = CompileState(model, optimizer, loss, loss_weights, metrics,
                                            weighted_metrics)
        model.optimizer = model._compile_state.optimizer
    else:  # a Sequential without an input shape: validate names now, finish on first data
        model.optimizer = _optimizers.get(optimizer)
        model._compile_args["optimizer"] = model.optimizer
        for spec in (loss if isinstance(loss, (list, tuple)) else [loss]):
            if spec is not None and not isinstance(spec, dict):
                _losses.get(spec)
    model.compiled = True


def compile_from_config(model, compile_config):
    """Compile `model` from Keras's saved `compile_config` (what `load_model(compile=True)` does).

    Accepts the optimizer entry (any module: torch or TensorFlow Keras) and loss / metric
    names or Keras entries; returns False when the config is empty (nothing to compile).
    """
    if not compile_config:
        return False

    def loss_spec(spec):
        if isinstance(spec, dict) and "class_name" in spec:
            return _losses.get(spec)
        if isinstance(spec, list):
            return [loss_spec(s) for s in spec]
        if isinstance(spec, dict):
            return {k: loss_spec(v) for k, v in spec.items()}
        return spec

    def metric_spec(spec):
        if isinstance(spec, list):
            return [metric_spec(s) for s in spec]
        if isinstance(spec, dict) and "class_name" in spec:
            config = spec.get("config")
            return config.get("name") if isinstance(config, dict) else config
        if isinstance(spec, dict):
            return {k: metric_spec(v) for k, v in spec.items()}
        return spec

    opt = compile_config.get("optimizer") or "rmsprop"
    if isinstance(opt, dict):
        opt = _optimizers.deserialize(opt)
    compile(model, optimizer=opt, loss=loss_spec(compile_config.get("loss")),
            loss_weights=compile_config.get("loss_weights"),
            metrics=metric_spec(compile_config.get("metrics")),
            weighted_metrics=metric_spec(compile_config.get("weighted_metrics")))
    return True
