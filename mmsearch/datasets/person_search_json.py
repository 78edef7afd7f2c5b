"""Person search from COCO-style JSON annotation files (your own data).

The format, one file per split (``train.json``; ``test.json`` with the
queries)::

    {
      "images": [{"id": 1, "file_name": "cam1/000001.jpg",
                  "height": 1080, "width": 1920,
                  "cam_id": 1, "video_id": 0}],          # ids optional
      "annotations": [{"id": 1, "image_id": 1, "bbox": [x, y, w, h],
                       "person_id": 7, "ignore": 0}],     # -1: unlabelled
      "queries": [{"image_id": 1, "bbox": [x, y, w, h], "person_id": 7,
                   "annotation_id": 1}],                 # test file only
      "galleries": {"100": [{"query": 0, "image_ids": [2, 5, ...]}]}
    }

``bbox`` is COCO's (x, y, width, height) in pixels; ``ignore`` and
``annotation_id`` are optional; ``categories``, ``info`` and other COCO keys
are allowed and ignored. ``galleries`` is optional: with it, query ``q`` is
searched in the images listed for it (the CUHK-SYSU protocol, one named list
per gallery size, e.g. ``"50"``, ``"100"``, ``"occlusion"``); without it, in
every other test image (the PRW protocol, also across cameras only when the
images have ``cam_id``).
"""
import copy
import json
import os.path as osp
from collections import Counter
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from mmengine.dataset import force_full_init

from mmsearch.registry import DATASETS
from .base_person_search import PersonSearchDataset
from .raw_io import DatasetLayoutError

FORMAT_SUMMARY = (
    'a JSON object with "images" ({id, file_name, height, width, optional '
    'cam_id, video_id}), "annotations" ({id, image_id, bbox [x, y, w, h], '
    'person_id (-1 unlabelled), optional ignore}), and in a test file '
    '"queries" ({image_id, bbox, person_id, optional annotation_id}) and '
    'optional "galleries" ({name: [{query, image_ids}]})')
MAX_REPORTED = 10


@dataclass
class Problem:
    """One thing wrong with an annotation file.

    Attributes:
        level (str): ``'error'`` (the file cannot be used) or ``'warning'``
            (usable, but probably not what was meant).
        entry (str): Where, e.g. ``'annotations[12] (id 40)'``.
        message (str): What is wrong and what was expected.
    """
    level: str
    entry: str
    message: str

    def __str__(self) -> str:
        return f'{self.level}: {self.entry}: {self.message}'


@dataclass
class ParsedAnnotations:
    """A validated annotation file.

    Attributes:
        images (list[dict]): The ``images`` entries, in file order.
        boxes (dict[int, list[dict]]): Image id -> its annotations in file
            order, each with ``bbox_xyxy`` (x1, y1, x2, y2) added; empty boxes
            (w <= 0 or h <= 0) are left out.
        queries (list[dict]): The ``queries`` entries with ``bbox_xyxy``.
        galleries (dict[str, list[dict]]): The ``galleries`` lists.
        problems (list[Problem]): Errors and warnings found.
        num_dropped (int): Empty boxes left out.
    """
    images: List[dict] = field(default_factory=list)
    boxes: Dict[int, List[dict]] = field(default_factory=dict)
    queries: List[dict] = field(default_factory=list)
    galleries: Dict[str, List[dict]] = field(default_factory=dict)
    problems: List[Problem] = field(default_factory=list)
    num_dropped: int = 0

    @property
    def errors(self) -> List[Problem]:
        """list[Problem]: The problems of level ``'error'``."""
        return [p for p in self.problems if p.level == 'error']

    def error(self, entry: str, message: str) -> None:
        """Record an error."""
        self.problems.append(Problem('error', entry, message))

    def warn(self, entry: str, message: str) -> None:
        """Record a warning."""
        self.problems.append(Problem('warning', entry, message))


def _is_int(value) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def _is_box(value) -> bool:
    return (isinstance(value, (list, tuple)) and len(value) == 4 and all(
        isinstance(v, Real) and not isinstance(v, bool) and np.isfinite(v)
        for v in value))


def _entry(kind: str, index: int, item) -> str:
    if isinstance(item, dict) and 'id' in item:
        return f'{kind}[{index}] (id {item["id"]!r})'
    return f'{kind}[{index}]'


def xywh_to_xyxy(box: Sequence[float]) -> List[float]:
    """``(x, y, w, h) -> (x, y, x + w, y + h)`` as floats."""
    x, y, w, h = (float(v) for v in box)
    return [x, y, x + w, y + h]


