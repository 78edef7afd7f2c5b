"""Search a folder of scene images for a query person.

The functions share one model built from a config: ``init_searcher`` builds
it, ``embed_query`` gives the re-ID feature of a query box, and
``search_gallery`` detects every person in the gallery images and ranks all
detections by cosine similarity to that feature (one ranking across the
whole gallery).

Bad input stops with an error naming the file: a checkpoint that does not
fit the config, a query box outside its image, NaN or infinite model
outputs. A gallery image that cannot be read is skipped and reported
instead, so one broken file does not discard the others' results. The
rules (query-box clipping, image reading, ranking) are those of the
torch-free :mod:`mmsearch.structures` and :mod:`mmsearch.fileio`, shared
with the ONNX runtime (:mod:`mmsearch.deployment.runtime`).

:func:`inference_searcher` is the one place that runs the model on images
(batched); the search functions, the gallery index build and the search
page go through it.
"""
import copy
import os
import os.path as osp
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import Compose
from mmdet.structures import DetDataSample
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope

from mmsearch.fileio import ImageType, read_image
from mmsearch.registry import MODELS
from mmsearch.structures import (SearchMatch, as_box, clip_query_box,
                                 rank_gallery)
from mmsearch.utils import check_cfg_options, load_model_checkpoint

# Transforms that read annotations; images searched here have none.
_ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadPersonSearchAnnotations')


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


def _image_name(image: ImageType, index: int) -> str:
    """A path as given, or ``'array:<index>'`` for an array."""
    return (f'array:{index}'
            if isinstance(image, np.ndarray) else os.fspath(image))


def inference_searcher(model: nn.Module,
                       images: Sequence[ImageType],
                       query_boxes: Optional[Sequence[Optional[
                           Sequence[float]]]] = None,
                       batch_size: int = 1) -> List[DetDataSample]:
    """Run the model's test step on images, ``batch_size`` at a time.

    Images are read by :func:`mmsearch.fileio.read_image` (OpenCV, BGR; an
    empty, truncated or non-image file raises :class:`ImageReadError`) and
    go through the config's test pipeline from arrays. A query box is
    checked against its image and clipped (:func:`clip_query_box`) and
    passed as ``query_bbox``; the sample then carries ``pred_query_feat``.

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        images (Sequence[str | np.ndarray]): Image files or uint8 BGR
            (H, W, 3) arrays.
        query_boxes (Sequence, optional): Per image, a (4,) query box
            [x1, y1, x2, y2] in its original coordinates, or None.
        batch_size (int): Images per forward pass. Defaults to 1.

    Returns:
        list[DetDataSample]: One sample per image, in order, with
        ``pred_instances`` (boxes in original coordinates).
    """
    if batch_size < 1:
        raise ValueError(f'batch_size must be >= 1, got {batch_size}')
    if query_boxes is not None and len(query_boxes) != len(images):
        raise ValueError(f'{len(query_boxes)} query boxes for '
                         f'{len(images)} images')
    pipeline = build_test_pipeline(model.cfg, from_array=True)
    samples = []
    for begin in range(0, len(images), batch_size):
        packed = []
        for index in range(begin, min(begin + batch_size, len(images))):
            name = _image_name(images[index], index)
            data = dict(
                img=read_image(images[index]), img_id=osp.basename(name))
            box = None if query_boxes is None else query_boxes[index]
            if box is not None:
                data['query_bbox'] = clip_query_box(
                    box, data['img'].shape[:2], name, stacklevel=4).tolist()
            packed.append(pipeline(data))
        batch = dict(
            inputs=[p['inputs'] for p in packed],
            data_samples=[p['data_samples'] for p in packed])
        with torch.no_grad():
            samples.extend(model.test_step(batch))
    return samples


def detect_images(model: nn.Module,
                  images: Sequence[ImageType],
                  score_thr: float = 0.0,
                  batch_size: int = 1) -> List[Dict[str, np.ndarray]]:
    """Every person the model detects in each image (numpy).

    The detector of the gallery search, the index build and the search
    page (:func:`inference_searcher` without query boxes).

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        images (Sequence[str | np.ndarray]): Image files or uint8 BGR
            (H, W, 3) arrays.
        score_thr (float): Detections scoring below are dropped. Defaults
            to 0.
        batch_size (int): Images per forward pass. Defaults to 1.

    Returns:
        list[dict]: Per image, float32 ``bboxes`` (n, 4) in its original
        coordinates, ``scores`` (n,) and ``reid_feats`` (n, D), in the
        model's order.
    """
    results = []
    for sample in inference_searcher(model, images, batch_size=batch_size):
        pred = sample.pred_instances
        scores = pred.scores.detach().float().cpu().numpy()
        keep = ~(scores < score_thr)  # NaN scores are kept, to be refused
        results.append(
            dict(
                bboxes=get_box_tensor(
                    pred.bboxes).detach().float().cpu().numpy()[keep],
                scores=scores[keep],
                reid_feats=pred.reid_feats.detach().float().cpu().numpy()
                [keep]))
    return results


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
        ImageReadError: If the image file is empty, truncated or not an
            image.
    """
    box = as_box(box, 'query box')
    sample = inference_searcher(model, [image], query_boxes=[box])[0]
    if 'pred_query_feat' not in sample:
        raise RuntimeError(f'{type(model).__name__}.predict gave no '
                           'pred_query_feat for a sample with query_bbox')
    feat = sample.pred_query_feat.detach().float().cpu().reshape(-1)
    bad = ~torch.isfinite(feat)
    if bad.any():
        raise ValueError(
            f'the model gave {int(bad.sum())} NaN or infinite values in the '
            f'query feature of query image "{_image_name(image, 0)}"; the '
            'weights (or the input) are broken: check the checkpoint and '
            'that the config matches it.')
    return feat


def search_gallery(model: nn.Module,
                   query_feat: torch.Tensor,
                   gallery_images: Union[str, Sequence[ImageType]],
                   score_thr: float = 0.5,
                   topk: Optional[int] = None,
                   progress: Optional[Callable[[int, int], None]] = None,
                   skipped: Optional[List[Tuple[str, str]]] = None,
                   batch_size: int = 1) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    similarity(det) = <reid_feat(det), query_feat>, both unit norm (see
    :func:`mmsearch.structures.rank_gallery`, shared with the ONNX
    runtime). An image file that is empty, truncated or not an image is
    skipped with a ``UserWarning`` naming it (and listed in ``skipped``);
    the other images are still searched. If no image can be read, the
    search fails.

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
        batch_size (int): Images per forward pass. Defaults to 1.

    Returns:
        list[SearchMatch]: Detections of all readable images, by descending
        similarity.

    Raises:
        ValueError: If the query feature or a gallery detection's feature,
            score or box holds NaN or inf (naming the image), or the
            feature dimensions differ.
        ImageReadError: If none of the gallery images can be read.
    """
    return rank_gallery(
        lambda arrays: detect_images(model, arrays, batch_size=batch_size),
        torch.as_tensor(query_feat).detach().float().cpu().numpy(),
        gallery_images,
        score_thr=score_thr,
        topk=topk,
        batch_size=batch_size,
        progress=progress,
        skipped=skipped)
