"""See inside an LSTM: `trace` every gate and state, `explain` its outputs, plots, a report.

    lk.trace(layer, x)       -> Trace (i, f, g, o, c, h per step), exact
    lk.explain(layer, x)     -> what each returned array is, with checked equalities
    lk.inspection.plots      -> matplotlib figures (the `viz` extra)
    lk.inspection.report(m, x, "report.html")  -> one self-contained HTML file

Example:
    >>> import numpy as np
    >>> import lstmkit as lk
    >>> t = lk.trace(lk.layers.LSTM(4), np.ones((2, 3, 5), "float32"))
    >>> t.c.shape
    (2, 3, 4)
"""

# `plots` and `report` import matplotlib only inside their functions, so this stays light.
# `report` (the function) is bound after its module, so `lk.inspection.report(...)` calls it.
from . import plots
from .explain import Explanation, explain
from .report import report
from .trace import BidirectionalTrace, Trace, trace

__all__ = ["BidirectionalTrace", "Explanation", "Trace", "explain", "plots", "report", "trace"]
