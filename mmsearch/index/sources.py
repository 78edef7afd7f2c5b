"""What an index is built from: units of work and how to read them.

A unit is one image file, or a chunk of one video's frames. Units are the
steps a build records as done, so a resumed build redoes none of them.
"""
import copy
import os
import os.path as osp
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmengine.registry import init_default_scope

from mmsearch.fileio import IMAGE_EXTENSIONS, is_image_file
from mmsearch.registry import DATASETS

# Sampled frames per video unit (the resume granularity of a video).
DEFAULT_CHUNK_FRAMES = 256


class Unit(NamedTuple):
    """One unit of work.

    Attributes:
        key (str): Unique key, recorded in the index when done.
        kind (str): ``'image'`` or ``'video'``.
        source (str): Absolute path of the image or video file.
        camera (str): Camera id ('' when unknown).
        start (int): Videos: first frame number of the chunk.
        stop (int): Videos: frame number after the chunk (-1: to the end).
        step (int): Videos: every ``step``-th frame is embedded.
    """
    key: str
    kind: str
    source: str
    camera: str
    start: int = 0
    stop: int = -1
    step: int = 1


def image_unit(path: str, camera: str = '') -> Unit:
    path = osp.abspath(path)
    return Unit(f'image:{path}', 'image', path, camera)


def list_image_units(folder: str,
                     camera: Optional[str] = None,
                     recursive: bool = True) -> List[Unit]:
    """Units of the image files under ``folder``, sorted by path.

    Args:
        folder (str): Root folder.
        camera (str, optional): Camera id of every image. None: the image's
            sub-folder relative to ``folder`` (``'cam1'`` for
            ``folder/cam1/x.jpg``), or the folder's own name for images
            directly in it.
        recursive (bool): Descend into sub-folders.
    """
    if not osp.isdir(folder):
        raise NotADirectoryError(f'image folder "{folder}" not found')
    folder = osp.abspath(folder)
    units = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        if not recursive:
            dirs.clear()
        rel = osp.relpath(root, folder)
        for name in sorted(names):
            if is_image_file(name):
                cam = camera if camera is not None else (osp.basename(
                    folder) if rel == '.' else rel.replace(os.sep, '/'))
                units.append(image_unit(osp.join(root, name), cam))
    units.sort(key=lambda unit: unit.source)
    if not units:
        raise ValueError(f'image folder "{folder}" holds no images '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return units


def video_info(path: str) -> Tuple[float, int]:
    """(frames per second, frame count) of a video; (0, 0) if unreadable.
    """
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            return 0.0, 0
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return fps, max(count, 0)
    finally:
        capture.release()


def list_video_units(path: str,
                     frame_step: Optional[int] = None,
                     fps: Optional[float] = None,
                     camera: Optional[str] = None,
                     chunk_frames: int = DEFAULT_CHUNK_FRAMES) -> List[Unit]:
    """Units (frame chunks) of one video file.

    Frames ``0, step, 2 * step, ...`` are embedded, with ``step =
    frame_step``, or ``round(video_fps / fps)`` for a sampling rate ``fps``
    (at least 1), or 1. A chunk holds ``chunk_frames`` sampled frames; the
    last runs to the end of the video (frame counts in containers can be
    wrong). An unreadable file gives one unit, skipped when read.

    Args:
        path (str): The video file.
        frame_step (int, optional): Embed every ``frame_step``-th frame.
        fps (float, optional): Embed about ``fps`` frames per second.
        camera (str, optional): Camera id; None: the file name without
            extension.
        chunk_frames (int): Sampled frames per unit.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'video "{path}" not found')
    if frame_step is not None and fps is not None:
        raise ValueError('give frame_step or fps, not both')
    if frame_step is not None and frame_step < 1:
        raise ValueError(f'frame_step must be >= 1, got {frame_step}')
    if fps is not None and fps <= 0:
        raise ValueError(f'fps must be > 0, got {fps}')
    if chunk_frames < 1:
        raise ValueError(f'chunk_frames must be >= 1, got {chunk_frames}')
    path = osp.abspath(path)
    video_fps, count = video_info(path)
    step = frame_step or 1
    if fps is not None and video_fps > 0:
        step = max(1, int(round(video_fps / fps)))
    camera = camera if camera is not None else osp.splitext(
        osp.basename(path))[0]
    span = chunk_frames * step
    starts = list(range(0, max(count, 1), span))
    units = []
    for i, start in enumerate(starts):
        stop = -1 if i == len(starts) - 1 else start + span
        key = f'video:{path}|step={step}|frames={start}-{stop}'
        units.append(Unit(key, 'video', path, camera, start, stop, step))
    return units


class Frame(NamedTuple):
    """A decoded video frame."""
    number: int
    timestamp: float
    image: np.ndarray


def read_video_unit(unit: Unit) -> Iterator[Tuple[Optional[Frame], str]]:
    """Decode the sampled frames of a video unit.

    Yields ``(Frame, '')`` for each sampled frame, and ``(None, reason)``
    once if the video cannot be opened or ends before the chunk's expected
    end (the frame count stored in the container). Timestamps are ``frame
    number / fps`` (NaN when the video gives no fps).
    """
    capture = cv2.VideoCapture(unit.source)
    try:
        if not capture.isOpened():
            yield None, 'cannot open video'
            return
        fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        number = 0
        while number < unit.start:
            if not capture.grab():
                yield None, (f'video ended at frame {number} before the '
                             f'chunk start {unit.start}')
                return
            number += 1
        expected_stop = unit.stop if unit.stop >= 0 else count
        while unit.stop < 0 or number < unit.stop:
            if (number - unit.start) % unit.step == 0:
                ok, image = capture.read()
                if ok and image is not None:
                    yield Frame(number,
                                number / fps if fps > 0 else float('nan'),
                                image), ''
            else:
                ok = capture.grab()
            if not ok:
                if number < expected_stop:
                    yield None, (f'unreadable from frame {number} (expected '
                                 f'{expected_stop} frames)')
                return
            number += 1
    finally:
        capture.release()


def dataset_units(config, split: str = 'gallery') -> List[Unit]:
    """Units of the images of a data set split from a config.

    Args:
        config (Config): A config with ``test_dataloader.dataset`` (the
            split is set to ``split``).
        split (str): Data set split (``'gallery'``, ``'query'`` or
            ``'train'``).

    Returns:
        list[Unit]: One image unit per data info, with ``cam_id`` as the
        camera when the data set has one.
    """
    init_default_scope(config.get('default_scope', 'mmsearch'))
    dataset_cfg = copy.deepcopy(config.test_dataloader.dataset)
    dataset_cfg['split'] = split
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    units = []
    for idx in range(len(dataset)):
        info = dataset.get_data_info(idx)
        units.append(image_unit(info['img_path'], str(info.get('cam_id', ''))))
    return units


def dedupe_units(units: Sequence[Unit]) -> List[Unit]:
    """``units`` without repeated keys, first occurrence kept."""
    seen, kept = set(), []
    for unit in units:
        if unit.key not in seen:
            seen.add(unit.key)
            kept.append(unit)
    return kept
