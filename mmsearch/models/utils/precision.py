"""Run box post-processing in fp32 whatever the autocast region."""
from contextlib import contextmanager
from typing import Any, Iterator, Union

import torch


def to_fp32(data: Any) -> Any:
    """Cast every floating-point tensor in ``data`` to ``torch.float32``.

    Tensors of other dtypes, ``None`` and other objects pass unchanged;
    lists and tuples are rebuilt with their items cast.

    Args:
        data: A tensor, or a (nested) list or tuple of tensors.

    Returns:
        The same structure with fp32 floating-point tensors.
    """
    if isinstance(data, torch.Tensor):
        return data.float() if data.is_floating_point() else data
    if isinstance(data, (list, tuple)):
        return type(data)(to_fp32(item) for item in data)
    return data


@contextmanager
def autocast_disabled(device: Union[str, torch.device]) -> Iterator[None]:
    """Disable autocast for ``device``'s type (``'cuda'``, ``'cpu'``, ...).

    mmcv's box operators (NMS, RoIAlign) dispatch only fp32/fp64 (and some
    fp16) kernels, and box coordinates in bf16 are rounded by several
    pixels on large images: decoding and NMS run inside this context on
    :func:`to_fp32` inputs.

    Args:
        device (str | torch.device): Device of the tensors processed.
    """
    device_type = torch.device(device).type
    with torch.autocast(device_type=device_type, enabled=False):
        yield
