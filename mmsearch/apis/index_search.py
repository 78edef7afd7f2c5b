"""Build, load and search a persistent gallery index.

Every person in a gallery (image folders, videos, a data set split) is
detected and embedded once by :func:`build_index`; :func:`search_index`
then ranks the stored people against a query without running the model on
the gallery again.

Example::

    model = init_searcher(config, checkpoint)
    build_index(model, 'gallery.idx', images='photos/', videos=['cam1.mp4'],
                checkpoint=checkpoint, fps=2)
    index = load_index('gallery.idx')
    results = search_index(index, model=model, image='q.jpg',
                           box=[10, 20, 60, 150], topk=10, dedup='image')
"""
import os.path as osp
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch.nn as nn
from mmdet.utils import get_test_pipeline_cfg
from mmengine.config import Config

from mmsearch.fileio import IMAGE_EXTENSIONS, is_image_file
from mmsearch.index import (PROBE_BOXES, GalleryIndex, build_gallery_index,
                            build_signature, check_signature, dataset_units,
                            list_image_units, list_video_units, probe_image,
                            search_features)
from mmsearch.index.sources import DEFAULT_CHUNK_FRAMES, image_unit
from .inference import detect_images, embed_query

PathsType = Union[str, Path, Sequence[Union[str, Path]], None]


def model_signature(model: nn.Module,
                    checkpoint: Optional[str] = None,
                    score_thr: float = 0.5) -> dict:
    """The index signature of a model from :func:`init_searcher`.

    Its embeddings of the probe boxes (:data:`mmsearch.index.PROBE_BOXES`
    in :func:`mmsearch.index.probe_image`) with the config and checkpoint
    that explain a mismatch (see :func:`mmsearch.index.build_signature`).

    Args:
        model (nn.Module): The model (``model.cfg`` is read).
        checkpoint (str, optional): The checkpoint file it was loaded from
            (its SHA-256 is recorded); None for initialised weights.
        score_thr (float): Detection threshold used to build the index.

    Returns:
        dict: The signature.
    """
    cfg = model.cfg
    image = probe_image()
    feats = np.stack([
        embed_query(model, image, box).numpy().astype(np.float32)
        for box in PROBE_BOXES
    ])
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model,
                                               'to_dict') else cfg.model
    return build_signature(
        feats,
        score_thr,
        config=cfg.filename or None,
        model_cfg=model_cfg,
        checkpoint=checkpoint,
        pipeline=get_test_pipeline_cfg(cfg))


def _as_list(paths: PathsType) -> List[str]:
    if paths is None:
        return []
    if isinstance(paths, (str, Path)):
        return [str(paths)]
    return [str(p) for p in paths]


def build_index(model: nn.Module,
                index_dir: str,
                images: PathsType = None,
                videos: PathsType = None,
                dataset: Optional[Union[str, Config]] = None,
                split: str = 'gallery',
                checkpoint: Optional[str] = None,
                score_thr: float = 0.5,
                frame_step: Optional[int] = None,
                fps: Optional[float] = None,
                camera: Optional[str] = None,
                recursive: bool = True,
                batch_size: int = 4,
                feat_dtype: Optional[str] = None,
                chunk_frames: int = DEFAULT_CHUNK_FRAMES,
                part_units: int = 64,
                show_progress: bool = True,
                on_unit_done=None) -> dict:
    """Detect and embed every person of a gallery into an index folder.

    A new folder becomes a new index; an existing index is appended to
    (after checking that ``model`` embeds as the index's model did), and a
    build killed earlier is resumed: sources already in the index (or in
    the parts a killed build left) are not embedded again. Unreadable or
    truncated images and video frames are skipped and listed in the report.
    Runs in every process of an ``mmengine.dist`` job (each embeds its
    share; rank 0 merges).

    Args:
        model (nn.Module): A model from :func:`init_searcher`.
        index_dir (str): The index folder.
        images (str | Sequence[str], optional): Image folders (searched
            recursively unless ``recursive=False``) and/or image files.
        videos (str | Sequence[str], optional): Video files.
        dataset (str | Config, optional): A config whose
            ``test_dataloader.dataset`` is read with split ``split``.
        split (str): Data set split for ``dataset``.
        checkpoint (str, optional): ``model``'s checkpoint file (recorded
            with its SHA-256).
        score_thr (float): Detections scoring below are not stored.
        frame_step (int, optional): Embed every ``frame_step``-th frame.
        fps (float, optional): Or embed about ``fps`` frames per second.
        camera (str, optional): Camera id of all the given sources (None:
            the image's sub-folder, or the video's name).
        recursive (bool): Descend into sub-folders of image folders.
        batch_size (int): Images per forward pass.
        feat_dtype (str, optional): ``'float16'`` (default) or
            ``'float32'`` for a new index.
        chunk_frames (int): Sampled video frames per unit of work.
        part_units (int): Units between checkpoints of the build.
        show_progress (bool): mmengine's progress bar over the units.
        on_unit_done (callable, optional): ``f(done, total)`` per unit.

    Returns:
        dict: The build report (see
        :func:`mmsearch.index.build_gallery_index`).
    """
    units = []
    for path in _as_list(images):
        if osp.isdir(path):
            units += list_image_units(path, camera, recursive)
        elif osp.isfile(path):
            if not is_image_file(path):
                raise ValueError(f'"{path}" is not an image file '
                                 f'({", ".join(IMAGE_EXTENSIONS)})')
            units.append(image_unit(path, camera or ''))
        else:
            raise FileNotFoundError(f'image folder or file "{path}" not '
                                    'found')
    for path in _as_list(videos):
        units += list_video_units(path, frame_step, fps, camera, chunk_frames)
    if dataset is not None:
        cfg = dataset if isinstance(dataset, Config) else Config.fromfile(
            str(dataset))
        units += dataset_units(cfg, split)
    if not units:
        raise ValueError('nothing to index: give images, videos or dataset')
    return build_gallery_index(
        lambda images: detect_images(
            model, images, score_thr=score_thr, batch_size=batch_size),
        model_signature(model, checkpoint, score_thr),
        index_dir,
        units,
        batch_size=batch_size,
        feat_dtype=feat_dtype,
        part_units=part_units,
        show_progress=show_progress,
        on_unit_done=on_unit_done)


