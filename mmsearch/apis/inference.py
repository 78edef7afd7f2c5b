"""Search a folder of scene images for a query person.

The functions share one model built from a config: ``init_searcher`` builds
it, ``embed_query`` gives the re-ID feature of a query box, and
``search_gallery`` detects every person in the gallery images and ranks all
detections by cosine similarity to that feature (one ranking across the
whole gallery).
"""
import copy
import os
import os.path as osp
from pathlib import Path
from typing import Callable, List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn
from mmcv.transforms import Compose
from mmdet.structures.bbox import get_box_tensor
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config
from mmengine.model.utils import revert_sync_batchnorm
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from mmsearch.registry import MODELS
from mmsearch.utils import register_checkpoint_safe_globals

ImageType = Union[str, np.ndarray]
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
# Transforms that read annotations; images searched here have none.
_ANNOTATION_LOADERS = ('LoadAnnotations', 'LoadPersonSearchAnnotations')


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
                  cfg_options: Optional[dict] = None) -> nn.Module:
    """Build a person-search model from a config, in eval mode.

    Args:
        config (str | Path | Config): Config file or object.
        checkpoint (str, optional): Checkpoint to load (a training or a
            published one). None keeps the initialised weights and
            downloads nothing.
        device (str): Device to put the model on. Defaults to 'cpu'.
        cfg_options (dict, optional): Overrides merged into the config.

    Returns:
        nn.Module: The model, with ``model.cfg`` set to the config.
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
        config.merge_from_dict(cfg_options)
    init_default_scope(config.get('default_scope', 'mmsearch'))
    model = revert_sync_batchnorm(MODELS.build(config.model))
    model.dataset_meta = {'classes': ('person', )}
    if checkpoint is not None:
        if not osp.isfile(checkpoint):
            raise FileNotFoundError(f'checkpoint "{checkpoint}" not found')
        register_checkpoint_safe_globals()
        ckpt = load_checkpoint(model, checkpoint, map_location='cpu')
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


def _predict(model: nn.Module,
             image: ImageType,
             name: str,
             query_bbox: Optional[Sequence[float]] = None):
    """Run the model's test step on one image (optionally with a query)."""
    from_array = isinstance(image, np.ndarray)
    if not from_array:
        if not isinstance(image, (str, Path)) or not osp.isfile(image):
            raise FileNotFoundError(f'image "{image}" not found (expected '
                                    'an image file or an HxWx3 array)')
    pipeline = build_test_pipeline(model.cfg, from_array)
    data = dict(img=image) if from_array else dict(img_path=str(image))
    data['img_id'] = name
    if query_bbox is not None:
        data['query_bbox'] = [float(v) for v in query_bbox]
    data = pipeline(data)
    batch = dict(inputs=[data['inputs']], data_samples=[data['data_samples']])
    with torch.no_grad():
        return model.test_step(batch)[0]


def embed_query(model: nn.Module, image: ImageType,
                box: Sequence[float]) -> torch.Tensor:
    """Re-ID feature of a query person box.

    The box goes through the model's query path (``query_bbox`` in the
    sample's metainfo -> ``pred_query_feat``): RoIAlign on the given box,
    then the retrieval module.

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        image (str | np.ndarray): Query image file or BGR HxWx3 array.
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in the image's
            original coordinates.

    Returns:
        Tensor: (D,) unit-norm feature, on the CPU.
    """
    box = np.asarray(box, dtype=np.float32).reshape(-1)
    if box.shape != (4, ) or not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError('box must be [x1, y1, x2, y2] with x2 > x1 and '
                         f'y2 > y1, got {box.tolist()}')
    sample = _predict(model, image, 'query', query_bbox=box)
    if 'pred_query_feat' not in sample:
        raise RuntimeError(f'{type(model).__name__}.predict gave no '
                           'pred_query_feat for a sample with query_bbox')
    return sample.pred_query_feat.detach().float().cpu().reshape(-1)


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


def search_gallery(model: nn.Module,
                   query_feat: torch.Tensor,
                   gallery_images: Union[str, Sequence[ImageType]],
                   score_thr: float = 0.5,
                   topk: Optional[int] = None,
                   progress: Optional[Callable[[int, int], None]] = None
                   ) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    similarity(det) = <reid_feat(det), query_feat>, both unit norm.

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        query_feat (Tensor): (D,) query feature from :func:`embed_query`.
        gallery_images (str | Sequence[str | np.ndarray]): A folder of
            images, or image files / BGR arrays.
        score_thr (float): Detections scoring below are dropped (the
            protocol's ``det_thresh``). Defaults to 0.5.
        topk (int, optional): Keep only the best ``topk`` matches.
        progress (callable, optional): Called as ``progress(done, total)``
            after each image.

    Returns:
        list[SearchMatch]: Detections of all images, by descending
        similarity.
    """
    if isinstance(gallery_images, (str, Path)):
        gallery_images = list_images(str(gallery_images))
    query_feat = query_feat.detach().float().cpu().reshape(-1)
    matches = []
    for index, image in enumerate(gallery_images):
        name = (f'array:{index}'
                if isinstance(image, np.ndarray) else str(image))
        pred = _predict(model, image, osp.basename(name)).pred_instances
        keep = pred.scores >= score_thr
        feats = pred.reid_feats[keep].detach().float().cpu()
        if feats.shape[-1] != query_feat.numel():
            raise ValueError(f'query_feat has {query_feat.numel()} '
                             f'dimensions, the model gives {feats.shape[-1]}')
        similarities = (feats @ query_feat).tolist()
        bboxes = get_box_tensor(
            pred.bboxes)[keep].detach().float().cpu().numpy()
        scores = pred.scores[keep].detach().float().cpu().tolist()
        matches.extend(
            SearchMatch(name, bbox, score, sim)
            for bbox, score, sim in zip(bboxes, scores, similarities))
        if progress is not None:
            progress(index + 1, len(gallery_images))
    matches.sort(key=lambda match: match.similarity, reverse=True)
    return matches[:topk] if topk is not None else matches