def parse_annotations(content,
                      require_queries: bool = False) -> ParsedAnnotations:
    """Validate the content of an annotation file and index it.

    Errors: a missing or wrongly typed key, a repeated image id or file
    name, a box or query on an unknown image, a box that is not four finite
    numbers, a ``person_id`` below -1, a query without a labelled
    ``person_id``, a gallery list naming an unknown query or image or of
    another length than the others of its name, a person queried twice when
    there are gallery lists, and (``require_queries``) no queries.
    Warnings: empty boxes (left out, as the CUHK-SYSU and PRW loaders do),
    boxes reaching outside their image, images without any box, a query
    whose ``annotation_id`` is not a box of its person in its image.

    Args:
        content: What ``json.load`` returned.
        require_queries (bool): The file must hold queries (a test file read
            for the query split).

    Returns:
        ParsedAnnotations: The indexed content and every problem found.
    """
    parsed = ParsedAnnotations()
    if not isinstance(content, dict):
        parsed.error(
            'file', f'a {type(content).__name__}; expected '
            f'{FORMAT_SUMMARY}.')
        return parsed
    for key in ('images', 'annotations'):
        if not isinstance(content.get(key), list):
            parsed.error(
                key, 'missing or not a list; expected '
                f'{FORMAT_SUMMARY}.')
    if parsed.errors:
        return parsed
    _read_images(content['images'], parsed)
    _read_annotations(content['annotations'], parsed)
    queries = content.get('queries', [])
    if not isinstance(queries, list):
        parsed.error('queries', 'not a list')
        queries = []
    if require_queries and not queries:
        parsed.error(
            'queries', 'no queries; the query split needs a test '
            'file with a "queries" list')
    _read_queries(queries, parsed)
    if len(parsed.queries) == len(queries):  # lists refer to positions
        _read_galleries(content.get('galleries', {}), parsed)
    return parsed


def _read_images(images: list, parsed: ParsedAnnotations) -> None:
    """Check the ``images`` entries; keep the valid ones."""
    positions, names = {}, {}
    for index, image in enumerate(images):
        where = _entry('images', index, image)
        if not isinstance(image, dict):
            parsed.error(where, 'not an object')
            continue
        bad = [
            key for key in ('id', 'height', 'width')
            if not _is_int(image.get(key))
        ]
        if not isinstance(image.get('file_name'), str) or \
                not image.get('file_name'):
            bad.append('file_name')
        bad += [
            key for key in ('cam_id', 'video_id')
            if key in image and not _is_int(image[key])
        ]
        if bad:
            parsed.error(
                where, f'missing or invalid {", ".join(bad)}; expected '
                'integer id, height, width (and cam_id, video_id if given) '
                'and a non-empty file_name')
        elif image['height'] <= 0 or image['width'] <= 0:
            parsed.error(
                where, f'height {image["height"]} x width '
                f'{image["width"]}; expected positive sizes')
        elif image['id'] in positions:
            parsed.error(
                where, f'repeats image id {image["id"]} of images['
                f'{positions[image["id"]]}]')
        elif image['file_name'] in names:
            parsed.error(
                where, f'repeats file_name "{image["file_name"]}" of '
                f'images[{names[image["file_name"]]}]')
        else:
            positions[image['id']] = index
            names[image['file_name']] = index
            parsed.images.append(image)
            parsed.boxes[image['id']] = []
    with_cams = sum('cam_id' in image for image in parsed.images)
    if 0 < with_cams < len(parsed.images):
        parsed.error(
            'images', f'{with_cams} of {len(parsed.images)} images have a '
            'cam_id; give every image one or none')


def _check_box(parsed: ParsedAnnotations, where: str, item: dict,
               image: dict) -> Union[List[float], str, None]:
    """``item['bbox']`` as (x1, y1, x2, y2); ``'empty'`` for width or
    height <= 0; None (an error recorded) if it is not a box."""
    box = item.get('bbox')
    if not _is_box(box):
        parsed.error(
            where, f'bbox {box!r}; expected [x, y, width, height], four '
            'finite numbers')
        return None
    if box[2] <= 0 or box[3] <= 0:
        return 'empty'
    x1, y1, x2, y2 = xywh_to_xyxy(box)
    if x1 < 0 or y1 < 0 or x2 > image['width'] or y2 > image['height']:
        parsed.warn(
            where, f'bbox {list(box)} reaches outside its {image["width"]} '
            f'x {image["height"]} image "{image["file_name"]}"')
    return [x1, y1, x2, y2]