def check_index_model(index: GalleryIndex, model: nn.Module) -> None:
    """Refuse (``ModelMismatchError``) a model that embeds differently from
    the index's model. The result is remembered per model."""
    checked = index.__dict__.setdefault('_checked_models', set())
    if id(model) in checked:
        return
    signature = model_signature(
        model, score_thr=index.model_signature['score_thr'])
    check_signature(index.model_signature, signature, index.index_dir)
    checked.add(id(model))


def load_index(index_dir: str,
               model: Optional[nn.Module] = None,
               verify: bool = True) -> GalleryIndex:
    """Load a gallery index, optionally checking a model against it.

    Args:
        index_dir (str): The index folder.
        model (nn.Module, optional): Refused with ``ModelMismatchError``
            unless it embeds as the index's model.
        verify (bool): Check the shards' SHA-256 checksums.

    Returns:
        GalleryIndex: The loaded index.
    """
    index = GalleryIndex(index_dir, verify=verify)
    if model is not None:
        check_index_model(index, model)
    return index


def query_feature(index: GalleryIndex,
                  model: Optional[nn.Module] = None,
                  image=None,
                  box: Optional[Sequence[float]] = None,
                  entry_id: Optional[int] = None,
                  feature=None) -> np.ndarray:
    """The (D,) query feature from exactly one kind of query.

    Args:
        index (GalleryIndex): The index searched.
        model (nn.Module, optional): Needed for ``image`` + ``box``.
        image (str | np.ndarray, optional): Query image file or BGR array.
        box (Sequence[float], optional): (4,) query box in ``image``.
        entry_id (int, optional): An entry of the index (a person detected
            in the gallery).
        feature (np.ndarray | str, optional): A stored (D,) feature, or a
            ``.npy`` file holding one.
    """
    given = [image is not None, entry_id is not None, feature is not None]
    if sum(given) != 1:
        raise ValueError('give exactly one query: image (with box), '
                         'entry_id, or feature')
    if entry_id is not None:
        return index.feature(int(entry_id))
    if feature is not None:
        if isinstance(feature, (str, Path)):
            if not osp.isfile(feature):
                raise FileNotFoundError(f'feature file "{feature}" not '
                                        'found (expected a .npy of shape '
                                        f'({index.embed_dim},))')
            feature = np.load(str(feature), allow_pickle=False)
        return np.asarray(feature, np.float32).reshape(-1)
    if box is None or model is None:
        raise ValueError('an image query needs box and model')
    check_index_model(index, model)
    return embed_query(model, image, box).numpy()


def search_index(index: Union[str, GalleryIndex],
                 model: Optional[nn.Module] = None,
                 image=None,
                 box: Optional[Sequence[float]] = None,
                 entry_id: Optional[int] = None,
                 feature=None,
                 topk: int = 10,
                 method: str = 'auto',
                 dedup: Optional[str] = None,
                 window: float = 1.0,
                 cameras: Optional[Sequence[str]] = None,
                 videos: Optional[Sequence[str]] = None,
                 time_range: Optional[Sequence[float]] = None,
                 ann_kind: str = 'ivf',
                 ann_params: Optional[dict] = None,
                 use_gpu: bool = False) -> List[Dict]:
    """Rank the people of an index against one query.

    The query is an image + box (embedded with ``model``, which must embed
    as the index's model), an entry of the index, or a feature. See
    :func:`mmsearch.index.search_features` for the ranking arguments
    (``method`` exact/ann/auto, ``dedup`` None/'image'/'window', filters).

    Returns:
        list[dict]: Ranked results: ``rank``, ``similarity``, ``entry_id``,
        ``source``, ``kind``, ``camera``, ``frame``, ``timestamp``,
        ``box``, ``score``.
    """
    if not isinstance(index, GalleryIndex):
        index = load_index(str(index))
    feat = query_feature(index, model, image, box, entry_id, feature)
    return search_features(
        index,
        feat,
        topk=topk,
        method=method,
        dedup=dedup,
        window=window,
        cameras=cameras,
        videos=videos,
        time_range=time_range,
        ann_kind=ann_kind,
        ann_params=ann_params,
        use_gpu=use_gpu)[0]
