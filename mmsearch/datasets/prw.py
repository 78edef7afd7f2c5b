"""PRW (Person Re-identification in the Wild) from its raw files."""
import copy
import os.path as osp
import re
from typing import Dict, List, Optional, Tuple

import numpy as np

from mmsearch.registry import DATASETS
from mmsearch.structures import box_iou
from .base_person_search import PersonSearchDataset
from .raw_io import DatasetLayoutError, check_dir, load_mat_key, mat_str

FRAME_BOX_KEYS = ('box_new', 'anno_file', 'anno_previous')
BOX_CONVENTIONS = ('published', 'clip')
FRAME_LAYOUT = 'an N x 5 array [id, x, y, w, h] (id -2 = unlabelled)'
QUERY_LAYOUT = 'lines "pid x y w h frame_name"'


def camera_id(frame_name: str) -> int:
    """The camera of a PRW frame: ``'c3s1_012345.jpg'`` -> 3."""
    match = re.match(r'c(\d)', osp.basename(frame_name))
    if match is None:
        raise DatasetLayoutError(
            f'PRW frame name "{frame_name}" does not start with c<camera>; '
            f'expected names like c1s1_000151.jpg.')
    return int(match.group(1))


@DATASETS.register_module()
class PRWDataset(PersonSearchDataset):
    """PRW (Zheng et al., CVPR 2017) from its raw files.

    Layout under ``data_root`` (docs/en/dataset_prepare.md): ``frames/*.jpg``,
    ``annotations/<frame>.jpg.mat`` (N x 5 ``[id, x, y, w, h]`` under the
    first of ``box_new``, ``anno_file``, ``anno_previous``),
    ``frame_train.mat`` (``img_index_train``), ``frame_test.mat``
    (``img_index_test``) and ``query_info.txt``.

    Boxes cross the image border in the raw files (some coordinates are
    negative, some boxes end past the right edge). ``box_convention`` says
    how a raw ``(x, y, w, h)`` becomes ``(x1, y1, x2, y2)``:

    - ``'published'``: the reader behind the published PRW results
      (SeqNet's ``PRW`` dataset, reused by COAT, GFN and later work): x, y
      (and w, h) are clipped at 0 and w, h kept, ``(max(x, 0), max(y, 0),
      max(x, 0) + w, max(y, 0) + h)``; a box starting left of the image is
      shifted right, one ending past the right or bottom edge is kept as it
      is. Query boxes: ``max(int(v), 0)`` of ``(x, y, x + w, y + h)``
      (truncated to integers like that reader). Use it for evaluation, so
      that mAP and top-k are comparable with the papers' (the gallery ground
      truth decides which detections count as found).
    - ``'clip'``: the geometric clip of the corners to the image,
      ``x1 = max(x, 0)``, ``x2 = min(x + w, W)`` (same for y), for query
      boxes too; a box entirely outside the image is dropped. Boxes stay
      inside the image, which suits training targets.

    The default (None) is ``'clip'`` for ``train`` and ``'published'`` for
    ``gallery`` and ``query``. Either way, boxes that end up empty (x2 <= x1
    or y2 <= y1) are dropped. Raw id -2 (and any negative id) is
    unlabelled: -1. ``train`` ids are the labelled raw
    ids remapped to 0..K-1 in increasing raw order; ``gallery`` and
    ``query`` keep the raw ids. ``cam_id`` comes from the frame name. A
    query sample is its frame's info plus ``query_bbox`` (clipped),
    ``query_person_id`` (raw id), ``query_index`` (line of
    ``query_info.txt``) and ``query_instance_index``: the frame annotation
    with that id and the highest IoU (>= ``query_match_iou``), -1 if none.
    The gallery of a query is every test frame but its own (or other
    cameras only): there are no gallery lists.

    Args:
        split (str): ``'train'``, ``'gallery'`` or ``'query'``.
        query_match_iou (float): Least IoU between a query box and its
            frame annotation. Defaults to 0.5.
        box_convention (str, optional): ``'published'`` or ``'clip'`` (see
            above); None takes ``'clip'`` for ``train`` and ``'published'``
            otherwise. Defaults to None.
        data_prefix (dict): ``img``: frame folder. Defaults to
            ``dict(img='frames/')``.
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset`.
    """

    METAINFO = dict(
        classes=('person', ), palette=[(220, 20, 60)], dataset_name='prw')

    def __init__(self,
                 split: str = 'train',
                 query_match_iou: float = 0.5,
                 box_convention: Optional[str] = None,
                 data_prefix: dict = dict(img='frames/'),
                 **kwargs) -> None:
        if box_convention not in BOX_CONVENTIONS + (None, ):
            raise ValueError(
                f'PRWDataset: box_convention must be one of '
                f'{BOX_CONVENTIONS} or None, got {box_convention!r}.')
        self.query_match_iou = query_match_iou
        self.box_convention = box_convention or ('clip' if split == 'train'
                                                 else 'published')
        super().__init__(split=split, data_prefix=data_prefix, **kwargs)

    def _read_frame_names(self, split: str) -> List[str]:
        """Frame names (with .jpg) of ``frame_train.mat`` /
        ``frame_test.mat``."""
        file_name, key = (('frame_train.mat',
                           'img_index_train') if split == 'train' else
                          ('frame_test.mat', 'img_index_test'))
        names = load_mat_key(
            osp.join(self.data_root, file_name), key,
            'a cell array of frame names without .jpg')
        return [mat_str(name) + '.jpg' for name in np.asarray(names).ravel()]

    def _read_frame_boxes(self, frame: str) -> Tuple[np.ndarray, np.ndarray]:
        """Raw ids (N,) int64 and (N, 4) xywh boxes of one frame."""
        path = osp.join(self.data_root, 'annotations', frame + '.mat')
        array = np.asarray(
            load_mat_key(path, FRAME_BOX_KEYS, FRAME_LAYOUT), dtype=np.float64)
        if array.size == 0:
            return np.zeros(0, np.int64), np.zeros((0, 4))
        if array.ndim != 2 or array.shape[1] != 5:
            raise DatasetLayoutError(
                f'"{path}": array of shape {array.shape}; expected '
                f'{FRAME_LAYOUT}.')
        return array[:, 0].astype(np.int64), array[:, 1:]

    def _read_queries(self) -> List[Tuple[int, np.ndarray, str]]:
        """query_info.txt as (raw id, xywh box, frame name) per line."""
        path = osp.join(self.data_root, 'query_info.txt')
        if not osp.isfile(path):
            raise DatasetLayoutError(
                f'Missing file "{path}"; expected {QUERY_LAYOUT}.')
        queries = []
        with open(path, encoding='utf-8') as file:  # newline=None: CRLF ok
            for line_number, line in enumerate(file, 1):
                fields = line.split()
                if not fields:
                    continue
                try:
                    person_id = int(fields[0])
                    box = np.array([float(v) for v in fields[1:5]])
                    frame = fields[5]
                except (ValueError, IndexError) as error:
                    raise DatasetLayoutError(
                        f'"{path}" line {line_number}: {line.strip()!r}; '
                        f'expected {QUERY_LAYOUT}.') from error
                frame = frame if frame.endswith('.jpg') else frame + '.jpg'
                queries.append((person_id, box, frame))
        return queries

    def load_data_list(self) -> List[dict]:
        """Read the raw files into data infos (see class docstring)."""
        check_dir(self.data_root, 'PRWDataset data_root')
        queries = self._read_queries() if self.split == 'query' else []
        if self.split == 'query':
            frames = sorted({frame for _, _, frame in queries})
        else:
            frames = self._read_frame_names(self.split)
        raw = {frame: self._read_frame_boxes(frame) for frame in frames}
        id_map = self._train_id_map(raw) if self.split == 'train' else None
        infos = {}
        for frame, (raw_ids, boxes) in raw.items():
            person_ids = np.where(raw_ids < 0, -1, raw_ids)
            if id_map is not None:
                person_ids = np.array([id_map.get(i, -1) for i in person_ids],
                                      dtype=np.int64)
            if self.box_convention == 'published':
                boxes = boxes.clip(min=0)  # x, y, w, h at 0; x2 = x + w
            infos[frame] = self.make_data_info(
                frame, boxes, person_ids, clip=self.box_convention == 'clip')
            infos[frame]['cam_id'] = camera_id(frame)
        if self.split != 'query':
            return list(infos.values())
        return [
            self._query_info(infos[frame], index, person_id, box)
            for index, (person_id, box, frame) in enumerate(queries)
        ]

    @staticmethod
    def _train_id_map(raw: Dict[str, tuple]) -> Dict[int, int]:
        """Labelled raw ids -> 0..K-1 in increasing raw order."""
        labelled = sorted(
            {int(i)
             for raw_ids, _ in raw.values() for i in raw_ids if i >= 0})
        return {raw_id: index for index, raw_id in enumerate(labelled)}

    def _query_info(self, frame_info: dict, index: int, person_id: int,
                    box_xywh: np.ndarray) -> dict:
        """A query sample: the frame info plus the query fields."""
        data_info = copy.deepcopy(frame_info)
        x, y, w, h = box_xywh.tolist()
        if self.box_convention == 'published':
            query_bbox = np.array([x, y, x + w, y + h]).astype(
                np.int32).clip(min=0).astype(np.float64)
        else:
            query_bbox = np.array([
                max(x, 0.0),
                max(y, 0.0),
                min(x + w, data_info['width']),
                min(y + h, data_info['height'])
            ])
        instances = data_info['instances']
        candidates = [
            i for i, inst in enumerate(instances)
            if inst['person_id'] == person_id
        ]
        match = -1
        if candidates:
            ious = box_iou(query_bbox,
                           [instances[i]['bbox'] for i in candidates])[0]
            best = int(np.argmax(ious))
            if ious[best] >= self.query_match_iou:
                match = candidates[best]
        data_info.update(
            query_bbox=query_bbox.tolist(),
            query_person_id=int(person_id),
            query_index=index,
            query_instance_index=match)
        return data_info

    def get_gallery_protocol(self, name=None):
        """PRW has no gallery lists.

        Raises:
            NotImplementedError: Always; the gallery of a PRW query is every
                test frame except the query frame (or, multi-view, frames of
                other cameras), computed by the metric from ``img_id`` and
                ``cam_id``.
        """
        raise NotImplementedError(
            'PRWDataset has no gallery protocol lists: the gallery of a PRW '
            'query is every test frame except the query frame (or frames of '
            'other cameras only); select it from img_id and cam_id.')