def _read_annotations(annotations: list, parsed: ParsedAnnotations) -> None:
    """Check the boxes; keep the valid, non-empty ones by image."""
    images = {image['id']: image for image in parsed.images}
    seen_ids = set()
    for index, ann in enumerate(annotations):
        where = _entry('annotations', index, ann)
        if not isinstance(ann, dict):
            parsed.error(where, 'not an object')
            continue
        person_id = ann.get('person_id')
        if not _is_int(ann.get('image_id')) or \
                ann['image_id'] not in images:
            parsed.error(
                where, f'image_id {ann.get("image_id")!r} is not the id of '
                'an entry of "images"')
        elif not _is_int(person_id) or person_id < -1:
            parsed.error(
                where, f'person_id {person_id!r}; expected an integer >= 0, '
                'or -1 for an unlabelled person')
        elif ann.get('ignore', 0) not in (0, 1):
            parsed.error(where, f'ignore {ann["ignore"]!r}; expected 0 or 1')
        elif 'id' in ann and ann['id'] in seen_ids:
            parsed.error(where, f'repeats annotation id {ann["id"]!r}')
        else:
            seen_ids.add(ann.get('id'))
            box = _check_box(parsed, where, ann, images[ann['image_id']])
            if box == 'empty':
                parsed.warn(
                    where, f'empty bbox {ann["bbox"]} (width or height <= '
                    '0) is left out')
                parsed.num_dropped += 1
            elif box is not None:
                parsed.boxes[ann['image_id']].append(dict(ann, bbox_xyxy=box))
    empty = [
        image['file_name'] for image in parsed.images
        if not parsed.boxes[image['id']]
    ]
    if empty:
        parsed.warn(
            'images', f'{len(empty)} image(s) without any box, e.g. '
            f'"{empty[0]}"')


def _read_queries(queries: list, parsed: ParsedAnnotations) -> None:
    """Check the queries; keep the valid ones."""
    images = {image['id']: image for image in parsed.images}
    for index, query in enumerate(queries):
        where = f'queries[{index}]'
        if not isinstance(query, dict):
            parsed.error(where, 'not an object')
            continue
        person_id = query.get('person_id')
        if not _is_int(query.get('image_id')) or \
                query['image_id'] not in images:
            parsed.error(
                where, f'image_id {query.get("image_id")!r} is not the id of '
                'an entry of "images"')
            continue
        if not _is_int(person_id) or person_id < 0:
            parsed.error(
                where, f'person_id {person_id!r}; a query needs a labelled '
                'person (integer >= 0)')
            continue
        image = images[query['image_id']]
        box = _check_box(parsed, where, query, image)
        if box == 'empty':
            parsed.error(where, f'empty bbox {query["bbox"]}')
        if not isinstance(box, list):
            continue
        ann_id = query.get('annotation_id')
        if ann_id is not None and not any(
                ann.get('id') == ann_id and ann['person_id'] == person_id
                for ann in parsed.boxes[image['id']]):
            parsed.warn(
                where, f'annotation_id {ann_id!r} is not a box of person '
                f'{person_id} in image "{image["file_name"]}"')
        parsed.queries.append(dict(query, bbox_xyxy=box))


def _read_galleries(galleries, parsed: ParsedAnnotations) -> None:
    """Check the gallery lists (they name queries by position)."""
    if not isinstance(galleries, dict):
        parsed.error('galleries', 'not an object; expected {name: [{query, '
                     'image_ids}]}')
        return
    num_queries = len(parsed.queries)
    image_ids = {image['id'] for image in parsed.images}
    for name, items in galleries.items():
        where = f'galleries["{name}"]'
        if not isinstance(items, list) or not items:
            parsed.error(where, 'not a non-empty list of {query, image_ids}')
            continue
        seen, lengths = set(), set()
        for index, item in enumerate(items):
            at = f'{where}[{index}]'
            if not (isinstance(item, dict) and _is_int(item.get('query'))
                    and 0 <= item['query'] < num_queries
                    and isinstance(item.get('image_ids'), list)):
                parsed.error(
                    at, 'expected {"query": a position in "queries" '
                    f'(0..{num_queries - 1}), "image_ids": [...]}}')
                continue
            if item['query'] in seen:
                parsed.error(at, f'lists query {item["query"]} again')
                continue
            seen.add(item['query'])
            lengths.add(len(item['image_ids']))
            unknown = [i for i in item['image_ids'] if i not in image_ids]
            if unknown:
                parsed.error(
                    at, f'{len(unknown)} image id(s) not in "images", e.g. '
                    f'{unknown[0]!r}')
        if len(lengths) > 1:
            parsed.error(
                where, f'lists of {sorted(lengths)} images; every list of '
                'one name needs the same length')
    parsed.galleries = galleries
    if galleries:
        per_person = Counter(q['person_id'] for q in parsed.queries)
        repeated = [pid for pid, count in per_person.items() if count > 1]
        if repeated:
            parsed.error(
                'queries', f'{len(repeated)} person(s) have more than one '
                f'query (e.g. person {repeated[0]}); with "galleries" each '
                'labelled test person may be queried once. Drop '
                '"galleries" to search every other test image instead.')


