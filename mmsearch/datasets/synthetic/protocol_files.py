"""Write CUHK-SYSU protocol files of any size, quickly.

A real ``TestG4000.mat`` lists 2,900 x 4,000 gallery rows; building them as
Python structs for ``scipy.io.savemat`` takes minutes and gigabytes. Here
each distinct leaf (an image name, the empty box, ``ishard``) is encoded
once with :mod:`mmsearch.datasets.synthetic.mat5_writer` and the rows are
joined from those bytes, in MATLAB's encoding (chars as ``miUINT16``,
integer-valued doubles in small integer types, one compressed variable) or
scipy's.
"""
from typing import Dict, Optional, Sequence

import numpy as np

from .mat5_writer import (Style, char_matrix, numeric_matrix, struct_matrix,
                          write_mat)

QUERY_FIELDS = ('imname', 'idlocate', 'ishard', 'idname')
GALLERY_FIELDS = ('imname', 'idlocate', 'ishard')


def write_protocol_file(path: str,
                        key: str,
                        query_names: Sequence[str],
                        query_boxes: np.ndarray,
                        gallery_names: np.ndarray,
                        gallery_boxes: Dict[tuple, np.ndarray],
                        extra: Optional[Dict[str, Sequence[float]]] = None,
                        style: Style = Style(),
                        compress: bool = True) -> None:
    """Write one protocol file in the raw CUHK-SYSU layout.

    Args:
        path (str): The ``.mat`` file.
        key (str): Its variable (``TestG{N}``, ``Occlusion1``, ...).
        query_names (Sequence[str]): (Q,) query image names.
        query_boxes (np.ndarray): (Q, 4) query boxes (x, y, w, h).
        gallery_names (np.ndarray): (Q, N) gallery image names.
        gallery_boxes (dict): ``{(query, column): (4,) box}`` of the gallery
            rows that show the query person; every other row gets an empty
            ``idlocate``.
        extra (dict, optional): Extra numeric fields per query (e.g.
            ``occlusion`` of ``Occlusion.mat``).
        style (Style): Encoding (default MATLAB's).
        compress (bool): Compress the variable (MATLAB's default).
    """
    extra = extra or {}
    names = {}

    def name_bytes(name):
        if name not in names:
            names[name] = char_matrix(str(name), style)
        return names[name]

    empty = numeric_matrix(np.zeros((0, 0)), style)
    zero = numeric_matrix(0.0, style)
    items = []
    gallery_names = np.asarray(gallery_names, dtype=object)
    for q, (q_name, q_box) in enumerate(zip(query_names, query_boxes)):
        query = struct_matrix(
            QUERY_FIELDS, [
                name_bytes(q_name),
                numeric_matrix(np.asarray(q_box, np.float64), style), zero,
                char_matrix(f'person_{q}', style)
            ], (1, 1),
            small=style.small)
        rows = []
        for column, g_name in enumerate(gallery_names[q].tolist()):
            box = gallery_boxes.get((q, column))
            rows.append(name_bytes(g_name))
            rows.append(
                empty if box is None else numeric_matrix(
                    np.asarray(box, np.float64), style))
            rows.append(zero)
        gallery = struct_matrix(
            GALLERY_FIELDS,
            rows, (1, gallery_names.shape[1]),
            small=style.small)
        items += [query, gallery] + [
            numeric_matrix(float(values[q]), style)
            for values in extra.values()
        ]
    top = struct_matrix(
        ('Query', 'Gallery') + tuple(extra),
        items, (1, len(query_names)),
        name=key,
        small=style.small,
        join=False)
    write_mat(path, {key: top}, style, compress=compress)
