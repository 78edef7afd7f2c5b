"""Write annotations in the original CUHK-SYSU .mat layout.

Struct arrays are numpy record arrays with object fields, cells are object
arrays: ``scipy.io.savemat`` stores them as MATLAB structs and cells with
the nesting of the released files (see docs/en/dataset_prepare.md):

- ``Images.mat``  ``Img``  1 x N struct (imname, nAppear, box); box = 1 x k
  struct (idlocate 1 x 4 double, ishard).
- ``Person.mat``  ``Person`` 1 x P struct (idname, nAppear, scene); scene =
  1 x n struct (imname, idlocate, ishard).
- ``pool.mat``  ``pool`` T x 1 cell of test image names.
- ``Train.mat``  ``Train`` P x 1 cell of 1 x 1 structs (idname, nAppear,
  scene).
- ``TestG{N}.mat`` ``TestG{N}`` 1 x Q struct (Query, Gallery); Query 1 x 1
  struct (imname, idlocate, ishard, idname); Gallery 1 x N struct (imname,
  idlocate, ishard), idlocate 0 x 0 where the person is absent.
- ``subset/Occlusion.mat`` ``Occlusion1`` (Query, Gallery, occlusion) and
  ``subset/Resolution.mat`` ``Test_Size`` (Query, Gallery).
"""
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import numpy as np

from .mat_file import save_mat

Row = Tuple[str, np.ndarray, int]  # (imname, xywh box or empty, ishard)


def struct_array(rows: Sequence[Sequence[object]],
                 fields: Sequence[str],
                 shape: Tuple[int, int] = None) -> np.ndarray:
    """A MATLAB struct array (record array with object fields)."""
    array = np.empty(
        shape or (1, len(rows)), dtype=[(name, object) for name in fields])
    for index, row in enumerate(rows):
        array.flat[index] = tuple(row)
    return array


def cell_array(items: Sequence[object]) -> np.ndarray:
    """A MATLAB column cell array (N x 1)."""
    array = np.empty((len(items), 1), dtype=object)
    for index, item in enumerate(items):
        array[index, 0] = item
    return array


def _box(box: np.ndarray) -> np.ndarray:
    """(x, y, w, h) as a 1 x 4 double row, or 0 x 0 when absent."""
    if box is None:
        return np.zeros((0, 0))
    return np.asarray(box, dtype=np.float64).reshape(1, 4)


def _scenes(rows: List[Row]) -> np.ndarray:
    return struct_array([(name, _box(box), float(hard))
                         for name, box, hard in rows],
                        ('imname', 'idlocate', 'ishard'))


def _protocol(queries: List[Tuple[Row, str]],
              galleries: List[List[Row]],
              extra: Dict[str, List[object]] = None) -> np.ndarray:
    """1 x Q struct of (Query, Gallery[, extra fields])."""
    extra = extra or {}
    rows = []
    for index, ((query, idname),
                gallery) in enumerate(zip(queries, galleries)):
        name, box, hard = query
        query_struct = struct_array([(name, _box(box), float(hard), idname)],
                                    ('imname', 'idlocate', 'ishard', 'idname'))
        rows.append([query_struct, _scenes(gallery)] +
                    [values[index] for values in extra.values()])
    return struct_array(rows, ['Query', 'Gallery'] + list(extra))


def write_cuhk_sysu_annotations(
    root: str, images: List[Tuple[str, np.ndarray]], test_names: List[str],
    train_persons: List[Tuple[str, List[Row]]],
    test_persons: List[Tuple[str, List[Row]]],
    protocols: Dict[object, Tuple[List[Tuple[Row, str]], List[List[Row]]]]
) -> None:
    """Write every CUHK-SYSU annotation file under ``root/annotation``.

    Args:
        root (str): Dataset root.
        images (list): (imname, (k, 4) xywh boxes) of every image.
        test_names (list[str]): pool.mat content.
        train_persons (list): (idname, scene rows) per train person.
        test_persons (list): (idname, scene rows) per test person.
        protocols (dict): ``{N: (queries, galleries)}`` for TestG{N} and
            ``{'occlusion' | 'resolution': ...}`` for the subsets; a query
            is (row, idname), a gallery a list of rows (box None where the
            query person is absent).
    """
    annotation = osp.join(root, 'annotation')
    train_test = osp.join(annotation, 'test', 'train_test')
    subset = osp.join(annotation, 'test', 'subset')
    for folder in (train_test, subset):
        os.makedirs(folder, exist_ok=True)
    img = struct_array([(name, float(len(boxes)),
                         struct_array([(_box(b), 0.0) for b in boxes],
                                      ('idlocate', 'ishard')))
                        for name, boxes in images],
                       ('imname', 'nAppear', 'box'))
    save_mat(osp.join(annotation, 'Images.mat'), dict(Img=img))

    def persons(items):
        return [(idname, float(len(rows)), _scenes(rows))
                for idname, rows in items]

    fields = ('idname', 'nAppear', 'scene')
    save_mat(
        osp.join(annotation, 'Person.mat'),
        dict(
            Person=struct_array(persons(train_persons +
                                        test_persons), fields)))
    save_mat(
        osp.join(annotation, 'pool.mat'), dict(pool=cell_array(test_names)))
    save_mat(
        osp.join(train_test, 'Train.mat'),
        dict(
            Train=cell_array(
                [struct_array([p], fields) for p in persons(train_persons)])))
    for name, (queries, galleries) in protocols.items():
        if name == 'occlusion':
            save_mat(
                osp.join(subset, 'Occlusion.mat'),
                dict(
                    Occlusion1=_protocol(queries, galleries,
                                         dict(occlusion=[1.0] *
                                              len(queries)))))
        elif name == 'resolution':
            save_mat(
                osp.join(subset, 'Resolution.mat'),
                dict(Test_Size=_protocol(queries, galleries)))
        else:
            save_mat(
                osp.join(train_test, f'TestG{name}.mat'),
                {f'TestG{name}': _protocol(queries, galleries)})
