"""Context bipartite graph matching (CBGM) of SeqNet, as a pure function."""
from typing import Tuple

import numpy as np
from scipy.optimize import linear_sum_assignment


def context_matching(context_feats: np.ndarray,
                     gallery_feats: np.ndarray) -> Tuple[int, float]:
    """Match the query's context to one gallery image's detections.

    The query image's people (row 0 = the query person, then its top
    co-occurring detections) and the gallery image's detections form a
    bipartite graph weighted by cosine similarity ``S = C G^T``. The
    maximum-weight matching (Kuhn-Munkres) pairs them; the detection matched
    to the query person gets the largest matched similarity
    ``max_{(i, j) matched} S_ij`` as its new similarity.

    Args:
        context_feats (np.ndarray): (K, D) features, row 0 the query's.
        gallery_feats (np.ndarray): (N, D) features of the image's
            detections.

    Returns:
        tuple[int, float]: Index (into ``gallery_feats``) of the detection
        matched to the query person and its new similarity; ``(-1, nan)``
        when the query person stays unmatched or the image has no detection.
    """
    if len(gallery_feats) == 0 or len(context_feats) == 0:
        return -1, float('nan')
    weights = (np.asarray(context_feats, np.float64) @ np.asarray(
        gallery_feats, np.float64).T).astype(np.float32)
    rows, cols = linear_sum_assignment(weights, maximize=True)
    matched_to_query = cols[rows == 0]
    if matched_to_query.size == 0:
        return -1, float('nan')
    return int(matched_to_query[0]), float(weights[rows, cols].max())
