"""Loading mmengine checkpoints under torch's ``weights_only`` default.

torch >= 2.6 unpickles checkpoints with ``weights_only=True`` by default:
only tensors, containers and an allow-list of classes may appear. mmengine
0.10.7 saves its training state (``message_hub``) as
:class:`mmengine.logging.HistoryBuffer` objects holding numpy arrays, so a
resumed training fails with ``Unsupported global: ...HistoryBuffer``.
Published checkpoints (``meta`` + ``state_dict``) load either way.

:func:`register_checkpoint_safe_globals` adds exactly the classes that
mmengine's own checkpoints need to torch's allow-list (no mmengine function
is patched); it runs when :mod:`mmsearch.utils` is imported.

A HistoryBuffer pickles its statistics methods as
``getattr(HistoryBuffer, 'mean')``. The built-in ``getattr`` is not allowed
(it reaches any attribute); :func:`history_buffer_method` takes its place in
the allow-list and returns only public methods of HistoryBuffer.
"""
from typing import List

import pickle

import numpy as np
import torch


def _numpy_checkpoint_globals() -> List[object]:
    """The numpy callables that pickled arrays and scalars refer to.

    Returns:
        list: ``_reconstruct``, ``scalar``, ``ndarray``, ``dtype`` and the
        dtype classes of the numeric types a training log holds.
    """
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtype_classes = [
        type(np.dtype(name)) for name in ('float64', 'float32', 'float16',
                                          'int64', 'int32', 'uint8', 'bool')
    ]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtype_classes]


def history_buffer_method(owner: type, name: str) -> object:
    """``getattr(owner, name)`` restricted to HistoryBuffer's methods.

    Args:
        owner (type): Must be :class:`mmengine.logging.HistoryBuffer`.
        name (str): A public method name, e.g. ``'mean'``.

    Returns:
        The method.

    Raises:
        pickle.UnpicklingError: For any other object or attribute.
    """
    from mmengine.logging import HistoryBuffer
    method = getattr(
        HistoryBuffer, name,
        None) if isinstance(name, str) and not name.startswith('_') else None
    if owner is not HistoryBuffer or not callable(method):
        raise pickle.UnpicklingError(
            f'checkpoint asks for getattr({owner!r}, {name!r}); only '
            'public HistoryBuffer methods are allowed')
    return method


def checkpoint_safe_globals() -> List[object]:
    """Classes and functions mmengine's training checkpoints pickle.

    Returns:
        list: Objects (or ``(object, pickled name)`` pairs) to pass to
        ``torch.serialization.add_safe_globals``.
    """
    from mmengine.logging import HistoryBuffer
    return [
        HistoryBuffer, (history_buffer_method, 'builtins.getattr'),
        *_numpy_checkpoint_globals()
    ]


def register_checkpoint_safe_globals() -> None:
    """Allow mmengine's training checkpoints under ``weights_only=True``.

    Idempotent. Does nothing on torch versions without
    ``torch.serialization.add_safe_globals`` (< 2.4), which load with
    ``weights_only=False`` anyway.
    """
    add_safe_globals = getattr(torch.serialization, 'add_safe_globals', None)
    if add_safe_globals is None:  # pragma: no cover - old torch
        return
    registered = torch.serialization.get_safe_globals()
    missing = [
        obj for obj in checkpoint_safe_globals() if obj not in registered
    ]
    if missing:
        add_safe_globals(missing)
