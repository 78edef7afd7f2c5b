"""CUHK-SYSU person search, read from the original .mat files."""
import copy
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

import numpy as np

from mmsearch.registry import DATASETS
from .array_cache import ArrayCache
from .base_person_search import PersonSearchDataset
from .cuhk_protocol import READERS, CUHKProtocol, read_protocol
from .raw_io import (DatasetLayoutError, check_dir, load_mat_key, mat_box,
                     mat_str, records)

BoxKey = Tuple[str, int, int, int, int]

IMAGES_LAYOUT = ('key "Img": 1 x N structs with fields imname, nAppear, box; '
                 'box = structs (idlocate = [x y w h], ishard)')
POOL_LAYOUT = 'key "pool": cell array of test image names'
TRAIN_LAYOUT = ('key "Train": cell array of 1x1 structs (idname, nAppear, '
                'scene); scene = structs (imname, idlocate, ishard)')


def box_key(img_name: str, box_xywh: np.ndarray) -> BoxKey:
    """Key identifying a box: the image and its int32 (x, y, w, h)."""
    x, y, w, h = np.asarray(box_xywh).astype(np.int32).tolist()
    return img_name, x, y, w, h


@DATASETS.register_module()
class CUHKSYSUDataset(PersonSearchDataset):
    """CUHK-SYSU (Xiao et al., CVPR 2017) from its raw annotation files.

    Layout under ``data_root`` (docs/en/dataset_prepare.md):
    ``Image/SSM/*.jpg``,
    ``annotation/{Images,pool}.mat``,
    ``annotation/test/train_test/{Train,TestG50,TestG100,...}.mat`` and
    ``annotation/test/subset/{Occlusion,Resolution}.mat``.

    Splits: ``train`` = every image not in ``pool.mat``, ``person_id`` =
    index of the person in ``Train.mat`` (0..5531); ``gallery`` = the
    ``pool.mat`` images, ``person_id`` = index of the query in TestG50
    (0..2899); ``query`` = one sample per TestG50 query with the query
    image's info plus ``query_bbox``, ``query_person_id`` and
    ``query_index``. A box gets an id only where its int32 (x, y, w, h)
    equals the box listed for that person; other boxes are unlabelled (-1).
    Boxes with w <= 0 or h <= 0 are dropped.

    Args:
        split (str): ``'train'``, ``'gallery'`` or ``'query'``.
        gallery_size (int): Default protocol of :meth:`get_gallery_protocol`
            (TestG{gallery_size}.mat). Defaults to 100.
        data_prefix (dict): ``img``: image folder. Defaults to
            ``dict(img='Image/SSM/')``.
        cache_dir (str, optional): Where what the protocol files
            (``TestG{N}.mat``, subsets) give is cached, so that only the
            first evaluation reads them: ``'auto'`` (default:
            ``$MMSEARCH_CACHE_DIR``, else ``~/.cache/mmsearch``; the data
            folder is never written), a folder, or ``None`` (no cache). An
            entry is used only while its source file keeps its path, size,
            modification time and first / last bytes
            (:mod:`mmsearch.datasets.array_cache`).
        protocol_reader (str): ``'lean'`` (default; reads only what the
            protocol needs, :mod:`mmsearch.datasets.mat5`) or ``'scipy'``
            (``scipy.io.loadmat``); same result.
        **kwargs: Arguments of :class:`mmdet.datasets.BaseDetDataset`.
    """

    METAINFO = dict(
        classes=('person', ),
        palette=[(220, 20, 60)],
        dataset_name='cuhk_sysu')
    GALLERY_SIZES = (50, 100, 500, 1000, 2000, 4000)
    SUBSETS = dict(
        occlusion=('annotation/test/subset/Occlusion.mat', 'Occlusion1'),
        resolution=('annotation/test/subset/Resolution.mat', 'Test_Size'))

    def __init__(self,
                 split: str = 'train',
                 gallery_size: int = 100,
                 data_prefix: dict = dict(img='Image/SSM/'),
                 cache_dir: Optional[str] = 'auto',
                 protocol_reader: str = 'lean',
                 **kwargs) -> None:
        if gallery_size not in self.GALLERY_SIZES:
            raise ValueError(f'CUHKSYSUDataset: gallery_size must be one of '
                             f'{self.GALLERY_SIZES}, got {gallery_size!r}.')
        if protocol_reader not in READERS:
            raise ValueError(f'CUHKSYSUDataset: protocol_reader must be one '
                             f'of {READERS}, got {protocol_reader!r}.')
        self.gallery_size = gallery_size
        self.protocol_reader = protocol_reader
        self.protocol_cache = ArrayCache(cache_dir)
        self._protocols: Dict[Union[int, str], CUHKProtocol] = {}
        metainfo = dict(gallery_size=gallery_size)
        metainfo.update(kwargs.pop('metainfo', None) or {})
        super().__init__(
            split=split, data_prefix=data_prefix, metainfo=metainfo, **kwargs)

    # ----------------------------------------------------------- raw files
    def _ann_path(self, relative: str) -> str:
        return osp.join(self.data_root, relative)

    def _read_scene_boxes(self) -> Dict[str, np.ndarray]:
        """Images.mat as ``{img_name: (N, 4) float64 xywh boxes}``."""
        path = self._ann_path('annotation/Images.mat')
        images = records(
            load_mat_key(path, 'Img', IMAGES_LAYOUT), ('imname', 'box'), path,
            IMAGES_LAYOUT)
        scene_boxes = {}
        for image in images:
            boxes = records(image['box'], ('idlocate', ), path,
                            IMAGES_LAYOUT)['idlocate']
            scene_boxes[mat_str(
                image['imname'])] = np.array([mat_box(box) for box in boxes],
                                             dtype=np.float64).reshape(-1, 4)
        return scene_boxes

    def _read_test_names(self) -> List[str]:
        """pool.mat: the names of the test images."""
        path = self._ann_path('annotation/pool.mat')
        pool = load_mat_key(path, 'pool', POOL_LAYOUT)
        return [mat_str(name) for name in np.asarray(pool).ravel()]

    def _read_train_ids(self) -> Dict[BoxKey, int]:
        """Train.mat as ``{box_key: person index}``."""
        path = self._ann_path('annotation/test/train_test/Train.mat')
        persons = records(
            load_mat_key(path, 'Train', TRAIN_LAYOUT), ('scene', ), path,
            TRAIN_LAYOUT)
        ids = {}
        for person_id, person in enumerate(persons):
            scenes = records(person['scene'], ('imname', 'idlocate'), path,
                             TRAIN_LAYOUT)
            for scene in scenes:
                key = box_key(
                    mat_str(scene['imname']), mat_box(scene['idlocate']))
                ids[key] = person_id
        return ids

    def _read_protocol(self, name: Union[int, str]) -> CUHKProtocol:
        """Read a protocol file (cached in memory and in ``cache_dir``)."""
        if name in self._protocols:
            return self._protocols[name]
        if name in self.SUBSETS:
            relative, key = self.SUBSETS[name]
        elif name in self.GALLERY_SIZES:
            relative = f'annotation/test/train_test/TestG{name}.mat'
            key = f'TestG{name}'
        else:
            raise ValueError(
                f'CUHKSYSUDataset: unknown gallery protocol {name!r}; '
                f'expected one of {self.GALLERY_SIZES} or '
                f'{tuple(self.SUBSETS)}.')
        path = self._ann_path(relative)
        if not osp.isfile(path):  # the reader's error names the layout
            read_protocol(path, key, 'scipy')
        arrays = self.protocol_cache.get(
            f'cuhk_sysu-{key}', [path],
            lambda: read_protocol(path, key, self.protocol_reader).to_arrays(),
            check=CUHKProtocol.from_arrays)
        protocol = CUHKProtocol.from_arrays(arrays)
        self._protocols[name] = protocol
        return protocol

    def _read_test_ids(self) -> Dict[BoxKey, int]:
        """TestG50.mat as ``{box_key: query index}`` (the query boxes and
        the gallery boxes of each query, in file order)."""
        protocol = self._read_protocol(50)
        num_queries, num_gallery = protocol.gallery_index.shape
        rows = protocol.present // max(num_gallery, 1)
        bounds = np.searchsorted(rows, np.arange(num_queries + 1)).tolist()
        present_names = protocol.names[protocol.gallery_index.reshape(-1)[
            protocol.present]].tolist()
        ids = {}
        queries = zip(protocol.query_names.tolist(), protocol.query_boxes)
        for index, (name, box) in enumerate(queries):
            ids[box_key(name, box)] = index
            for k in range(bounds[index], bounds[index + 1]):
                ids[box_key(present_names[k],
                            protocol.present_boxes[k])] = index
        return ids

    # ------------------------------------------------------------- loading
    def load_data_list(self) -> List[dict]:
        """Read the raw files into data infos (see class docstring)."""
        check_dir(self.data_root, 'CUHKSYSUDataset data_root')
        scene_boxes = self._read_scene_boxes()
        test_names = self._read_test_names()
        unknown = [name for name in test_names if name not in scene_boxes]
        if unknown:
            raise DatasetLayoutError(
                f'{len(unknown)} images of pool.mat (e.g. {unknown[0]}) are '
                f'not in annotation/Images.mat under {self.data_root}.')
        if self.split == 'train':
            test_set = set(test_names)
            names = [name for name in scene_boxes if name not in test_set]
            ids = self._read_train_ids()
        else:
            names = test_names
            ids = self._read_test_ids()
        if self.split == 'query':
            names = sorted(set(self._read_protocol(50).query_names.tolist()))
        infos = {}
        for name in names:
            boxes = scene_boxes[name]
            keep = (boxes[:, 2] > 0) & (boxes[:, 3] > 0)
            boxes = boxes[keep]
            person_ids = np.array(
                [ids.get(box_key(name, box), -1) for box in boxes],
                dtype=np.int64)
            infos[name] = self.make_data_info(
                name, boxes, person_ids, clip=False)
        if self.split != 'query':
            return list(infos.values())
        return self._query_infos(infos)

    def _query_infos(self, infos: Dict[str, dict]) -> List[dict]:
        """One data info per TestG50 query, with its query fields."""
        protocol = self._read_protocol(50)
        data_list = []
        for index, (name, box) in enumerate(
                zip(protocol.query_names.tolist(), protocol.query_boxes)):
            data_info = copy.deepcopy(infos[name])
            x, y, w, h = box.tolist()
            data_info.update(
                query_bbox=[x, y, x + w, y + h],
                query_person_id=index,
                query_index=index)
            data_list.append(data_info)
        return data_list

    # ------------------------------------------------------------ protocol
    def get_gallery_protocol(
            self,
            name: Union[int, str,
                        None] = None) -> Tuple[np.ndarray, np.ndarray]:
        """Which gallery images each query is searched in.

        Args:
            name (int | str, optional): A gallery size in
                :attr:`GALLERY_SIZES` (TestG{N}.mat, all queries) or
                ``'occlusion'`` / ``'resolution'`` (subset files, gallery
                of 100). Defaults to ``gallery_size``.

        Returns:
            tuple[np.ndarray, np.ndarray]: ``query_indices`` int64 (Q,),
            positions in the TestG50 query list (= ``query_index`` and
            ``query_person_id``), and ``gallery_img_ids`` object (Q, N) of
            image names.
        """
        name = self.gallery_size if name is None else name
        protocol = self._read_protocol(name)
        return self._query_indices(name, protocol.query_names.tolist(),
                                   protocol.query_boxes), \
            protocol.gallery_names()

    def get_gallery_query_boxes(self,
                                name: Union[int, str,
                                            None] = None) -> np.ndarray:
        """(Q, N, 4) float64 (x1, y1, x2, y2) box of the query person in
        each gallery image of :meth:`get_gallery_protocol`; NaN where the
        person is absent."""
        name = self.gallery_size if name is None else name
        boxes = self._read_protocol(name).gallery_boxes()
        boxes[..., 2:] += boxes[..., :2]
        return boxes

    def _query_indices(self, name: Union[int, str], query_names: List[str],
                       query_boxes: np.ndarray) -> np.ndarray:
        """Positions of a protocol's queries in the TestG50 query list."""
        if name in self.GALLERY_SIZES:
            return np.arange(len(query_names), dtype=np.int64)
        main = self._read_protocol(50)
        position = {
            box_key(n, b): i
            for i, (n, b) in enumerate(
                zip(main.query_names.tolist(), main.query_boxes))
        }
        indices = []
        for query_name, query_box in zip(query_names, query_boxes):
            key = box_key(query_name, query_box)
            if key not in position:
                raise DatasetLayoutError(
                    f'Query {key} of the {name!r} subset is not a query of '
                    f'annotation/test/train_test/TestG50.mat under '
                    f'{self.data_root}.')
            indices.append(position[key])
        return np.array(indices, dtype=np.int64)
