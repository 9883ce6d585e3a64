"""Building a model from a file under a weight budget: no more weights than the file holds.

The config gives shapes only through the graph (a Dense after a huge Flatten can ask
for 10**12 weights while no size key in the config is large), so the check happens
where weights are created: `Layer.add_weight` is wrapped while a file's model is
built, for the loading thread only.

Example:
    >>> import lstmkit as lk
    >>> try:
    ...     with weight_budget(10, "demo"):
    ...         lk.layers.Dense(100).build((None, 4))
    ... except ValueError as err:
    ...     print(str(err).split(", more")[0].split("would ")[1])
    create weight 'kernel' of shape (4, 100)
"""

from __future__ import annotations

import contextlib
import math
import threading

_LOCAL = threading.local()
_PATCH_LOCK = threading.Lock()
_PATCH = {"count": 0, "original": None}


def _guarded_add_weight(original):
    def add_weight(self, name, shape, initializer="zeros", *args, **kwargs):
        budget = getattr(_LOCAL, "budget", None)
        if budget is not None:
            n = math.prod(int(d) for d in shape)
            budget[0] -= n
            if budget[0] < 0:
                raise ValueError(
                    f"{budget[1]}: layer {self.name!r} would create weight {name!r} of shape "
                    f"{tuple(shape)}, more weights than the file holds ({budget[2]}); "
                    "refusing to allocate")
            if not hasattr(initializer, "shape"):
                initializer = "zeros"  # every value is then read from the file (all checked)
        return original(self, name, shape, initializer, *args, **kwargs)

    return add_weight


@contextlib.contextmanager
def weight_budget(limit: int, path: str):
    """While building a model from a file, refuse to create more weights than it holds.

    Shapes come from the config (a Dense after a huge Flatten can ask for 10**12 weights);
    `Layer.add_weight` is wrapped for this thread only, and skips the initializers (the
    file's values replace them; `_assign` checks that every weight is in the file).
    """
    from ..layers import base

    with _PATCH_LOCK:
        if _PATCH["count"] == 0:
            _PATCH["original"] = base.Layer.add_weight
            base.Layer.add_weight = _guarded_add_weight(_PATCH["original"])
        _PATCH["count"] += 1
    _LOCAL.budget = [limit, path, limit]
    try:
        yield
    finally:
        _LOCAL.budget = None
        with _PATCH_LOCK:
            _PATCH["count"] -= 1
            if _PATCH["count"] == 0:
                base.Layer.add_weight = _PATCH["original"]
