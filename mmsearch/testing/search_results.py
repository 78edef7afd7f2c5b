"""Fake person-search predictions for metric tests (no model needed)."""
import zlib
from typing import List, Sequence

import numpy as np
import torch


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def fake_search_samples(gallery_infos: Sequence[dict],
                        query_infos: Sequence[dict],
                        feat_dim: int = 8,
                        noise: float = 0.8,
                        seed: int = 0) -> List[dict]:
    """Predictions as :class:`PersonSearchMetric` receives them.

    Each image "detects" its ground-truth boxes (shifted by 2 px, score
    0.9) plus one false positive (score 0.6), in its gallery sample and
    in its query samples (for CBGM); a person's feature is
    a fixed direction per ``person_id`` plus noise, so that the search is
    neither perfect nor random. A query's feature is its person's direction
    plus noise. Everything depends only on the data infos and ``seed``
    (noise is seeded by ``img_id``), so equal infos give equal samples.

    Args:
        gallery_infos (Sequence[dict]): Gallery data infos.
        query_infos (Sequence[dict]): Query data infos.
        feat_dim (int): Feature dimension D.
        noise (float): Noise scale relative to the unit directions.
        seed (int): Seed of the directions and the noise.

    Returns:
        list[dict]: One sample per gallery image, then one per query.
    """

    def rng_of(*keys) -> np.random.Generator:
        text = '/'.join(str(k) for k in (seed, ) + keys)
        return np.random.default_rng(zlib.crc32(text.encode()))

    def direction(person_id: int) -> np.ndarray:
        return _unit(rng_of('person', person_id).normal(size=feat_dim))

    def feature(person_id: int, rng: np.random.Generator) -> np.ndarray:
        base = direction(person_id) if person_id >= 0 else np.zeros(feat_dim)
        return _unit(base + noise * rng.normal(size=feat_dim))

    def predictions(info: dict) -> dict:
        """The image's detections (the same for its gallery and query
        samples)."""
        rng = rng_of('image', info['img_id'])
        boxes = [inst['bbox'] for inst in info['instances']]
        person_ids = [inst['person_id'] for inst in info['instances']]
        det_boxes = [[x1 + 2, y1 + 2, x2 + 2, y2 + 2]
                     for x1, y1, x2, y2 in boxes]
        det_boxes.append([0.0, 0.0, 10.0, 20.0])
        feats = [feature(pid, rng) for pid in person_ids + [-1]]
        return dict(
            bboxes=torch.tensor(det_boxes, dtype=torch.float32),
            scores=torch.tensor([0.9] * len(boxes) + [0.6]),
            reid_feats=torch.tensor(np.array(feats), dtype=torch.float32))

    samples = []
    for info in gallery_infos:
        sample = dict(
            img_id=info['img_id'],
            pred_instances=predictions(info),
            gt_instances=dict(
                bboxes=torch.tensor([i['bbox'] for i in info['instances']],
                                    dtype=torch.float32).reshape(-1, 4),
                person_ids=torch.tensor(
                    [i['person_id'] for i in info['instances']],
                    dtype=torch.long)))
        if 'cam_id' in info:
            sample['cam_id'] = info['cam_id']
        samples.append(sample)
    for info in query_infos:
        rng = rng_of('query', info['query_index'])
        sample = dict(
            img_id=info['img_id'],
            query_index=info['query_index'],
            query_person_id=info['query_person_id'],
            query_bbox=torch.tensor(info['query_bbox']),
            pred_instances=predictions(info),
            pred_query_feat=torch.tensor(
                feature(info['query_person_id'], rng), dtype=torch.float32))
        if 'cam_id' in info:
            sample['cam_id'] = info['cam_id']
        samples.append(sample)
    return samples


def evaluate_fake_search(metric, gallery_dataset, query_dataset,
                         **kwargs) -> dict:
    """Run ``metric`` on :func:`fake_search_samples` of two datasets, with
    the ``dataset_meta`` that the search loops give it.

    Args:
        metric (PersonSearchMetric): A fresh metric.
        gallery_dataset: The gallery split.
        query_dataset: The query split (with ``get_gallery_protocol``).
        **kwargs: Arguments of :func:`fake_search_samples`.

    Returns:
        dict: The metrics.
    """
    gallery = [
        gallery_dataset.get_data_info(i) for i in range(len(gallery_dataset))
    ]
    queries = [
        query_dataset.get_data_info(i) for i in range(len(query_dataset))
    ]
    meta = dict(query_dataset.metainfo)
    meta.update(
        gallery_protocol=query_dataset.get_gallery_protocol,
        num_gallery_images=len(gallery),
        num_queries=len(queries))
    metric.dataset_meta = meta
    metric.process({}, fake_search_samples(gallery, queries, **kwargs))
    return metric.evaluate(len(gallery) + len(queries))