def load_annotation_file(path: str) -> dict:
    """Read a JSON annotation file, with errors naming the file."""
    if not osp.isfile(path):
        raise DatasetLayoutError(
            f'Annotation file "{path}" does not exist; expected '
            f'{FORMAT_SUMMARY}.')
    try:
        with open(path, encoding='utf-8') as file:
            return json.load(file)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DatasetLayoutError(
            f'Cannot read "{path}" as JSON ({error}).') from error


def raise_for_errors(parsed: ParsedAnnotations, path: str) -> None:
    """Raise :class:`DatasetLayoutError` listing the first errors."""
    errors = parsed.errors
    if not errors:
        return
    listed = '\n'.join(f'  {p.entry}: {p.message}'
                       for p in errors[:MAX_REPORTED])
    more = f'\n  ... and {len(errors) - MAX_REPORTED} more' \
        if len(errors) > MAX_REPORTED else ''
    raise DatasetLayoutError(
        f'"{path}": {len(errors)} error(s) in the annotation file:\n'
        f'{listed}{more}\nCheck it with python tools/misc/check_dataset.py '
        f'{path}')


@DATASETS.register_module()
class PersonSearchJSONDataset(PersonSearchDataset):
    """Person search from a COCO-style JSON file (see the module docstring).

    Splits: ``train`` reads the images and boxes of a train file; labelled
    ``person_id`` are renumbered 0..K-1 in increasing order (K in
    ``metainfo['num_person_ids']``). ``gallery`` reads the images and boxes
    of a test file. ``query`` gives one sample per entry of the test file's
    ``queries``: its image's data info plus ``query_bbox`` (x1, y1, x2, y2),
    ``query_person_id``, ``query_index`` (its position) and, when the query
    names an ``annotation_id``, ``query_instance_index`` (that box's index in
    ``instances``, -1 for null).

    With ``galleries`` (CUHK-SYSU protocol) the test person ids are
    renumbered so that a queried person gets its query's position and the
    other labelled persons follow (Q, Q + 1, ...); ``metainfo``'s
    ``dataset_name`` is ``'cuhk_sysu'``. Without (PRW protocol) the ids stay
    as in the file and ``dataset_name`` is ``'prw'``; every image gets a
    ``cam_id`` (0 when the file has none: then evaluate with
    ``multiview=False``).

    Data info fields: ``img_path``, ``img_id`` (the ``file_name``),
    ``height``, ``width``, ``instances`` (``bbox`` [x1, y1, x2, y2],
    ``bbox_label`` 0, ``person_id``, ``ignore_flag``), ``cam_id`` and
    ``video_id`` when present. Boxes with width or height <= 0 are left out.

    Args:
        ann_file (str): The JSON file, relative to ``data_root``.
        split (str): ``'train'``, ``'gallery'`` or ``'query'``.
        gallery_name (str | int, optional): Default list of
            :meth:`get_gallery_protocol`; None: ``'100'`` if present, else
            the first.
        data_prefix (dict): ``img``: the image folder that ``file_name`` is
            relative to. Defaults to ``dict(img='images/')``.
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset`.
    """

    METAINFO = dict(
        classes=('person', ),
        palette=[(220, 20, 60)],
        dataset_name='person_search_json')

    def __init__(self,
                 ann_file: str = '',
                 split: str = 'train',
                 gallery_name: Union[str, int, None] = None,
                 data_prefix: dict = dict(img='images/'),
                 **kwargs) -> None:
        if not ann_file:
            raise ValueError('PersonSearchJSONDataset: ann_file is required '
                             '(a JSON file, relative to data_root).')
        self.gallery_name = gallery_name
        # kept from the file for get_gallery_protocol (not the whole file)
        self._galleries: Dict[str, List[dict]] = {}
        self._file_names: Dict[int, str] = {}
        self._id_map: Dict[int, int] = {}
        super().__init__(
            ann_file=ann_file, split=split, data_prefix=data_prefix, **kwargs)

    # ------------------------------------------------------------- loading
    def _person_id_map(self, parsed: ParsedAnnotations) -> Dict[int, int]:
        """Labelled file ids -> dataset ids (see the class docstring)."""
        labelled = sorted({
            ann['person_id']
            for boxes in parsed.boxes.values() for ann in boxes
            if ann['person_id'] >= 0
        })
        if self.split == 'train':
            return {pid: index for index, pid in enumerate(labelled)}
        if not parsed.galleries:
            return {pid: pid for pid in labelled}
        mapping = {q['person_id']: i for i, q in enumerate(parsed.queries)}
        rest = [pid for pid in labelled if pid not in mapping]
        mapping.update(
            {pid: len(parsed.queries) + i
             for i, pid in enumerate(rest)})
        return mapping

    def _image_info(self, image: dict, boxes: List[dict],
                    id_map: Dict[int, int], default_cam: bool) -> dict:
        info = dict(
            img_path=osp.join(self.img_dir, image['file_name']),
            img_id=image['file_name'],
            height=int(image['height']),
            width=int(image['width']),
            instances=[
                dict(
                    bbox=ann['bbox_xyxy'],
                    bbox_label=0,
                    person_id=id_map.get(ann['person_id'], -1),
                    ignore_flag=int(bool(ann.get('ignore', 0))))
                for ann in boxes
            ])
        if 'cam_id' in image:
            info['cam_id'] = int(image['cam_id'])
        elif default_cam:
            info['cam_id'] = 0
        if 'video_id' in image:
            info['video_id'] = int(image['video_id'])
        return info

    def load_data_list(self) -> List[dict]:
        """Read the JSON file into data infos (see the class docstring)."""
        parsed = parse_annotations(
            load_annotation_file(self.ann_file),
            require_queries=self.split == 'query')
        raise_for_errors(parsed, self.ann_file)
        id_map = self._person_id_map(parsed)
        self._id_map = id_map
        self._galleries = parsed.galleries
        self._file_names = {
            image['id']: image['file_name']
            for image in parsed.images
        }
        default_cam = self.split != 'train' and not parsed.galleries
        infos = {
            image['id']: self._image_info(image, parsed.boxes[image['id']],
                                          id_map, default_cam)
            for image in parsed.images
        }
        if self.split == 'train':
            self._metainfo['num_person_ids'] = len(id_map)
        if self.split != 'train':
            self._metainfo['dataset_name'] = 'cuhk_sysu' \
                if parsed.galleries else 'prw'
        if self.split != 'query':
            return list(infos.values())
        data_list = []
        for index, query in enumerate(parsed.queries):
            info = copy.deepcopy(infos[query['image_id']])
            info.update(
                query_bbox=query['bbox_xyxy'],
                query_person_id=id_map.get(query['person_id'],
                                           query['person_id']),
                query_index=index)
            if 'annotation_id' in query:
                ids = [
                    ann.get('id') for ann in parsed.boxes[query['image_id']]
                ]
                ann_id = query['annotation_id']
                info['query_instance_index'] = ids.index(ann_id) \
                    if ann_id is not None and ann_id in ids else -1
            data_list.append(info)
        return data_list

    @property
    @force_full_init
    def person_id_map(self) -> Dict[int, int]:
        """dict[int, int]: ``person_id`` in the file -> in the data infos."""
        return dict(self._id_map)

    # ------------------------------------------------------------ protocol
    @force_full_init
    def gallery_names(self) -> List[str]:
        """The names of the file's gallery lists (empty without any)."""
        return list(self._galleries)

    @force_full_init
    def get_gallery_protocol(
            self,
            name: Union[int, str,
                        None] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Which gallery images each query is searched in.

        Args:
            name (int | str, optional): The name of a list of ``galleries``
                (an int is looked up as its string, e.g. 50 -> ``"50"``).
                Defaults to ``gallery_name``.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``query_indices`` int64 (Q,),
            positions in ``queries``, and ``gallery_img_ids`` object (Q, N)
            of file names.

        Raises:
            NotImplementedError: If the file has no ``galleries`` (then the
                gallery of a query is every other test image).
            KeyError: If there is no list ``name``.
        """
        galleries = self._galleries
        if not galleries:
            raise NotImplementedError(
                f'"{self.ann_file}" has no "galleries": the gallery of a '
                'query is every other test image (or images of other '
                'cameras only); select it from img_id and cam_id.')
        if name is None:
            name = self.gallery_name
        if name is None:
            name = '100' if '100' in galleries else next(iter(galleries))
        key = str(name)
        if key not in galleries:
            raise KeyError(
                f'"{self.ann_file}" has no gallery list "{key}"; it has '
                f'{", ".join(galleries)}. Choose one of them in the '
                'gallery_sizes of PersonSearchMetric.')
        items = galleries[key]
        gallery = np.empty((len(items), len(items[0]['image_ids'])),
                           dtype=object)
        gallery[...] = [[self._file_names[i] for i in item['image_ids']]
                        for item in items]
        return np.array([item['query'] for item in items],
                        dtype=np.int64), gallery


GalleryLists = Dict[Union[str, int], Tuple[np.ndarray, np.ndarray]]


def data_infos_to_json(image_infos: Sequence[dict],
                       query_infos: Sequence[dict] = (),
                       galleries: Optional[GalleryLists] = None,
                       info: Optional[dict] = None) -> dict:
    """Write data infos of any person-search dataset in the JSON format.

    Reading the result with :class:`PersonSearchJSONDataset` gives back the
    same data infos (the person ids of a file with ``galleries`` must already
    be query positions, as :class:`CUHKSYSUDataset` gives them).

    Args:
        image_infos (Sequence[dict]): Data infos of the train or gallery
            split: ``img_id`` (written as ``file_name``), ``height``,
            ``width``, ``instances`` and optional ``cam_id``, ``video_id``.
        query_infos (Sequence[dict]): Data infos of the query split, in
            ``query_index`` order; their ``img_id`` must be an image of
            ``image_infos``.
        galleries (dict, optional): name -> ``(query_indices (Q,),
            gallery_img_ids (Q, N))`` as ``get_gallery_protocol`` returns.
        info (dict, optional): Free description stored under ``info``.

    Returns:
        dict: The JSON content.
    """
    images, annotations, ann_ids = [], [], {}
    image_ids = {}
    for image_id, data_info in enumerate(image_infos):
        image = dict(
            id=image_id,
            file_name=data_info['img_id'],
            height=int(data_info['height']),
            width=int(data_info['width']))
        for key in ('cam_id', 'video_id'):
            if key in data_info:
                image[key] = int(data_info[key])
        images.append(image)
        image_ids[data_info['img_id']] = image_id
        ann_ids[image_id] = []
        for inst in data_info['instances']:
            x1, y1, x2, y2 = (float(v) for v in inst['bbox'])
            ann = dict(
                id=len(annotations),
                image_id=image_id,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                person_id=int(inst['person_id']))
            if inst.get('ignore_flag', 0):
                ann['ignore'] = 1
            annotations.append(ann)
            ann_ids[image_id].append(ann['id'])
    content = dict(
        info=info or {},
        categories=[dict(id=1, name='person')],
        images=images,
        annotations=annotations)
    if query_infos:
        queries = []
        for position, data_info in enumerate(query_infos):
            if data_info.get('query_index', position) != position:
                raise ValueError('data_infos_to_json: query_infos must be in '
                                 'query_index order.')
            if data_info['img_id'] not in image_ids:
                raise ValueError(
                    f'data_infos_to_json: query {position} is on image '
                    f'"{data_info["img_id"]}", which is not in image_infos.')
            image_id = image_ids[data_info['img_id']]
            x1, y1, x2, y2 = (float(v) for v in data_info['query_bbox'])
            query = dict(
                image_id=image_id,
                bbox=[x1, y1, x2 - x1, y2 - y1],
                person_id=int(data_info['query_person_id']))
            if 'query_instance_index' in data_info:
                index = int(data_info['query_instance_index'])
                query['annotation_id'] = \
                    ann_ids[image_id][index] if index >= 0 else None
            queries.append(query)
        content['queries'] = queries
    if galleries:
        content['galleries'] = {
            str(name): [
                dict(query=int(q), image_ids=[image_ids[img] for img in row])
                for q, row in zip(query_indices, gallery_img_ids)
            ]
            for name, (query_indices, gallery_img_ids) in galleries.items()
        }
    return content
