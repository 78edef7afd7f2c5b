"""Printed tables and ranking files of the person-search metric."""
import json
import os.path as osp
from typing import List, Sequence

from mmengine.logging import print_log
from mmengine.utils import mkdir_or_exist
from terminaltables import AsciiTable

from ..functional import SearchGallery, SearchResult


def format_tables(search_rows: List[list], det_row: list,
                  topk: Sequence[int]) -> str:
    """The search table (one row per protocol and gallery) and the detection
    table, in percent.

    Args:
        search_rows (list[list]): ``[protocol, gallery, mAP, top-k...]``
            with fractions in [0, 1].
        det_row (list): ``[det_eval_thresh, AP, recall, AP_labelled,
            recall_labelled]``.
        topk (Sequence[int]): The k of the top-k columns.

    Returns:
        str: Both tables.
    """
    text = ''
    if search_rows:
        header = ['protocol', 'gallery', 'mAP'] + [f'top-{k}' for k in topk]
        rows = [
            row[:2] + [f'{100 * v:.2f}' for v in row[2:]]
            for row in search_rows
        ]
        text += '\n' + AsciiTable([header] + rows).table
    det = [[
        'det_eval_thresh', 'AP', 'recall', 'AP (labelled)', 'recall (labelled)'
    ], det_row[:1] + [f'{100 * v:.2f}' for v in det_row[1:]]]
    return text + '\n' + AsciiTable(det).table


def write_ranking_file(path: str, result: SearchResult, gallery: SearchGallery,
                       queries: List[dict], header: dict) -> None:
    """Write each query's ranked gallery detections to JSON.

    The file holds ``header`` (protocol, gallery, options) and ``queries``:
    per query its ``query_index``, ``img_id``, ``query_bbox``,
    ``query_person_id``, ``ap`` and ``ranked``, a list of ``{img_id, bbox,
    similarity, is_positive}`` by descending similarity.

    Args:
        path (str): Output JSON file.
        result (SearchResult): Results with ranked detections.
        gallery (SearchGallery): The gallery the detections index.
        queries (list[dict]): Query records, in the order of ``result``.
        header (dict): Extra top-level entries.
    """
    det_img = gallery.det_img_indices
    entries = []
    for i, query in enumerate(queries):
        valid = result.ranked_dets[i] >= 0
        ranked = [
            dict(
                img_id=str(gallery.img_ids[det_img[det]]),
                bbox=[float(v) for v in gallery.det_boxes[det]],
                similarity=float(sim),
                is_positive=bool(positive)) for det, sim, positive in zip(
                    result.ranked_dets[i][valid], result.ranked_sims[i][valid],
                    result.ranked_positive[i][valid])
        ]
        entries.append(
            dict(
                query_index=query['query_index'],
                img_id=query['img_id'],
                query_bbox=[float(v) for v in query['query_bbox']],
                query_person_id=query['query_person_id'],
                ap=float(result.ap[i]),
                ranked=ranked))
    if osp.dirname(path):
        mkdir_or_exist(osp.dirname(path))
    with open(path, 'w') as f:
        json.dump(dict(header, queries=entries), f)
    print_log(
        f'PersonSearchMetric: ranked galleries written to {path}',
        logger='current')
