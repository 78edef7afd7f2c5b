"""PersonSearchMetric: the standard person-search protocol in mmengine."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet.structures.bbox import get_box_tensor
from mmengine.dist import broadcast_object_list, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from mmsearch.registry import METRICS
from ..functional import (SearchGallery, box_iou, build_search_gallery,
                          check_finite_detections, evaluate_detection,
                          evaluate_search)
from .result_collection import collect_unique_results
from .search_protocols import (check_gallery_sizes, cuhk_galleries, metric_key,
                               prw_galleries)
from .search_report import format_tables, write_ranking_file

_PROTOCOLS = {'cuhk_sysu': 'cuhk', 'cuhk': 'cuhk', 'prw': 'prw'}
_CBGM_DEFAULTS = {'cuhk': (10, 3), 'prw': (30, 4)}


def _numpy(value, dtype=np.float32, shape=None) -> np.ndarray:
    """Tensor / boxes / array -> numpy of ``dtype`` (and ``shape``)."""
    if value is None:
        return np.zeros(shape or (0, ), dtype=dtype)
    if not isinstance(value, (torch.Tensor, np.ndarray)):
        value = get_box_tensor(value) if hasattr(value, 'tensor') else \
            np.asarray(value)
    if isinstance(value, torch.Tensor):
        value = value.detach().float().cpu().numpy() if \
            value.is_floating_point() else value.detach().cpu().numpy()
    value = np.asarray(value, dtype=dtype)
    return value.reshape(shape) if shape is not None else value


def _result_identity(result: dict) -> Tuple[str, Union[str, int]]:
    """A result's sample: ('gallery', img_id) or ('query', query_index)."""
    if result['kind'] == 'query':
        return 'query', result['query_index']
    return 'gallery', result['img_id']


