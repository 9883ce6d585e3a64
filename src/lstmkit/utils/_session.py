"""`clear_session`: start naming layers afresh, as `keras.utils.clear_session` does.

lstmkit keeps no graph or device state; what a session holds is the counters behind
automatic names ("lstm", "lstm_1", ...), so two runs of one script name their layers
alike.

Example:
    >>> import lstmkit as lk
    >>> lk.utils.clear_session()
    >>> lk.layers.Dense(1).name
    'dense'
"""

from __future__ import annotations


def clear_session(free_memory=True):
    """Reset the automatic layer and model names (Keras's signature; nothing else to free)."""
    from ..layers import base
    base._NAME_COUNTS.clear()
