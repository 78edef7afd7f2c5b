"""Write annotations in the original PRW layout.

- ``annotations/<frame>.jpg.mat``: ``box_new`` N x 5 double
  ``[id, x, y, w, h]``, id -2 for an unlabelled person.
- ``frame_train.mat`` / ``frame_test.mat``: ``img_index_train`` /
  ``img_index_test``, N x 1 cells of frame names without ``.jpg``.
- ``query_info.txt``: ``pid x y w h frame_name`` lines with CRLF ends.
"""
import os
import os.path as osp
from typing import List, Tuple

import numpy as np

from .cuhk_sysu_writer import cell_array
from .mat_file import save_mat

UNLABELLED_RAW_ID = -2


def write_prw_annotations(root: str, frames: List[Tuple[str, np.ndarray,
                                                        np.ndarray]],
                          train_frames: List[str], test_frames: List[str],
                          queries: List[Tuple[int, np.ndarray, str]]) -> None:
    """Write every PRW annotation file under ``root``.

    Args:
        root (str): Dataset root.
        frames (list): (frame name with .jpg, (k,) raw ids with -2 for
            unlabelled, (k, 4) xywh boxes) of every frame.
        train_frames (list[str]): Train frame names (with .jpg).
        test_frames (list[str]): Test frame names (with .jpg).
        queries (list): (raw id, xywh box, frame name with .jpg) per query.
    """
    annotations = osp.join(root, 'annotations')
    os.makedirs(annotations, exist_ok=True)
    for name, raw_ids, boxes in frames:
        table = np.concatenate([
            np.asarray(raw_ids, np.float64).reshape(-1, 1),
            np.asarray(boxes, np.float64).reshape(-1, 4)
        ],
                               axis=1)
        save_mat(osp.join(annotations, name + '.mat'), dict(box_new=table))
    for file_name, key, names in (('frame_train.mat', 'img_index_train',
                                   train_frames),
                                  ('frame_test.mat', 'img_index_test',
                                   test_frames)):
        save_mat(
            osp.join(root, file_name),
            {key: cell_array([osp.splitext(n)[0] for n in names])})
    with open(osp.join(root, 'query_info.txt'), 'w', newline='') as file:
        for raw_id, box, frame in queries:
            x, y, w, h = (float(v) for v in box)
            file.write(f'{raw_id} {x:g} {y:g} {w:g} {h:g} '
                       f'{osp.splitext(frame)[0]}\r\n')
