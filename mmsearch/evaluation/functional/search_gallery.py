"""Flattened gallery of detections and galleries of the search protocols."""
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from mmsearch.structures import check_finite_detections


@dataclass
class SearchGallery:
    """All gallery images' kept detections and ground truth, flattened.

    Image ``g`` owns detections ``det_offsets[g]:det_offsets[g + 1]`` and
    ground-truth people ``gt_offsets[g]:gt_offsets[g + 1]``.

    Attributes:
        img_ids (np.ndarray): Image ids, object array of str, shape (G,).
        det_offsets (np.ndarray): int64 (G + 1,).
        det_boxes (np.ndarray): float64 (M, 4), (x1, y1, x2, y2).
        det_scores (np.ndarray): float64 (M,).
        det_feats (np.ndarray): float32 (M, D), L2-normalised.
        gt_offsets (np.ndarray): int64 (G + 1,).
        gt_boxes (np.ndarray): float64 (T, 4).
        gt_person_ids (np.ndarray): int64 (T,), -1 for unlabelled people.
        cam_ids (np.ndarray, optional): int64 (G,) camera of each image.
    """
    img_ids: np.ndarray
    det_offsets: np.ndarray
    det_boxes: np.ndarray
    det_scores: np.ndarray
    det_feats: np.ndarray
    gt_offsets: np.ndarray
    gt_boxes: np.ndarray
    gt_person_ids: np.ndarray
    cam_ids: Optional[np.ndarray] = None

    @property
    def num_images(self) -> int:
        """int: Number of gallery images G."""
        return len(self.img_ids)

    @property
    def feat_dim(self) -> int:
        """int: Re-ID feature dimension D."""
        return self.det_feats.shape[1]

    @property
    def det_img_indices(self) -> np.ndarray:
        """np.ndarray: int64 (M,), the image index of each detection."""
        return np.repeat(np.arange(self.num_images), np.diff(self.det_offsets))

    def index_of(self, img_ids: np.ndarray, what: str) -> np.ndarray:
        """Map image ids to gallery indices.

        Args:
            img_ids (np.ndarray): Image ids of any shape.
            what (str): Where the ids come from, for the error message.

        Returns:
            np.ndarray: int64 indices of the same shape.

        Raises:
            KeyError: If an id is not a gallery image.
        """
        img_ids = np.asarray(img_ids, dtype=object)
        index = {img_id: i for i, img_id in enumerate(self.img_ids.tolist())}
        flat = img_ids.reshape(-1)
        try:
            indices = np.fromiter(
                map(index.__getitem__, flat), dtype=np.int64, count=len(flat))
        except KeyError:
            missing = sorted({i for i in flat.tolist() if i not in index})
            raise KeyError(
                f'{len(missing)} image(s) of {what} are not in the gallery '
                f'results, e.g. {missing[:5]}; evaluate every gallery image '
                'the protocol lists.') from None
        return indices.reshape(img_ids.shape)


def build_search_gallery(img_ids: Sequence[str],
                         det_boxes: Sequence[np.ndarray],
                         det_scores: Sequence[np.ndarray],
                         det_feats: Sequence[np.ndarray],
                         gt_boxes: Sequence[np.ndarray],
                         gt_person_ids: Sequence[np.ndarray],
                         cam_ids: Optional[Sequence[int]] = None,
                         det_thresh: float = 0.5) -> SearchGallery:
    """Flatten per-image gallery results, keeping scores >= ``det_thresh``.

    Args:
        img_ids (Sequence[str]): G distinct image ids.
        det_boxes (Sequence[np.ndarray]): Per image (D_i, 4).
        det_scores (Sequence[np.ndarray]): Per image (D_i,).
        det_feats (Sequence[np.ndarray]): Per image (D_i, D).
        gt_boxes (Sequence[np.ndarray]): Per image (G_i, 4).
        gt_person_ids (Sequence[np.ndarray]): Per image (G_i,).
        cam_ids (Sequence[int], optional): Per image camera id.
        det_thresh (float): Minimum detection score. Defaults to 0.5.

    Returns:
        SearchGallery: The flattened gallery.

    Raises:
        ValueError: If the per-image arguments differ in length, an image
            id repeats, feature dimensions differ, or a detection's box,
            score or feature holds NaN or inf.
    """
    num_images = len(img_ids)
    lengths = {
        len(x)
        for x in (det_boxes, det_scores, det_feats, gt_boxes, gt_person_ids)
    }
    if lengths != {num_images}:
        raise ValueError('build_search_gallery: every per-image argument '
                         f'needs {num_images} entries.')
    img_ids = np.asarray(list(img_ids), dtype=object)
    if len(set(img_ids.tolist())) != num_images:
        raise ValueError('build_search_gallery: gallery img_ids repeat.')
    feat_dims = {
        np.shape(f)[-1]
        for f in det_feats if len(f) or np.ndim(f) == 2
    }
    if len(feat_dims) > 1:
        raise ValueError('build_search_gallery: gallery features have '
                         f'different dimensions {sorted(feat_dims)}.')
    feat_dim = feat_dims.pop() if feat_dims else 0
    for img_id, boxes, scores, feats in zip(img_ids, det_boxes, det_scores,
                                            det_feats):
        check_finite_detections(img_id, boxes, scores, feats)
    keeps = [np.asarray(s).reshape(-1) >= det_thresh for s in det_scores]
    det_counts = np.array([k.sum() for k in keeps], dtype=np.int64)
    gt_counts = np.array([len(b) for b in gt_boxes], dtype=np.int64)

    def cat(arrays, shape, dtype):
        if not arrays:
            return np.zeros((0, ) + shape, dtype=dtype)
        return np.concatenate([
            np.asarray(a, dtype=dtype).reshape((-1, ) + shape) for a in arrays
        ])

    return SearchGallery(
        img_ids=img_ids,
        det_offsets=np.r_[0, np.cumsum(det_counts)].astype(np.int64),
        det_boxes=cat([
            np.asarray(b).reshape(-1, 4)[k] for b, k in zip(det_boxes, keeps)
        ], (4, ), np.float64),
        det_scores=cat(
            [np.asarray(s).reshape(-1)[k] for s, k in zip(det_scores, keeps)],
            (), np.float64),
        det_feats=cat([
            np.asarray(f).reshape(len(k), feat_dim)[k]
            for f, k in zip(det_feats, keeps)
        ], (feat_dim, ), np.float32),
        gt_offsets=np.r_[0, np.cumsum(gt_counts)].astype(np.int64),
        gt_boxes=cat(list(gt_boxes), (4, ), np.float64),
        gt_person_ids=cat(list(gt_person_ids), (), np.int64),
        cam_ids=None if cam_ids is None else np.asarray(
            cam_ids, dtype=np.int64))


@dataclass
class ListedGallery:
    """A gallery given per query by a protocol list (CUHK-SYSU TestG{N}).

    Ground truth counts only in listed images. With ``add_rest`` every other
    gallery image but the query image joins as a negative ("full" set).

    Attributes:
        img_indices (np.ndarray): int64 (Q, N) gallery image indices.
        add_rest (bool): Whether the remaining images join as negatives.
    """
    img_indices: np.ndarray
    add_rest: bool = False


@dataclass
class CameraGallery:
    """Every gallery image but the query image (PRW).

    Attributes:
        other_cameras_only (bool): Keep only images from cameras other than
            the query's (the "multi-view" gallery).
    """
    other_cameras_only: bool = False
