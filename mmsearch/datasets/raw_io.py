"""Checked readers for the raw person-search files (.mat, images).

Every failure names the file and what was expected there, instead of a
bare ``KeyError`` or ``IndexError`` from deep inside ``scipy.io``.
"""
import os.path as osp
from typing import Iterable, Sequence, Tuple, Union

import numpy as np
import scipy.io
from PIL import Image

from .image_header import jpeg_size


class DatasetLayoutError(ValueError):
    """A raw dataset file is missing or does not have the expected layout."""


def check_dir(path: str, what: str) -> str:
    """Return ``path`` if it is a directory, else raise naming ``what``."""
    if not osp.isdir(path):
        raise DatasetLayoutError(
            f'{what}: directory "{path}" does not exist. Download the '
            f'dataset and point data_root at the unpacked folder (see '
            f'docs/en/dataset_prepare.md for the expected layout).')
    return path


def load_mat_key(path: str, keys: Union[str, Sequence[str]],
                 layout: str) -> np.ndarray:
    """Read one variable from a MATLAB file.

    The file is read with ``scipy.io.loadmat`` (``struct_as_record=True``,
    ``squeeze_me=False``): structs become numpy record arrays and cells
    object arrays, both keeping their MATLAB 2-D shapes.

    Args:
        path (str): The .mat file.
        keys (str | Sequence[str]): The variable, or candidates tried in
            order (the first present is returned).
        layout (str): Description of the expected content, for errors.

    Returns:
        np.ndarray: The variable.

    Raises:
        DatasetLayoutError: If the file is missing, unreadable or holds none
            of ``keys``.
    """
    keys = [keys] if isinstance(keys, str) else list(keys)
    if not osp.isfile(path):
        raise DatasetLayoutError(
            f'Missing file "{path}"; expected a MATLAB file with variable '
            f'{" or ".join(keys)}: {layout}.')
    try:
        content = scipy.io.loadmat(path, variable_names=keys)
    except Exception as error:  # scipy raises many different types
        raise DatasetLayoutError(
            f'Cannot read "{path}" as a MATLAB file ({error}); expected '
            f'variable {" or ".join(keys)}: {layout}.') from error
    for key in keys:
        if key in content:
            return content[key]
    raise DatasetLayoutError(
        f'"{path}" has no variable {" or ".join(keys)}; expected {layout}.')


def unwrap(value: np.ndarray) -> object:
    """Strip the 1x1 array and cell wrappers that ``loadmat`` adds.

    ``array([[array(['s1.jpg'])]])`` becomes ``array(['s1.jpg'])`` and then
    ``'s1.jpg'``; a record or a numeric array of several elements is
    returned as it is.
    """
    while isinstance(value, np.ndarray) and value.size == 1 and (
            value.dtype == object or value.dtype.kind == 'U'):
        value = value.flat[0]
    if isinstance(value, np.ndarray) and value.dtype.kind == 'U':
        return ''.join(value.ravel().tolist())
    return value


def mat_str(value: np.ndarray) -> str:
    """A MATLAB char array (possibly wrapped in cells) as ``str``."""
    value = unwrap(value)
    if isinstance(value, np.ndarray) and value.size == 0:
        return ''
    return str(value)


def mat_box(value: np.ndarray) -> np.ndarray:
    """A MATLAB box (x, y, w, h) as float64 (4,), or (0,) when empty."""
    value = unwrap(value)
    return np.asarray(value, dtype=np.float64).reshape(-1)


def records(value: np.ndarray, fields: Iterable[str], path: str,
            layout: str) -> np.ndarray:
    """Flatten a struct array (or a cell array of 1x1 structs).

    Args:
        value (np.ndarray): What ``loadmat`` returned.
        fields (Iterable[str]): Field names every record must have.
        path (str): The file, for errors.
        layout (str): The expected layout, for errors.

    Returns:
        np.ndarray: A 1-D record array.
    """
    value = np.asarray(value)
    if value.dtype == object and value.size:  # a cell array of structs
        value = np.concatenate(
            [np.asarray(cell).reshape(-1) for cell in value.ravel()])
    names = value.dtype.names or ()
    missing = [field for field in fields if field not in names]
    if missing:
        raise DatasetLayoutError(
            f'"{path}": records lack field(s) {missing} (found '
            f'{list(names)}); expected {layout}.')
    return value.reshape(-1)


def read_image_size(path: str) -> Tuple[int, int]:
    """The (height, width) of an image, from its header only.

    JPEGs are read with :func:`~mmsearch.datasets.image_header.jpeg_size`
    (the SOF segment, no image library), anything else with PIL.

    Raises:
        DatasetLayoutError: If the file is missing or not an image.
    """
    try:
        size = jpeg_size(path)
    except OSError as error:
        raise DatasetLayoutError(
            f'Cannot read image "{path}" ({error}); expected a JPEG/PNG '
            f'scene image there.') from error
    if size is not None:
        return size
    try:
        with Image.open(path) as image:
            width, height = image.size
    except (OSError, ValueError) as error:
        raise DatasetLayoutError(
            f'Cannot read image "{path}" ({error}); expected a JPEG/PNG '
            f'scene image there.') from error
    return height, width
