"""Files, torch-free: image and video listing, image reading with the
skip-and-say-why rule, hashing and atomic writes.

Both search paths (``mmsearch.apis`` and ``mmsearch.deployment.runtime``)
and the gallery index read images here, so an empty, truncated or
non-image file is refused for the same reason everywhere.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Callable, List, Optional, Tuple, Union

import cv2
import numpy as np

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.mpg', '.mpeg',
                    '.m4v', '.wmv')

ImageType = Union[str, os.PathLike, np.ndarray]


class ImageReadError(OSError):
    """An image file is empty, truncated or cannot be decoded."""


def is_image_file(path: str) -> bool:
    """Whether ``path`` has an image extension (:data:`IMAGE_EXTENSIONS`)."""
    return str(path).lower().endswith(IMAGE_EXTENSIONS)


def is_video_file(path: str) -> bool:
    """Whether ``path`` has a video extension (:data:`VIDEO_EXTENSIONS`)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def list_images(folder: str) -> List[str]:
    """Sorted image files directly inside ``folder``.

    Args:
        folder (str): The folder.

    Returns:
        list[str]: ``folder/name`` of each image file, sorted by name.

    Raises:
        NotADirectoryError: If ``folder`` is not a folder.
        ValueError: If it holds no image file.
    """
    folder = os.fspath(folder)
    if not osp.isdir(folder):
        raise NotADirectoryError(f'gallery folder "{folder}" not found')
    names = sorted(n for n in os.listdir(folder) if is_image_file(n))
    if not names:
        raise ValueError(f'gallery folder "{folder}" holds no images '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, n) for n in names]


def read_image_file(path: str) -> Tuple[Optional[np.ndarray], str]:
    """Read a BGR image, refusing unreadable and truncated files.

    Decoding is OpenCV's (``IMREAD_COLOR``, as mmcv's ``LoadImageFromFile``
    with its defaults). A JPEG without its end-of-image marker or a PNG
    without its end chunk counts as truncated (OpenCV would return the
    decoded part).

    Args:
        path (str): The image file.

    Returns:
        tuple: (uint8 (H, W, 3) array, '') or (None, reason), the reason
        one of ``'cannot open: ...'``, ``'empty file (0 bytes)'``,
        ``'truncated JPEG (no end-of-image marker)'``, ``'truncated PNG
        (no IEND chunk)'``, ``'not a decodable image'``.
    """
    try:
        with open(path, 'rb') as file:
            data = file.read()
    except OSError as error:
        return None, f'cannot open: {error}'
    if not data:
        return None, 'empty file (0 bytes)'
    if data[:2] == b'\xff\xd8' and b'\xff\xd9' not in data[-64:]:
        return None, 'truncated JPEG (no end-of-image marker)'
    if data[:8] == b'\x89PNG\r\n\x1a\n' and b'IEND' not in data[-32:]:
        return None, 'truncated PNG (no IEND chunk)'
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        return None, 'not a decodable image'
    return image, ''


def read_image(image: ImageType) -> np.ndarray:
    """An image file or array as a uint8 BGR (H, W, 3) array.

    Args:
        image (str | os.PathLike | np.ndarray): Image file, or uint8 BGR
            (H, W, 3) array (returned as it is).

    Returns:
        np.ndarray: The image, uint8 (H, W, 3).

    Raises:
        FileNotFoundError: If the file does not exist.
        ImageReadError: If the file is empty, truncated or not an image
            (the message names the file and the reason).
        TypeError: If ``image`` is neither a path nor an array.
        ValueError: If the array is not uint8 (H, W, 3) with H, W >= 1.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'image "{path}" not found (expected an '
                                    'image file or an HxWx3 uint8 array)')
        array, reason = read_image_file(path)
        if array is None:
            raise ImageReadError(f'image "{path}" cannot be read: {reason}')
        return array
    if not isinstance(image, np.ndarray):
        raise TypeError('image must be a file name or a numpy array, got '
                        f'{type(image).__name__}')
    if image.dtype != np.uint8:
        raise ValueError('image array must be uint8 BGR (H, W, 3) as OpenCV '
                         f'reads it, got dtype {image.dtype}')
    if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
        raise ValueError('image array must have shape (H, W, 3) with H, W >= '
                         f'1 (BGR), got {image.shape}')
    return image


def sha256_file(path: str, chunk_size: int = 1 << 22) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(chunk_size), b''):
            digest.update(block)
    return digest.hexdigest()


def sha256_json(obj) -> str:
    """Hex SHA-256 of ``obj`` as JSON with sorted keys (``str`` for what
    JSON cannot hold)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _fsync_dir(folder: str) -> None:
    """Flush a folder's entries (the rename) to disk where supported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str, writer: Callable, binary: bool = True) -> None:
    """Write a file through ``writer(file)`` under a temporary name in its
    folder, then rename it over ``path``.

    A reader sees the old file or the whole new one, never a part; a write
    that fails (or is killed) leaves at most the temporary file
    ``path.tmp-<pid>``, which is removed when the failure is an exception.

    Args:
        path (str): Final file name (its folder is created).
        writer (callable): Called with a file object open for writing.
        binary (bool): Open the file in binary mode (else UTF-8 text).
            Defaults to True.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}'
    try:
        with open(tmp, 'wb' if binary else 'w',
                  **({} if binary else dict(encoding='utf-8'))) as file:
            writer(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    _fsync_dir(folder)


def atomic_write_json(path: str, obj) -> None:
    """Write ``obj`` as indented UTF-8 JSON atomically (see
    :func:`atomic_write`)."""
    data = json.dumps(obj, indent=1, sort_keys=True).encode('utf-8')
    atomic_write(path, lambda file: file.write(data))
