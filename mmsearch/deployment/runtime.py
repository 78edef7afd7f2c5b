"""Person search with the exported ONNX models: numpy, OpenCV, onnxruntime.

The same API as :mod:`mmsearch.apis` (``init_searcher``, ``embed_query``,
``search_gallery``, ``list_images``, ``SearchMatch``) on the models written
by ``tools/deployment/export_onnx.py``, without PyTorch, mmcv or mmdet. The
rules for bad input are the same as the PyTorch path's, because both use
the torch-free :mod:`mmsearch.structures` and :mod:`mmsearch.fileio`: a
query box outside its image is an error, one partly outside is clipped
with a warning, and an empty, truncated or non-image gallery file is
skipped with a warning that says why::

    from mmsearch.deployment.runtime import (embed_query, init_searcher,
                                             search_gallery)
    searcher = init_searcher('work_dirs/onnx')
    query_feat = embed_query(searcher, 'query.jpg', [x1, y1, x2, y2])
    matches = search_gallery(searcher, query_feat, 'gallery_folder/')

An image is read as OpenCV reads it (BGR, ``IMREAD_COLOR``), resized as the
config's test pipeline resizes it (``scale``, ``keep_ratio``; mmcv's size
rounding and OpenCV interpolation), and given to the graph as uint8
(H, W, 3); the graph normalises and pads. Boxes go in and out in the
original image's coordinates.
"""
import json
import os
import os.path as osp
from typing import Callable, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from mmsearch.fileio import ImageType, list_images, read_image
from mmsearch.structures import SearchMatch, clip_query_box, rank_gallery

__all__ = [
    'OnnxSearcher', 'SearchMatch', 'embed_query', 'init_searcher',
    'list_images', 'read_image', 'rescaled_size', 'resize_image',
    'search_gallery'
]

SUPPORTED_FORMAT_VERSIONS = (1, )
_CV2_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}


def rescaled_size(width: int, height: int,
                  scale: Sequence[int]) -> Tuple[int, int]:
    """Size of a keep-ratio resize into ``scale`` (mmcv's ``rescale_size``).

    ``f = min(max(scale) / max(h, w), min(scale) / min(h, w))``, new size
    ``(int(w * f + 0.5), int(h * f + 0.5))``.

    Args:
        width (int): Image width.
        height (int): Image height.
        scale (Sequence[int]): Target (w, h); only its long and short side
            matter.

    Returns:
        tuple[int, int]: New (width, height).
    """
    factor = min(
        max(scale) / max(height, width),
        min(scale) / min(height, width))
    return int(width * factor + 0.5), int(height * factor + 0.5)


def resize_image(image: np.ndarray,
                 resize: Optional[dict]) -> Tuple[np.ndarray, np.ndarray]:
    """Resize as the config's test pipeline (mmdet ``Resize``).

    Args:
        image (np.ndarray): uint8 (H, W, 3).
        resize (dict, optional): ``scale`` (w, h), ``keep_ratio``,
            ``interpolation``; None keeps the size.

    Returns:
        tuple: The resized image and its scale factor (2,) float32 as
        (new_w / w, new_h / h).
    """
    height, width = image.shape[:2]
    if resize is None:
        return image, np.ones(2, dtype=np.float64)
    if resize['keep_ratio']:
        new_w, new_h = rescaled_size(width, height, resize['scale'])
    else:
        new_w, new_h = resize['scale']
    if new_w < 1 or new_h < 1:
        raise ValueError(f'image of {width}x{height} (w x h) resizes to '
                         f'{new_w}x{new_h}: too thin for the model')
    resized = cv2.resize(
        image, (new_w, new_h),
        interpolation=_CV2_INTERPOLATIONS[resize['interpolation']])
    return resized, np.array([new_w / width, new_h / height], dtype=np.float64)


