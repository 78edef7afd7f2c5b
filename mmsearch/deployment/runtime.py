"""Person search with the exported ONNX models: numpy, OpenCV, onnxruntime.

The same API as :mod:`mmsearch.apis` (``init_searcher``, ``embed_query``,
``search_gallery``, ``list_images``, ``SearchMatch``) on the models written
by ``tools/deployment/export_onnx.py``, without PyTorch, mmcv or mmdet::

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
from typing import Callable, List, NamedTuple, Optional, Sequence, Tuple
from typing import Union

import cv2
import numpy as np

ImageType = Union[str, np.ndarray]
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
SUPPORTED_FORMAT_VERSIONS = (1, )
_CV2_INTERPOLATIONS = {
    'nearest': cv2.INTER_NEAREST,
    'bilinear': cv2.INTER_LINEAR,
    'bicubic': cv2.INTER_CUBIC,
    'area': cv2.INTER_AREA,
    'lanczos': cv2.INTER_LANCZOS4,
}


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


def load_image(image: ImageType) -> np.ndarray:
    """An image file or array as a uint8 BGR (H, W, 3) array.

    Args:
        image (str | np.ndarray): Image file, or uint8 BGR (H, W, 3) array.

    Returns:
        np.ndarray: The image, uint8 (H, W, 3).

    Raises:
        FileNotFoundError: If the file does not exist.
        ValueError: If the file is not an image, or the array is not uint8
            (H, W, 3) with H, W >= 1.
    """
    if isinstance(image, (str, os.PathLike)):
        path = os.fspath(image)
        if not osp.isfile(path):
            raise FileNotFoundError(f'image "{path}" not found (expected an '
                                    'image file or an HxWx3 uint8 array)')
        array = cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_COLOR)
        if array is None:
            raise ValueError(f'"{path}" is not an image OpenCV can read')
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
            session = onnxruntime.InferenceSession(path,
                                                   sess_options=options,
                                                   providers=providers)
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
        return resize_image(load_image(image), self.preprocess['resize'])

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
        return dict(bboxes=boxes * np.tile(inverse, 2),
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
    return OnnxSearcher(osp.join(export_dir, models['gallery']),
                        osp.join(export_dir, models['query']),
                        providers=providers,
                        num_threads=num_threads,
                        memory_arena=memory_arena)


def embed_query(searcher: OnnxSearcher, image: ImageType,
                box: Sequence[float]) -> np.ndarray:
    """Re-ID feature of a query person box.

    Args:
        searcher (OnnxSearcher): From :func:`init_searcher`.
        image (str | np.ndarray): Query image file or BGR (H, W, 3) uint8.
        box (Sequence[float]): (4,) [x1, y1, x2, y2] in the image's
            original coordinates.

    Returns:
        np.ndarray: (D,) float32 unit-norm feature.
    """
    box = np.asarray(box, dtype=np.float32).reshape(-1)
    if box.shape != (4, ) or not (box[2] > box[0] and box[3] > box[1]):
        raise ValueError('box must be [x1, y1, x2, y2] with x2 > x1 and '
                         f'y2 > y1, got {box.tolist()}')
    return searcher.embed_boxes(image, box[None])[0]


def list_images(folder: str) -> List[str]:
    """Sorted image files directly inside ``folder``."""
    if not osp.isdir(folder):
        raise NotADirectoryError(f'gallery folder "{folder}" not found')
    names = sorted(n for n in os.listdir(folder)
                   if n.lower().endswith(IMAGE_EXTENSIONS))
    if not names:
        raise ValueError(f'gallery folder "{folder}" holds no images '
                         f'({", ".join(IMAGE_EXTENSIONS)})')
    return [osp.join(folder, n) for n in names]


def search_gallery(
    searcher: OnnxSearcher,
    query_feat: np.ndarray,
    gallery_images: Union[str, Sequence[ImageType]],
    score_thr: float = 0.5,
    topk: Optional[int] = None,
    progress: Optional[Callable[[int, int],
                                None]] = None) -> List[SearchMatch]:
    """Rank every detected person of a gallery against a query feature.

    similarity(det) = <reid_feat(det), query_feat>, both unit norm.

    Args:
        searcher (OnnxSearcher): From :func:`init_searcher`.
        query_feat (np.ndarray): (D,) from :func:`embed_query`.
        gallery_images (str | Sequence[str | np.ndarray]): A folder of
            images, or image files / BGR arrays.
        score_thr (float): Detections scoring below are dropped. Defaults
            to 0.5.
        topk (int, optional): Keep only the best ``topk`` matches.
        progress (callable, optional): Called as ``progress(done, total)``
            after each image.

    Returns:
        list[SearchMatch]: Detections of all images, by descending
        similarity.
    """
    if isinstance(gallery_images, (str, os.PathLike)):
        gallery_images = list_images(os.fspath(gallery_images))
    query_feat = np.asarray(query_feat, dtype=np.float32).reshape(-1)
    if query_feat.size != searcher.embed_dim:
        raise ValueError(f'query_feat has {query_feat.size} dimensions, the '
                         f'model gives {searcher.embed_dim}')
    matches = []
    for index, image in enumerate(gallery_images):
        name = (f'array:{index}'
                if isinstance(image, np.ndarray) else os.fspath(image))
        dets = searcher.detect(image)
        keep = dets['scores'] >= score_thr
        similarities = dets['reid_feats'][keep] @ query_feat
        matches.extend(
            SearchMatch(name, bbox, float(score), float(sim))
            for bbox, score, sim in zip(dets['bboxes'][keep], dets['scores']
                                        [keep], similarities))
        if progress is not None:
            progress(index + 1, len(gallery_images))
    matches.sort(key=lambda match: match.similarity, reverse=True)
    return matches[:topk] if topk is not None else matches
