"""Galleries of the CUHK-SYSU and PRW search protocols for the metric."""
from typing import Callable, Dict, List, Sequence, Tuple, Union

import numpy as np

from ..functional import CameraGallery, ListedGallery, SearchGallery

GallerySize = Union[int, str]
CUHK_SUBSETS = ('occlusion', 'resolution')


def check_gallery_sizes(gallery_sizes: Sequence[GallerySize]) -> None:
    """Raise a clear error for an unknown CUHK-SYSU gallery name."""
    allowed = (50, 100, 500, 1000, 2000, 4000, 'full') + CUHK_SUBSETS
    for size in gallery_sizes:
        if size not in allowed:
            raise ValueError(f'PersonSearchMetric: gallery_sizes entry '
                             f'{size!r} is not one of {allowed}.')


def cuhk_galleries(
    gallery_sizes: Sequence[GallerySize], gallery_protocol: Callable,
    gallery: SearchGallery, query_positions: Dict[int, int]
) -> List[Tuple[np.ndarray, Dict[str, ListedGallery]]]:
    """CUHK-SYSU galleries, grouped by the queries they evaluate.

    Args:
        gallery_sizes (Sequence[int | str]): 50 ... 4000, 'full' (the
            TestG50 lists plus every other gallery image as a negative),
            'occlusion', 'resolution'.
        gallery_protocol (Callable): ``name -> (query_indices (Q,),
            gallery_img_ids (Q, N))`` of the query dataset. If
            ``gallery_img_ids`` has a ``name_table`` attribute = (distinct
            ids (K,), int index (Q, N)), only the K ids are looked up.
        gallery (SearchGallery): The gallery results.
        query_positions (dict[int, int]): query_index -> row of the query
            arrays.

    Returns:
        list[tuple[np.ndarray, dict[str, ListedGallery]]]: For each distinct
        query list, the rows of its queries and its galleries by name.
    """
    groups: Dict[bytes, Tuple[np.ndarray, Dict[str, ListedGallery]]] = {}
    for size in gallery_sizes:
        name = 50 if size == 'full' else size
        query_indices, gallery_img_ids = gallery_protocol(name)
        table = getattr(gallery_img_ids, 'name_table', None)
        query_indices = np.asarray(query_indices, dtype=np.int64)
        gallery_img_ids = np.asarray(gallery_img_ids, dtype=object)
        if gallery_img_ids.ndim != 2 or len(gallery_img_ids) != len(
                query_indices):
            raise ValueError(
                f'CUHK-SYSU protocol {name}: gallery_img_ids of shape '
                f'{gallery_img_ids.shape} do not give one row per query '
                f'({len(query_indices)}).')
        missing = [int(i) for i in query_indices if i not in query_positions]
        if missing:
            raise ValueError(
                f'CUHK-SYSU protocol {name}: {len(missing)} of its '
                f'{len(query_indices)} queries are missing from the query '
                f'results (query_index {missing[:5]}...); run the whole '
                'query set.')
        rows = np.array([query_positions[int(i)] for i in query_indices],
                        dtype=np.int64)
        if table is not None and np.shape(table[1]) == gallery_img_ids.shape:
            img_indices = gallery.index_of(
                table[0], f'CUHK-SYSU protocol {name}')[table[1]]
        else:
            img_indices = gallery.index_of(gallery_img_ids,
                                           f'CUHK-SYSU protocol {name}')
        group = groups.setdefault(rows.tobytes(), (rows, {}))
        group[1][str(size)] = ListedGallery(img_indices, size == 'full')
    return list(groups.values())


def prw_galleries(multiview: bool) -> Dict[str, CameraGallery]:
    """PRW galleries: every test frame but the query's ('all') and, with
    ``multiview``, frames of the other cameras only ('multiview')."""
    galleries = {'all': CameraGallery(other_cameras_only=False)}
    if multiview:
        galleries['multiview'] = CameraGallery(other_cameras_only=True)
    return galleries


def metric_key(protocol: str, gallery: str, measure: str) -> str:
    """Result key, e.g. ``cuhk/mAP@100``, ``prw/top1``,
    ``prw/mAP@multiview``."""
    if protocol == 'prw':
        return f'prw/{measure}' if gallery == 'all' else \
            f'prw/{measure}@{gallery}'
    return f'cuhk/{measure}@{gallery}'
