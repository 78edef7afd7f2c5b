"""Detections ranked against a query (numpy), shared by both search paths:
the finiteness check, one image's ranking and the whole gallery search
with its skip-and-say-why rule for unreadable files."""
import os
import warnings
from typing import Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from mmsearch.fileio import ImageReadError, ImageType, list_images, read_image
from .search_match import SearchMatch


def check_finite_detections(img_id: str,
                            boxes: np.ndarray,
                            scores: np.ndarray,
                            feats: np.ndarray,
                            what: str = 'gallery image') -> None:
    """Raise naming the image if its detections hold NaN or inf.

    A NaN feature makes every similarity with it NaN, which sorts and
    compares arbitrarily: mAP and top-k come out wrong (even above 1)
    without any error, so the whole evaluation must stop instead.

    Args:
        img_id (str): The image, for the message.
        boxes (np.ndarray): (N, 4) detection boxes.
        scores (np.ndarray): (N,) detection scores.
        feats (np.ndarray): (N, D) re-ID features.
        what (str): What the image is, for the message. Defaults to
            'gallery image'.

    Raises:
        ValueError: Naming the image, the array and how many values are bad.
    """
    for name, values in (('reid_feats', feats), ('scores', scores), ('bboxes',
                                                                     boxes)):
        bad = ~np.isfinite(np.asarray(values, dtype=np.float64))
        if bad.any():
            raise ValueError(
                f'{what} {img_id!r}: {int(bad.sum())} NaN or infinite '
                f'values in its detections\' {name} ({len(scores)} '
                'detections); the model output is broken (a checkpoint that '
                'does not fit the config, or a diverged training), so no '
                'metric can be computed from it.')


def rank_detections(img_path: str, bboxes: np.ndarray, scores: np.ndarray,
                    reid_feats: np.ndarray, query_feat: np.ndarray,
                    score_thr: float) -> List[SearchMatch]:
    """One gallery image's detections scoring >= ``score_thr`` as matches.

    ``similarity = <reid_feat, query_feat>`` (both unit norm: the cosine).
    Every detection's outputs are checked to be finite first (see
    :func:`check_finite_detections`).

    Args:
        img_path (str): The gallery image (``'array:<i>'`` for arrays).
        bboxes (np.ndarray): (N, 4) boxes in the image's coordinates.
        scores (np.ndarray): (N,) detection scores.
        reid_feats (np.ndarray): (N, D) re-ID features.
        query_feat (np.ndarray): (D,) query feature.
        score_thr (float): Detections scoring below are dropped.

    Returns:
        list[SearchMatch]: The kept detections, in the given order.

    Raises:
        ValueError: If an output holds NaN or inf (naming the image), or
            the feature dimensions differ.
    """
    bboxes = np.asarray(bboxes, np.float32).reshape(-1, 4)
    scores = np.asarray(scores, np.float32).reshape(-1)
    query_feat = np.asarray(query_feat, np.float32).reshape(-1)
    reid_feats = np.asarray(reid_feats, np.float32)
    reid_feats = reid_feats.reshape(len(scores), -1) if len(scores) else \
        np.zeros((0, query_feat.size), np.float32)
    check_finite_detections(img_path, bboxes, scores, reid_feats)
    if len(scores) and reid_feats.shape[1] != query_feat.size:
        raise ValueError(f'query_feat has {query_feat.size} dimensions, the '
                         f'model gives {reid_feats.shape[1]}')
    keep = scores >= score_thr
    similarities = reid_feats[keep] @ query_feat
    return [
        SearchMatch(img_path, bbox, float(score), float(sim))
        for bbox, score, sim in zip(bboxes[keep], scores[keep], similarities)
    ]


def rank_gallery(
        detect: Callable[[List[np.ndarray]], List[dict]],
        query_feat: np.ndarray,
        gallery_images: Union[str, Sequence[ImageType]],
        score_thr: float = 0.5,
        topk: Optional[int] = None,
        batch_size: int = 1,
        progress: Optional[Callable[[int, int], None]] = None,
        skipped: Optional[List[Tuple[str, str]]] = None) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    The gallery search of both paths (``mmsearch.apis.search_gallery``
    with PyTorch, ``mmsearch.deployment.runtime.search_gallery`` with
    onnxruntime): only ``detect`` differs. A file that is empty, truncated
    or not an image is skipped with a ``UserWarning`` naming it and the
    reason (and listed in ``skipped``); if no image can be read, the search
    fails.

    Args:
        detect (callable): ``detect(images)`` with a list of uint8 BGR
            (H, W, 3) arrays gives, per image, a dict of numpy ``bboxes``
            (n, 4) in the image's coordinates, ``scores`` (n,) and
            ``reid_feats`` (n, D).
        query_feat (np.ndarray): (D,) unit-norm query feature.
        gallery_images (str | Sequence[str | np.ndarray]): A folder of
            images, or image files / BGR arrays.
        score_thr (float): Detections scoring below are dropped. Defaults
            to 0.5.
        topk (int, optional): Keep only the best ``topk`` matches.
        batch_size (int): Images per ``detect`` call. Defaults to 1.
        progress (callable, optional): Called as ``progress(done, total)``
            after each image (skipped ones included).
        skipped (list, optional): Receives ``(image path, reason)`` for
            each image that could not be read.

    Returns:
        list[SearchMatch]: Detections of all readable images, by descending
        similarity.

    Raises:
        ValueError: If the query feature or a detection's outputs hold NaN
            or inf, or the feature dimensions differ.
        ImageReadError: If none of the gallery images can be read.
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if isinstance(gallery_images, (str, os.PathLike)):
        gallery_images = list_images(os.fspath(gallery_images))
    query_feat = np.asarray(query_feat, np.float32).reshape(-1)
    if not np.isfinite(query_feat).all():
        raise ValueError('query_feat holds NaN or infinite values; compute '
                         'it with embed_query, which checks the model.')
    total = len(gallery_images)
    matches, unreadable = [], []
    for begin in range(0, total, batch_size):
        names, arrays = [], []
        for index in range(begin, min(begin + batch_size, total)):
            image = gallery_images[index]
            if isinstance(image, np.ndarray):
                names.append(f'array:{index}')
                arrays.append(read_image(image))
                continue
            name = os.fspath(image)
            try:
                arrays.append(read_image(name))
            except ImageReadError as error:
                unreadable.append((name, str(error)))
                warnings.warn(f'skipped gallery {error}', stacklevel=3)
            else:
                names.append(name)
        for name, dets in zip(names, detect(arrays) if arrays else []):
            matches.extend(
                rank_detections(name, dets['bboxes'], dets['scores'],
                                dets['reid_feats'], query_feat, score_thr))
        if progress is not None:
            for done in range(begin + 1, min(begin + batch_size, total) + 1):
                progress(done, total)
    if skipped is not None:
        skipped.extend(unreadable)
    if unreadable and len(unreadable) == total:
        raise ImageReadError(f'none of the {total} gallery images could be '
                             f'read, e.g. {unreadable[0][1]}')
    matches.sort(key=lambda match: match.similarity, reverse=True)
    return matches[:topk] if topk is not None else matches
