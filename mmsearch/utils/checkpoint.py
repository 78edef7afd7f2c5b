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

:func:`load_model_checkpoint` loads weights for inference (test, demo, the
search API) strictly: a checkpoint that leaves model tensors missing, holds
tensors of another shape or tensors the model does not have was trained
with another config, and evaluating it would give numbers from partly
random weights. It is refused with the counts and a few names, unless the
caller asks for a partial load.
"""
import logging
import os.path as osp
import pickle
import re
from dataclasses import dataclass, field
from typing import List, Mapping, Tuple

import numpy as np
import torch
import torch.nn as nn
from mmengine.logging import HistoryBuffer, print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import load_checkpoint


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


class CheckpointMismatchError(RuntimeError, ValueError):
    """A checkpoint's weights do not fit the model built from the config.

    A ``ValueError`` too: a wrong input file, which the command-line tools
    report as a one-line error (:func:`mmsearch.cli.run_cli`).
    """


@dataclass
class StateDictMismatch:
    """How a checkpoint's state dict differs from a model's.

    Attributes:
        num_model_tensors (int): Entries of the model's state dict.
        missing (list[str]): Model keys the checkpoint lacks (BatchNorm's
            ``num_batches_tracked`` excepted, as mmengine does).
        unexpected (list[str]): Checkpoint keys the model lacks.
        mismatched (list[tuple[str, tuple, tuple]]): ``(key, checkpoint
            shape, model shape)`` of keys whose shapes differ.
    """
    num_model_tensors: int
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    mismatched: List[Tuple[str, tuple, tuple]] = field(default_factory=list)

    @property
    def matches(self) -> bool:
        """bool: True if every model tensor has a checkpoint tensor of the
        same shape and the checkpoint holds nothing else."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, num_examples: int = 3) -> str:
        """One sentence with the counts and the first keys of each kind."""

        def examples(keys):
            more = ', ...' if len(keys) > num_examples else ''
            return ', '.join(keys[:num_examples]) + more

        parts = []
        if self.missing:
            parts.append(f'{len(self.missing)} of the model\'s '
                         f'{self.num_model_tensors} tensors are missing from '
                         f'the checkpoint (e.g. {examples(self.missing)})')
        if self.mismatched:
            shapes = [
                f'{key}: {tuple(ckpt)} in the checkpoint, {tuple(model)} in '
                'the model' for key, ckpt, model in self.mismatched
            ]
            parts.append(f'{len(self.mismatched)} have another shape '
                         f'(e.g. {examples(shapes)})')
        if self.unexpected:
            parts.append(
                f'{len(self.unexpected)} checkpoint tensors are '
                f'not in the model (e.g. {examples(self.unexpected)})')
        return '; '.join(parts)


def compare_state_dicts(
        model_state: Mapping[str, object],
        checkpoint_state: Mapping[str, object]) -> StateDictMismatch:
    """Compare a model's state dict with a checkpoint's, key by key.

    Args:
        model_state (Mapping[str, Tensor]): ``model.state_dict()``.
        checkpoint_state (Mapping[str, Tensor]): The checkpoint's weights.

    Returns:
        StateDictMismatch: Missing, unexpected and mismatched keys, each in
        the model's (or the checkpoint's) order.
    """
    missing = [
        key for key in model_state
        if key not in checkpoint_state and 'num_batches_tracked' not in key
    ]
    unexpected = [key for key in checkpoint_state if key not in model_state]
    mismatched = []
    for key, value in model_state.items():
        if key in checkpoint_state:
            ckpt_shape = tuple(np.shape(checkpoint_state[key]))
            if ckpt_shape != tuple(np.shape(value)):
                mismatched.append((key, ckpt_shape, tuple(np.shape(value))))
    return StateDictMismatch(len(model_state), missing, unexpected, mismatched)


def load_model_checkpoint(model: nn.Module,
                          filename: str,
                          strict: bool = True,
                          map_location: str = 'cpu',
                          partial_hint: str = 'strict=False') -> dict:
    """Load a checkpoint's weights into a model; refuse a partial fit.

    The weights are loaded with mmengine (``module.`` prefixes stripped),
    then the model's state dict is compared with the checkpoint's: after
    loading, so that buffers sized by their checkpoint (a lazily sized
    feature queue) count as matching.

    Args:
        model (nn.Module): The model (a wrapper's ``module`` is used).
        filename (str): Checkpoint file (or any URI mmengine loads).
        strict (bool): Raise if the checkpoint misses model tensors, holds
            tensors of another shape or tensors the model does not have.
            False loads the matching tensors, keeps the others at their
            initial values and logs a warning. Defaults to True.
        map_location (str): Where tensors are loaded. Defaults to 'cpu'.
        partial_hint (str): How the caller's user allows a partial load,
            named in the error. Defaults to 'strict=False'.

    Returns:
        dict: The loaded checkpoint (``meta``, ``state_dict``, ...).

    Raises:
        FileNotFoundError: If a local ``filename`` does not exist.
        CheckpointMismatchError: With ``strict``, if the checkpoint does not
            fit; the model is then partly loaded and should be discarded.
    """
    if '://' not in filename and not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint "{filename}" not found')
    if is_model_wrapper(model):
        model = model.module
    register_checkpoint_safe_globals()
    checkpoint = load_checkpoint(
        model, filename, map_location=map_location, logger='silent')
    state = checkpoint.get('state_dict', checkpoint) if isinstance(
        checkpoint, dict) else checkpoint
    state = {
        re.sub(r'^module\.', '', key): value
        for key, value in state.items()
    }
    report = compare_state_dicts(model.state_dict(), state)
    if report.matches:
        print_log(
            f'Loaded checkpoint "{filename}": its {len(state)} tensors '
            'match the model.',
            logger='current')
    elif strict:
        raise CheckpointMismatchError(
            f'checkpoint "{filename}" does not fit the model built from the '
            f'config: {report.describe()}. It was probably trained with '
            'another config: use the config it was trained with, or pass '
            f'{partial_hint} to load the matching tensors anyway (the '
            'others keep their initial, untrained values).')
    else:
        print_log(
            f'Partial load of checkpoint "{filename}" ({partial_hint}): '
            f'{report.describe()}. Those model tensors keep their initial, '
            'untrained values.',
            logger='current',
            level=logging.WARNING)
    return checkpoint
