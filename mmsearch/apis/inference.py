"""Search a folder of scene images for a query person.

The functions share one model built from a config: ``init_searcher`` builds
it, ``embed_query`` gives the re-ID feature of a query box, and
``search_gallery`` detects every person in the gallery images and ranks all
detections by cosine similarity to that feature (one ranking across the
whole gallery).

Bad input stops with an error naming the file: a checkpoint that does not
fit the config, a query box outside its image, NaN or infinite model
outputs. A gallery image that cannot be read is skipped and reported
instead, so one broken file does not discard the others' results.
"""
import copy
import os
import os.path as osp
import warnings
from pathlib import Path
from typing import (Callable, List, NamedTuple, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import Compose
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from mmsearch.registry import MODELS
from mmsearch.utils import check_cfg_options, load_model_checkpoint

ImageType = Union[str, np.ndarray]
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# Transforms that read annotations; images searched here have none.
_ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadPersonSearchAnnotations')


class ImageReadError(OSError):
    """An image file is empty or cannot be decoded."""


class SearchMatch(NamedTuple):
    """One gallery detection ranked against the query.

    Attributes:
        img_path (str): Gallery image path (``'array:<i>'`` for arrays).
        bbox (np.ndarray): (4,) detection box [x1, y1, x2, y2] in the
            gallery image's original coordinates.
        score (float): Detection (person) score.
        similarity (float): Cosine similarity to the query feature.
    """
    img_path: str
    bbox: np.ndarray
    score: float
    similarity: float


def init_searcher(config: Union[str, Path, Config],
                  checkpoint: Optional[str] = None,
                  device: str = 'cpu',
                  cfg_options: Optional[dict] = None,
                  strict: bool = True) -> nn.Module:
    """Build a person-search model from a config, in eval mode.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load (a training or a
            published one). None keeps the initialised weights and
            downloads nothing.
        device (str): Device to put the model on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.
            Overrides of config-file variables that were already copied
            where they are used (e.g. ``num_person_ids``) raise.
        strict (bool): Refuse a checkpoint that misses model tensors or
            holds tensors of another shape or name (trained with another
            config). False loads what fits and warns. Defaults to True.

    Returns:
        nn.Module: The model, with ``model.cfg`` set to the config.

    Raises:
        CheckpointMismatchError: With ``strict``, for a checkpoint that does
            not fit the config.
    """
    if isinstance(config, (str, Path)):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file "{config}" not found')
        config = Config.fromfile(str(config))
    elif not isinstance(config, Config):
        raise TypeError('config must be a file name or a Config, '
                        f'got {type(config)}')
    config = copy.deepcopy(config)
    if cfg_options is not None:
        check_cfg_options(config, cfg_options, data_root_option=None)
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmsearch'))
    model = revert_sync_batchnorm(MODELS.build(config.model))
    model.dataset_meta = {'classes': ('person', )}
    if checkpoint is not None:
        ckpt = load_model_checkpoint(
            model,
            checkpoint,
            strict=strict,
            partial_hint='strict=False (--allow-partial-checkpoint in '
            'tools/test.py and tools/search_demo.py)')
        model.dataset_meta.update(ckpt.get('meta', {}).get('dataset_meta', {}))
    model.cfg = config
    model.to(device)
    model.eval()
    return model


def build_test_pipeline(cfg: Config, from_array: bool) -> Compose:
    """The config's test pipeline without annotation loading.

    Args:
        cfg (Config): The model's config (``test_dataloader`` is read).
        from_array (bool): Read images from arrays (``img`` key) instead of
            files (``img_path`` key).

    Returns:
        Compose: The pipeline; its output packs ``query_bbox`` into the
        sample's metainfo when the input has one.
    """
    pipeline_cfg = [
        copy.deepcopy(t) for t in get_test_pipeline_cfg(cfg)
        if not str(t['type']).split('.')[-1] in _ANNOTATION_LOADERS
    ]
    if from_array:
        if 'LoadImageFromFile' not in str(pipeline_cfg[0]['type']):
            raise ValueError('the test pipeline must start with '
                             'LoadImageFromFile, got '
                             f'{pipeline_cfg[0]["type"]}')
        pipeline_cfg[0] = dict(type='mmdet.LoadImageFromNDArray')
    return Compose(pipeline_cfg)


def _as_box(box: Sequence[float]) -> np.ndarray:
    """float32 (4,) [x1, y1, x2, y2]; raise unless finite and non-empty."""
    box = np.asarray(box, dtype=np.float32).reshape(-1)
    if box.shape != (4, ) or not np.isfinite(box).all() or not (
            box[2] > box[0] and box[3] > box[1]):
        raise ValueError('box must be 4 finite numbers [x1, y1, x2, y2] with '
                         f'x2 > x1 and y2 > y1, got {box.tolist()}')
    return box


def clip_query_box(box: Sequence[float], image_size: Tuple[int, int],
                   image_name: str) -> np.ndarray:
    """Check a query box against its image; clip it if it sticks out.

    Args:
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in pixels.
        image_size (tuple[int, int]): (height, width) of the image.
        image_name (str): The image, for messages.

    Returns:
        np.ndarray: float32 (4,) box clipped to ``[0, width] x [0,
        height]``; a ``UserWarning`` names the change when there was one.

    Raises:
        ValueError: If the box is not 4 finite numbers with x2 > x1 and
            y2 > y1, or does not overlap the image.
    """
    box = _as_box(box)
    height, width = image_size
    shown = [round(float(v), 2) for v in box]
    if box[0] >= width or box[1] >= height or box[2] <= 0 or box[3] <= 0:
        raise ValueError(
            f'query box {shown} lies outside image "{image_name}" '
            f'({width} x {height} pixels, width x height); give [x1, y1, '
            'x2, y2] in that image\'s pixel coordinates.')
    clipped = box.copy()
    clipped[0::2] = clipped[0::2].clip(0, width)
    clipped[1::2] = clipped[1::2].clip(0, height)
    if not np.array_equal(clipped, box):
        warnings.warn(
            f'query box {shown} extends past image "{image_name}" ({width} '
            f'x {height} pixels); clipped to '
            f'{[round(float(v), 2) for v in clipped]}.',
            stacklevel=3)
    return clipped


def _load_image(loader: Callable, data: dict, image: ImageType) -> dict:
    """Run the pipeline's image loader; name the file if it fails."""
    if isinstance(image, np.ndarray):
        return loader(data)
    if osp.getsize(image) == 0:
        raise ImageReadError(f'image "{image}" is empty (0 bytes)')
    try:
        loaded = loader(data)
    except Exception as error:  # decoders raise many types (cv2.error, ...)
        raise ImageReadError(
            f'image "{image}" cannot be read as an image '
            f'({type(error).__name__}: {error})'.strip()) from error
    if loaded is None or loaded.get('img') is None:
        raise ImageReadError(f'image "{image}" cannot be read as an image')
    return loaded


def _predict(model: nn.Module,
             image: ImageType,
             name: str,
             query_bbox: Optional[Sequence[float]] = None):
    """Run the model's test step on one image (optionally with a query).

    A query box is checked against the loaded image (:func:`clip_query_box`).
    """
    from_array = isinstance(image, np.ndarray)
    if not from_array:
        if not isinstance(image, (str, Path)) or not osp.isfile(image):
            raise FileNotFoundError(f'image "{image}" not found (expected '
                                    'an image file or an HxWx3 array)')
    pipeline = build_test_pipeline(model.cfg, from_array)
    data = dict(img=image) if from_array else dict(img_path=str(image))
    data['img_id'] = name
    data = _load_image(pipeline.transforms[0], data, image)
    if query_bbox is not None:
        image_name = name if from_array else str(image)
        data['query_bbox'] = clip_query_box(query_bbox, data['img'].shape[:2],
                                            image_name).tolist()
    data = Compose(pipeline.transforms[1:])(data)
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        return model.test_step(batch)[0]


def _check_finite(name: str, image: str, **values: torch.Tensor) -> None:
    """Raise naming the image if a model output holds NaN or inf."""
    for what, value in values.items():
        bad = ~torch.isfinite(value.detach().float())
        if bad.any():
            raise ValueError(
                f'the model gave {int(bad.sum())} NaN or infinite values in '
                f'{what} for {name} "{image}"; the weights (or the input) are '
                'broken: check the checkpoint and that the config matches '
                'it.')


def embed_query(model: nn.Module, image: ImageType,
                box: Sequence[float]) -> torch.Tensor:
    """Re-ID feature of a query person box.

    The box goes through the model's query path (``query_bbox`` in the
    sample's metainfo -> ``pred_query_feat``): RoIAlign on the given box,
    then the retrieval module. A box partly outside the image is clipped to
    it (with a warning); one that does not overlap the image is an error.

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        image (str | np.ndarray): Query image file or BGR HxWx3 array.
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in the image's
            original coordinates.

    Returns:
        Tensor: (D,) unit-norm feature, on the CPU.

    Raises:
        ValueError: For a malformed box, a box outside the image or a
            feature holding NaN or inf.
        ImageReadError: If the image file is empty or not an image.
    """
    box = _as_box(box)
    sample = _predict(model, image, 'query', query_bbox=box)
    if 'pred_query_feat' not in sample:
        raise RuntimeError(f'{type(model).__name__}.predict gave no '
                           'pred_query_feat for a sample with query_bbox')
    feat = sample.pred_query_feat.detach().float().cpu().reshape(-1)
    _check_finite(
        'query image',
        'array' if isinstance(image, np.ndarray) else str(image),
        query_feature=feat)
    return feat


def list_images(folder: str) -> List[str]:
    """Sorted image files directly inside ``folder``."""
    if not osp.isdir(folder):
        raise NotADirectoryError(f'gallery folder "{folder}" not found')
    names = sorted(
        n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ValueError(f'gallery folder "{folder}" holds no images '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, n) for n in names]


def search_gallery(
        model: nn.Module,
        query_feat: torch.Tensor,
        gallery_images: Union[str, Sequence[ImageType]],
        score_thr: float = 0.5,
        topk: Optional[int] = None,
        progress: Optional[Callable[[int, int], None]] = None,
        skipped: Optional[List[Tuple[str, str]]] = None) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    similarity(det) = <reid_feat(det), query_feat>, both unit norm.

    An image file that is empty or cannot be decoded is skipped with a
    ``UserWarning`` naming it (and listed in ``skipped``); the other images
    are still searched. If no image can be read, the search fails.

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        query_feat (Tensor): (D,) query feature from :func:`embed_query`.
        gallery_images (str | Sequence[str | np.ndarray]): A folder of
            images, or image files / BGR arrays.
        score_thr (float): Detections scoring below are dropped (the
            protocol's ``det_thresh``). Defaults to 0.5.
        topk (int, optional): Keep only the best ``topk`` matches.
        progress (callable, optional): Called as ``progress(done, total)``
            after each image (skipped ones included).
        skipped (list, optional): Receives ``(image path, reason)`` for
            each image that could not be read.

    Returns:
        list[SearchMatch]: Detections of all readable images, by descending
        similarity.

    Raises:
        ValueError: If the query feature or a gallery detection's feature,
            score or box holds NaN or inf (naming the image), or the
            feature dimensions differ.
        ImageReadError: If none of the gallery images can be read.
    """
    if isinstance(gallery_images, (str, Path)):
        gallery_images = list_images(str(gallery_images))
    query_feat = query_feat.detach().float().cpu().reshape(-1)
    if not torch.isfinite(query_feat).all():
        raise ValueError('query_feat holds NaN or infinite values; compute '
                         'it with embed_query, which checks the model.')
    matches, unreadable = [], []
    for index, image in enumerate(gallery_images):
        name = (f'array:{index}'
                if isinstance(image, np.ndarray) else str(image))
        try:
            pred = _predict(model, image, osp.basename(name)).pred_instances
        except ImageReadError as error:
            unreadable.append((name, str(error)))
            warnings.warn(f'skipped gallery {error}', stacklevel=2)
        else:
            matches.extend(_rank_detections(pred, query_feat, score_thr, name))
        if progress is not None:
            progress(index + 1, len(gallery_images))
    if skipped is not None:
        skipped.extend(unreadable)
    if unreadable and len(unreadable) == len(gallery_images):
        raise ImageReadError(
            f'none of the {len(gallery_images)} gallery images could be '
            f'read, e.g. {unreadable[0][1]}')
    matches.sort(key=lambda match: match.similarity, reverse=True)
    return matches[:topk] if topk is not None else matches


def _rank_detections(pred, query_feat: torch.Tensor, score_thr: float,
                     name: str) -> List[SearchMatch]:
    """One gallery image's detections scoring >= ``score_thr`` as
    matches, after checking every detection's outputs are finite."""
    bboxes = get_box_tensor(pred.bboxes).detach().float().cpu()
    scores = pred.scores.detach().float().cpu()
    feats = pred.reid_feats.detach().float().cpu()
    _check_finite(
        'gallery image',
        name,
        detection_scores=scores,
        detection_boxes=bboxes,
        reid_features=feats)
    if feats.shape[-1] != query_feat.numel():
        raise ValueError(f'query_feat has {query_feat.numel()} '
                         f'dimensions, the model gives {feats.shape[-1]}')
    keep = scores >= score_thr
    similarities = (feats[keep] @ query_feat).tolist()
    return [
        SearchMatch(name, bbox, score, sim) for bbox, score, sim in zip(
            bboxes[keep].numpy(), scores[keep].tolist(), similarities)
    ]