@METRICS.register_module()
class PersonSearchMetric(BaseMetric):
    """Person-search evaluation (CUHK-SYSU or PRW protocol, detection AP).

    Gallery results need ``pred_instances`` (bboxes, scores, reid_feats),
    ``gt_instances`` (bboxes, person_ids) and ``img_id`` (+ ``cam_id`` for
    PRW); query results ``query_index``, ``query_person_id``,
    ``query_bbox``, ``pred_query_feat`` (+ ``pred_instances`` for CBGM or
    ``query_feat_source='detection'``). ``dataset_meta`` (set by
    :class:`mmsearch.engine.PersonSearchTestLoop`) gives ``dataset_name`` and
    the query dataset's ``gallery_protocol``.

    Result keys (fractions in [0, 1]):

    - CUHK-SYSU, per entry G of ``gallery_sizes``: ``cuhk/mAP@G``,
      ``cuhk/top1@G``, ``cuhk/top5@G``, ``cuhk/top10@G`` (G = 100, full,
      occlusion, ...).
    - PRW: ``prw/mAP``, ``prw/top1``, ... (whole gallery) and, with
      ``multiview``, ``prw/mAP@multiview``, ``prw/top1@multiview``, ...
    - Detection: ``det/AP``, ``det/recall``, ``det/AP_labelled``,
      ``det/recall_labelled``.
    - With ``cbgm``: every search key again under ``cbgm/``, e.g.
      ``cbgm/cuhk/mAP@100``, ``cbgm/prw/mAP``.

    Args:
        protocol (str, optional): 'cuhk_sysu' or 'prw'; None takes
            ``dataset_meta['dataset_name']``.
        gallery_sizes (Sequence[int | str]): CUHK-SYSU galleries: any of 50,
            100, 500, 1000, 2000, 4000, 'full', 'occlusion', 'resolution'.
            Defaults to (100, ).
        multiview (bool): PRW: also the other-cameras gallery.
            Defaults to True.
        det_thresh (float): Gallery detections below it are dropped for
            search. Defaults to 0.5.
        det_eval_thresh (float): Score threshold of the detection report.
            Defaults to 0.01.
        query_feat_source (str): 'gt_box' (``pred_query_feat``, the default)
            or 'detection' (the query image's detection with the highest IoU
            to the query box; falls back to the box feature without any
            overlapping detection).
        cbgm (bool): Also report context bipartite graph matching re-ranking.
            Defaults to False.
        cbgm_topk_images (int, optional): k1 gallery images re-scored
            (None: 10 CUHK-SYSU, 30 PRW).
        cbgm_topk_context (int, optional): k2 query-image people, query
            included (None: 3 CUHK-SYSU, 4 PRW).
        topk (Sequence[int]): Ranks of the top-k rates. Defaults to
            (1, 5, 10).
        ranking_file (str, optional): Write each query's ranked gallery
            detections (first CUHK-SYSU gallery size, or the whole PRW
            gallery) to this JSON file.
        outfile_prefix (str, optional): Same as ``ranking_file =
            outfile_prefix + '.ranking.json'``.
        ranking_topk (int): Detections per query in the ranking file.
            Defaults to 10.
        batch_size (int): Queries per similarity matrix. Defaults to 256.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Prefix of the result keys. Defaults to None.
    """
    default_prefix: Optional[str] = ''  # keys already carry cuhk/, prw/, det/

    def __init__(self,
                 protocol: Optional[str] = None,
                 gallery_sizes: Sequence[Union[int, str]] = (100, ),
                 multiview: bool = True,
                 det_thresh: float = 0.5,
                 det_eval_thresh: float = 0.01,
                 query_feat_source: str = 'gt_box',
                 cbgm: bool = False,
                 cbgm_topk_images: Optional[int] = None,
                 cbgm_topk_context: Optional[int] = None,
                 topk: Sequence[int] = (1, 5, 10),
                 ranking_file: Optional[str] = None,
                 outfile_prefix: Optional[str] = None,
                 ranking_topk: int = 10,
                 batch_size: int = 256,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if protocol is not None and protocol not in _PROTOCOLS:
            raise ValueError(f'PersonSearchMetric: protocol {protocol!r} is '
                             f'not one of {sorted(_PROTOCOLS)}.')
        if query_feat_source not in ('gt_box', 'detection'):
            raise ValueError('PersonSearchMetric: query_feat_source must be '
                             f"'gt_box' or 'detection', got "
                             f'{query_feat_source!r}.')
        check_gallery_sizes(gallery_sizes)
        if not gallery_sizes:
            raise ValueError('PersonSearchMetric: gallery_sizes is empty.')
        self.protocol = protocol
        self.gallery_sizes = tuple(gallery_sizes)
        self.multiview = multiview
        self.det_thresh = det_thresh
        self.det_eval_thresh = det_eval_thresh
        self.query_feat_source = query_feat_source
        self.cbgm = cbgm
        self.cbgm_topk_images = cbgm_topk_images
        self.cbgm_topk_context = cbgm_topk_context
        self.topk = tuple(topk)
        if ranking_file is None and outfile_prefix is not None:
            ranking_file = f'{outfile_prefix}.ranking.json'
        self.ranking_file = ranking_file
        self.ranking_topk = ranking_topk
        self.batch_size = batch_size

    # ---------------------------------------------------------------- process
    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep a compact numpy record of each gallery or query sample."""
        for sample in data_samples:
            pred = sample.get('pred_instances')
            record = {
                'img_id': sample['img_id'],
                'cam_id': sample.get('cam_id')
            }
            if pred is not None:
                record['det_bboxes'] = _numpy(pred['bboxes'], shape=(-1, 4))
                record['det_scores'] = _numpy(pred['scores'])
                feats = pred.get('reid_feats')
                if feats is None:
                    raise KeyError(f'PersonSearchMetric: image '
                                   f'{sample["img_id"]} has pred_instances '
                                   'without reid_feats.')
                feats = _numpy(feats)
                if feats.ndim != 2:  # (0,) from an image without detections
                    feats = feats.reshape(len(record['det_scores']), -1)
                if len(feats) != len(record['det_scores']):
                    raise ValueError(
                        f'PersonSearchMetric: image {sample["img_id"]} has '
                        f'{len(feats)} reid_feats for '
                        f'{len(record["det_scores"])} detections.')
                record['det_feats'] = feats
                check_finite_detections(
                    sample['img_id'], record['det_bboxes'],
                    record['det_scores'], feats,
                    'PersonSearchMetric: ' + ('query image' if 'query_index'
                                              in sample else 'gallery image'))
            if 'query_index' in sample:
                if 'pred_query_feat' not in sample:
                    raise KeyError(f'PersonSearchMetric: query '
                                   f'{sample["query_index"]} has no '
                                   'pred_query_feat.')
                record.update(
                    kind='query',
                    query_index=int(sample['query_index']),
                    query_person_id=int(sample['query_person_id']),
                    query_bbox=_numpy(sample['query_bbox'], np.float64, (4, )),
                    query_feat=_numpy(sample['pred_query_feat']).reshape(-1))
                if not np.isfinite(record['query_feat']).all():
                    raise ValueError(
                        f'PersonSearchMetric: query {record["query_index"]} '
                        f'(image {sample["img_id"]!r}) has a query feature '
                        'with NaN or infinite values; the model output is '
                        'broken (a checkpoint that does not fit the config, '
                        'or a diverged training).')
            else:
                if pred is None:
                    raise KeyError(f'PersonSearchMetric: gallery image '
                                   f'{sample["img_id"]} has no '
                                   'pred_instances.')
                gt = sample.get('gt_instances', {})
                record.update(
                    kind='gallery',
                    gt_bboxes=_numpy(gt.get('bboxes'), np.float64, (-1, 4)),
                    gt_person_ids=_numpy(gt.get('person_ids'), np.int64))
            self.results.append(record)

    def evaluate(self, size: int) -> dict:
        """Gather every rank's results once each, then compute the metrics.

        Args:
            size (int): Number of distinct samples (gallery + query) over all
                ranks.

        Returns:
            dict: The metrics (the same on every rank).
        """
        meta = self.dataset_meta or {}
        expected = {
            kind: meta[key]
            for kind, key in (('gallery', 'num_gallery_images'),
                              ('query', 'num_queries')) if key in meta
        }
        results = collect_unique_results(self.results, _result_identity,
                                         expected)
        if len(results) != size:
            raise ValueError(f'PersonSearchMetric: {len(results)} distinct '
                             f'samples were evaluated, expected {size}.')
        metrics = [None]
        if is_main_process():
            metrics = [self.compute_metrics(results)]
            if self.prefix:
                metrics = [{
                    f'{self.prefix}/{k}': v
                    for k, v in metrics[0].items()
                }]
        broadcast_object_list(metrics)
        self.results.clear()
        return metrics[0]

    # ---------------------------------------------------------------- compute
    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Detection and search metrics from one record per sample."""
        gallery_results = [r for r in results if r['kind'] == 'gallery']
        query_results = sorted((r for r in results if r['kind'] == 'query'),
                               key=lambda r: r['query_index'])
        if not gallery_results:
            raise ValueError('PersonSearchMetric: no gallery results.')
        protocol = self._protocol()
        metrics = {
            f'det/{k}': v
            for k, v in evaluate_detection(
                [r['gt_bboxes'] for r in gallery_results],
                [r['gt_person_ids'] >= 0 for r in gallery_results],
                [r['det_bboxes'] for r in gallery_results],
                [r['det_scores'] for r in gallery_results],
                det_thresh=self.det_eval_thresh).items()
        }
        rows = []
        if query_results:
            gallery = build_search_gallery(
                [r['img_id'] for r in gallery_results],
                [r['det_bboxes'] for r in gallery_results],
                [r['det_scores'] for r in gallery_results],
                [r['det_feats'] for r in gallery_results],
                [r['gt_bboxes'] for r in gallery_results],
                [r['gt_person_ids'] for r in gallery_results],
                cam_ids=self._cam_ids(gallery_results, protocol),
                det_thresh=self.det_thresh)
            rows = self._search(protocol, gallery, query_results, metrics)
        det_row = [str(self.det_eval_thresh)] + [
            metrics[f'det/{k}']
            for k in ('AP', 'recall', 'AP_labelled', 'recall_labelled')
        ]
        print_log(
            format_tables(rows, det_row, self.topk) +
            f'\nPersonSearchMetric options ({protocol}): ' +
            ', '.join(f'{k}={v}' for k, v in self._options(protocol).items()),
            logger='current')
        return metrics

    def _protocol(self) -> str:
        name = self.protocol or (self.dataset_meta or {}).get('dataset_name')
        if name not in _PROTOCOLS:
            raise ValueError(
                f'PersonSearchMetric: unknown protocol {name!r}; set '
                "protocol='cuhk_sysu' or 'prw', or give the dataset a "
                "'dataset_name' in its metainfo.")
        return _PROTOCOLS[name]

    @staticmethod
    def _cam_ids(gallery_results: List[dict],
                 protocol: str) -> Optional[np.ndarray]:
        cams = [r['cam_id'] for r in gallery_results]
        if any(c is None for c in cams):
            if protocol == 'prw':
                raise KeyError('PersonSearchMetric: PRW gallery results need '
                               'cam_id in their metainfo.')
            return None
        return np.asarray(cams, dtype=np.int64)

    def _search(self, protocol: str, gallery: SearchGallery,
                queries: List[dict], metrics: Dict[str, float]) -> list:
        """Run the search protocol; fill ``metrics``; return table rows."""
        query_feats = self._query_feats(
            queries, gallery.feat_dim if len(gallery.det_feats) else 0)
        img_index = {img: i for i, img in enumerate(gallery.img_ids.tolist())}
        q_img = np.array([img_index.get(r['img_id'], -1) for r in queries],
                         dtype=np.int64)
        if protocol == 'prw' and (q_img < 0).any():
            missing = [(r['query_index'], r['img_id'])
                       for r, i in zip(queries, q_img) if i < 0]
            raise ValueError(
                f'PersonSearchMetric: {len(missing)} PRW queries have a '
                'frame that is not among the gallery results, e.g. (query_'
                f'index, img_id) {missing[:3]}; the PRW gallery of a query is '
                'every test frame but its own, so the query frame must be '
                'evaluated as a gallery image too (test the whole gallery '
                'split, with the same img_id as the query split).')
        q_pids = np.array([r['query_person_id'] for r in queries], np.int64)
        q_cams = None if queries[0].get('cam_id') is None else np.array(
            [r['cam_id'] for r in queries], np.int64)
        if protocol == 'cuhk':
            protocol_fn = (self.dataset_meta or {}).get('gallery_protocol')
            if protocol_fn is None:
                raise KeyError('PersonSearchMetric: CUHK-SYSU needs '
                               "dataset_meta['gallery_protocol'] (the query "
                               "dataset's get_gallery_protocol); test with "
                               'PersonSearchTestLoop.')
            wrong = [
                r['query_index'] for r in queries
                if r['query_person_id'] != r['query_index']
            ]
            if wrong:
                raise ValueError(
                    f'PersonSearchMetric: {len(wrong)} CUHK-SYSU queries '
                    f'(query_index {wrong[:5]}) have a query_person_id other '
                    'than their query_index; the protocol ids are the '
                    'positions in the TestG50 query list.')
            positions = {r['query_index']: i for i, r in enumerate(queries)}
            groups = cuhk_galleries(self.gallery_sizes, protocol_fn, gallery,
                                    positions)
        else:
            groups = [(np.arange(len(queries)), prw_galleries(self.multiview))]
        ranked_name = str(self.gallery_sizes[0]) if protocol == 'cuhk' \
            else 'all'
        contexts = self._contexts(queries, query_feats, protocol) \
            if self.cbgm else None
        k1 = self.cbgm_topk_images or _CBGM_DEFAULTS[protocol][0]
        rows = []
        for tag, context in (('', None), ('cbgm/', contexts)):
            if tag and not self.cbgm:
                continue
            for q_rows, galleries in groups:
                ranking = (ranked_name, self.ranking_topk) if (
                    self.ranking_file and ranked_name in galleries) else None
                results = evaluate_search(
                    query_feats[q_rows], q_pids[q_rows], q_img[q_rows],
                    gallery, galleries,
                    None if q_cams is None else q_cams[q_rows], self.topk,
                    None if context is None else [context[i] for i in q_rows],
                    k1, ranking, self.batch_size)
                for name, result in results.items():
                    summary = result.summary(self.topk)
                    for measure, value in summary.items():
                        metrics[tag +
                                metric_key(protocol, name, measure)] = value
                    rows.append([f'{tag}{protocol}', name] +
                                list(summary.values()))
                if ranking is not None and is_main_process():
                    path = self.ranking_file
                    if tag:
                        root, ext = osp.splitext(path)
                        path = f'{root}.cbgm{ext}'
                    write_ranking_file(
                        path, results[ranked_name], gallery,
                        [queries[i] for i in q_rows],
                        dict(
                            protocol=protocol,
                            gallery=ranked_name,
                            options=self._options(protocol)))
        return rows

    def _query_feats(self, queries: List[dict], feat_dim: int) -> np.ndarray:
        """(Q, D) query features from the chosen source."""
        feats = []
        fallbacks = 0
        for r in queries:
            feat = r['query_feat']
            if self.query_feat_source == 'detection':
                if 'det_bboxes' not in r:
                    raise KeyError("PersonSearchMetric: query_feat_source="
                                   "'detection' needs pred_instances in the "
                                   f'query results (query {r["query_index"]}'
                                   ').')
                ious = box_iou(r['query_bbox'], r['det_bboxes'])[0]
                if ious.size and ious.max() > 0:
                    feat = r['det_feats'][int(ious.argmax())]
                else:
                    fallbacks += 1
            if feat_dim and feat.shape != (feat_dim, ):
                raise ValueError(
                    f'PersonSearchMetric: query {r["query_index"]} has a '
                    f'feature of shape {feat.shape}; the gallery features '
                    f'have dimension {feat_dim}.')
            feats.append(feat)
        if fallbacks:
            print_log(
                f'PersonSearchMetric: {fallbacks} queries have no '
                'detection overlapping the query box; they use the '
                'query-box feature.',
                logger='current')
        return np.stack(feats).astype(np.float32)

    def _contexts(self, queries: List[dict], query_feats: np.ndarray,
                  protocol: str) -> List[np.ndarray]:
        """CBGM context per query: its feature, then the query image's
        best-scored other people (score >= det_thresh, IoU < 0.5 with the
        query box)."""
        k2 = self.cbgm_topk_context or _CBGM_DEFAULTS[protocol][1]
        contexts = []
        for r, feat in zip(queries, query_feats):
            if 'det_bboxes' not in r:
                raise KeyError('PersonSearchMetric: cbgm needs pred_instances'
                               f' in the query results (query '
                               f'{r["query_index"]}).')
            ious = box_iou(r['query_bbox'], r['det_bboxes'])[0]
            keep = np.flatnonzero((r['det_scores'] >= self.det_thresh)
                                  & (ious < 0.5))
            keep = keep[np.argsort(-r['det_scores'][keep],
                                   kind='stable')][:k2 - 1]
            contexts.append(np.concatenate([feat[None], r['det_feats'][keep]]))
        return contexts

    def _options(self, protocol: str) -> dict:
        """The options that produced the numbers (CBGM k1, k2 resolved)."""
        k1, k2 = _CBGM_DEFAULTS[protocol]
        return dict(
            det_thresh=self.det_thresh,
            det_eval_thresh=self.det_eval_thresh,
            query_feat_source=self.query_feat_source,
            cbgm=self.cbgm,
            cbgm_topk_images=self.cbgm_topk_images or k1,
            cbgm_topk_context=self.cbgm_topk_context or k2)