class OnnxSearcher:
    """The exported gallery and query models with their preprocessing.

    Args:
        gallery_path (str): ``gallery.onnx``.
        query_path (str): ``query.onnx``.
        providers (Sequence[str], optional): onnxruntime execution
            providers. Defaults to ``['CPUExecutionProvider']``.
        num_threads (int, optional): Intra-op threads (None: onnxruntime's
            default).
        memory_arena (bool): Keep onnxruntime's CPU memory arena, which
            holds on to the largest activations between images (faster,
            higher peak memory). Defaults to True.
    """

    def __init__(self,
                 gallery_path: str,
                 query_path: str,
                 providers: Optional[Sequence[str]] = None,
                 num_threads: Optional[int] = None,
                 memory_arena: bool = True) -> None:
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError(
                'The ONNX runtime of mmsearch needs onnxruntime: pip install '
                'onnxruntime (or pip install "mmsearch[deploy]").') from error
        options = onnxruntime.SessionOptions()
        if num_threads is not None:
            options.intra_op_num_threads = int(num_threads)
        options.enable_cpu_mem_arena = bool(memory_arena)
        providers = list(providers or ['CPUExecutionProvider'])
        self.sessions = {}
        self.deploy = None
        for kind, path in (('gallery', gallery_path), ('query', query_path)):
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{kind} model "{path}" not found; write it with '
                    'tools/deployment/export_onnx.py')
            session = onnxruntime.InferenceSession(
                path, sess_options=options, providers=providers)
            deploy = self._read_metadata(session, path, kind)
            if self.deploy is not None and deploy['preprocess'] != \
                    self.deploy['preprocess']:
                raise ValueError(f'"{gallery_path}" and "{path}" come from '
                                 'different exports (preprocessing differs)')
            self.deploy = deploy
            self.sessions[kind] = session
        self.preprocess = self.deploy['preprocess']
        self.embed_dim = int(self.deploy['embed_dim'])

    @staticmethod
    def _read_metadata(session, path: str, kind: str) -> dict:
        metadata = session.get_modelmeta().custom_metadata_map
        if 'mmsearch' not in metadata:
            raise ValueError(f'"{path}" has no mmsearch metadata; export it '
                             'with tools/deployment/export_onnx.py')
        deploy = json.loads(metadata['mmsearch'])
        if deploy.get('format_version') not in SUPPORTED_FORMAT_VERSIONS:
            raise ValueError(
                f'"{path}" has export format {deploy.get("format_version")}'
                f', this runtime reads {SUPPORTED_FORMAT_VERSIONS}')
        if deploy.get('kind') != kind:
            raise ValueError(f'"{path}" is a {deploy.get("kind")} model, '
                             f'expected the {kind} model')
        return deploy

    def prepare(self, image: ImageType) -> Tuple[np.ndarray, np.ndarray]:
        """Load and resize an image for the graphs.

        Returns:
            tuple: uint8 (H', W', 3) resized image and its scale factor
            (w, h).
        """
        return resize_image(read_image(image), self.preprocess['resize'])

    def detect(self, image: ImageType) -> dict:
        """Every detected person of an image.

        Args:
            image (str | np.ndarray): Image file or uint8 BGR (H, W, 3).

        Returns:
            dict: ``bboxes`` (n, 4) float32 in original coordinates,
            ``scores`` (n,), ``reid_feats`` (n, D) unit norm, by
            descending score.
        """
        resized, scale_factor = self.prepare(image)
        boxes, scores, feats = self.sessions['gallery'].run(
            None, {'image': resized})
        inverse = (1 / scale_factor).astype(np.float32)
        return dict(
            bboxes=boxes * np.tile(inverse, 2),
            scores=scores,
            reid_feats=feats)

    def embed_boxes(self, image: ImageType, boxes: np.ndarray) -> np.ndarray:
        """Embeddings of given boxes of an image.

        Args:
            image (str | np.ndarray): Image file or uint8 BGR (H, W, 3).
            boxes (np.ndarray): (n, 4) [x1, y1, x2, y2] in the image's
                original coordinates.

        Returns:
            np.ndarray: (n, D) float32, unit norm.
        """
        boxes = np.asarray(boxes, dtype=np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError('boxes must have shape (n, 4) as [x1, y1, x2, '
                             f'y2], got {boxes.shape}')
        resized, scale_factor = self.prepare(image)
        scaled = boxes * np.tile(scale_factor.astype(np.float32), 2)
        return self.sessions['query'].run(None, {
            'image': resized,
            'boxes': scaled
        })[0]


def init_searcher(export_dir: str,
                  providers: Optional[Sequence[str]] = None,
                  num_threads: Optional[int] = None,
                  memory_arena: bool = True) -> OnnxSearcher:
    """Load the ONNX models written by ``tools/deployment/export_onnx.py``.

    Args:
        export_dir (str): The export folder (``deploy.json``,
            ``gallery.onnx``, ``query.onnx``).
        providers (Sequence[str], optional): onnxruntime execution
            providers. Defaults to the CPU.
        num_threads (int, optional): Intra-op threads.
        memory_arena (bool): onnxruntime's CPU memory arena (see
            :class:`OnnxSearcher`). Defaults to True.

    Returns:
        OnnxSearcher: The loaded models.
    """
    deploy_path = osp.join(export_dir, 'deploy.json')
    if not osp.isfile(deploy_path):
        raise FileNotFoundError(
            f'"{deploy_path}" not found; export_dir must be the folder '
            'written by tools/deployment/export_onnx.py')
    with open(deploy_path) as f:
        models = json.load(f)['models']
    return OnnxSearcher(
        osp.join(export_dir, models['gallery']),
        osp.join(export_dir, models['query']),
        providers=providers,
        num_threads=num_threads,
        memory_arena=memory_arena)


def embed_query(searcher: OnnxSearcher, image: ImageType,
                box: Sequence[float]) -> np.ndarray:
    """Re-ID feature of a query person box.

    A box partly outside the image is clipped to it (with a warning); one
    that does not overlap the image is an error
    (:func:`mmsearch.structures.clip_query_box`, as ``mmsearch.apis``).

    Args:
        searcher (OnnxSearcher): From :func:`init_searcher`.
        image (str | np.ndarray): Query image file or BGR (H, W, 3) uint8.
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in the image's
            original coordinates.

    Returns:
        np.ndarray: (D,) float32 unit-norm feature.

    Raises:
        ValueError: For a malformed box or a box outside the image.
        ImageReadError: If the image file is empty, truncated or not an
            image.
    """
    array = read_image(image)
    name = 'array:0' if isinstance(image, np.ndarray) else os.fspath(image)
    box = clip_query_box(box, array.shape[:2], name)
    return searcher.embed_boxes(array, box[None])[0]


def search_gallery(
        searcher: OnnxSearcher,
        query_feat: np.ndarray,
        gallery_images: Union[str, Sequence[ImageType]],
        score_thr: float = 0.5,
        topk: Optional[int] = None,
        progress: Optional[Callable[[int, int], None]] = None,
        skipped: Optional[List[Tuple[str, str]]] = None) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    similarity(det) = <reid_feat(det), query_feat>, both unit norm (see
    :func:`mmsearch.structures.rank_gallery`, shared with
    ``mmsearch.apis.search_gallery``). An image file that is empty,
    truncated or not an image is skipped with a ``UserWarning`` naming it
    (and listed in ``skipped``); if no image can be read, the search fails.

    Args:
        searcher (OnnxSearcher): From :func:`init_searcher`.
        query_feat (np.ndarray): (D,) from :func:`embed_query`.
        gallery_images (str | Sequence[str | np.ndarray]): A folder of
            images, or image files / BGR arrays.
        score_thr (float): Detections scoring below are dropped. Defaults
            to 0.5.
        topk (int, optional): Keep only the best ``topk`` matches.
        progress (callable, optional): Called as ``progress(done, total)``
            after each image (skipped ones included).
        skipped (list, optional): Receives ``(image path, reason)`` for
            each image that could not be read.

    Returns:
        list[SearchMatch]: Detections of all readable images, by descending
        similarity.

    Raises:
        ValueError: If the feature dimensions differ or outputs hold NaN.
        ImageReadError: If none of the gallery images can be read.
    """
    query_feat = np.asarray(query_feat, dtype=np.float32).reshape(-1)
    if query_feat.size != searcher.embed_dim:
        raise ValueError(f'query_feat has {query_feat.size} dimensions, the '
                         f'model gives {searcher.embed_dim}')
    return rank_gallery(
        lambda images: [searcher.detect(image) for image in images],
        query_feat,
        gallery_images,
        score_thr=score_thr,
        topk=topk,
        progress=progress,
        skipped=skipped)
