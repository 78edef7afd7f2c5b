"""What identifies a model's embedding: stored with an index, checked on
every query and append.

The decisive part is a fingerprint: the model's embeddings of fixed boxes
in a fixed synthetic probe image. Two models whose probe embeddings agree
(cosine >= ``PROBE_MIN_COSINE`` for every box) embed alike; the config name,
model-config hash and checkpoint hash are stored to explain a mismatch.
"""
import json
import os.path as osp
from typing import List, Optional

import numpy as np

from mmsearch.fileio import sha256_file, sha256_json
from .format import ModelMismatchError

# Boxes [x1, y1, x2, y2] in the probe image (width 128, height 192).
PROBE_BOXES = ((16.0, 24.0, 64.0, 168.0), (60.0, 40.0, 120.0, 184.0))
# Float16 storage, CPU vs GPU kernels and batch padding move the probe
# embeddings far less; another checkpoint or config moves them far more.
PROBE_MIN_COSINE = 0.99


def probe_image() -> np.ndarray:
    """The fixed synthetic probe image: (192, 128, 3) uint8 BGR.

    Smooth gradients plus two coloured figures, a formula (no random
    numbers), so every version of every library draws the same pixels.
    """
    height, width = 192, 128
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    image = np.stack([
        127 + 100 * np.sin(xs / 9.0),
        127 + 100 * np.cos(ys / 13.0),
        127 + 100 * np.sin((xs + ys) / 17.0),
    ],
                     axis=-1)
    image[30:160, 24:56] = (40, 60, 200)
    image[50:180, 70:112] = (200, 160, 30)
    image[30:60, 30:50] = (150, 170, 210)
    return np.clip(np.round(image), 0, 255).astype(np.uint8)


def build_signature(probe_feats: np.ndarray,
                    score_thr: float,
                    config: Optional[str] = None,
                    model_cfg: Optional[dict] = None,
                    checkpoint: Optional[str] = None,
                    pipeline: Optional[list] = None) -> dict:
    """The signature of an embedding function, from what identifies it.

    The index knows no model: the caller embeds :data:`PROBE_BOXES` of
    :func:`probe_image` with its model (``mmsearch.apis.model_signature``
    does so for a PyTorch model) and passes what explains a mismatch.

    Args:
        probe_feats (np.ndarray): (len(PROBE_BOXES), D) embeddings of the
            probe boxes.
        score_thr (float): Detection threshold used to build the index.
        config (str, optional): The model's config file.
        model_cfg (dict, optional): The model's config (hashed).
        checkpoint (str, optional): The checkpoint file (its SHA-256 is
            recorded); None for initialised weights.
        pipeline (list, optional): The test pipeline config (stored as JSON).

    Returns:
        dict: ``config``, ``model_cfg_sha256``, ``checkpoint``,
        ``checkpoint_sha256``, ``embed_dim``, ``probe_boxes``,
        ``probe_feats`` (list of lists), ``pipeline``, ``score_thr``.
    """
    feats = np.asarray(probe_feats, np.float32)
    if feats.ndim != 2 or len(feats) != len(PROBE_BOXES):
        raise ValueError(f'probe_feats must be ({len(PROBE_BOXES)}, D), one '
                         f'row per probe box, got shape {feats.shape}')
    return dict(
        config=osp.abspath(config) if config else None,
        model_cfg_sha256=None if model_cfg is None else sha256_json(model_cfg),
        checkpoint=osp.abspath(checkpoint) if checkpoint else None,
        checkpoint_sha256=sha256_file(checkpoint) if checkpoint else None,
        embed_dim=int(feats.shape[1]),
        probe_boxes=[list(box) for box in PROBE_BOXES],
        probe_feats=feats.tolist(),
        pipeline=None if pipeline is None else json.loads(
            json.dumps(pipeline, default=str)),
        score_thr=float(score_thr))


def signature_differences(expected: dict, actual: dict) -> List[str]:
    """Reasons why ``actual``'s embedding is not ``expected``'s (empty when
    they agree).

    Only the embedding dimension and the probe fingerprint decide; config
    and checkpoint differences are listed alongside to explain.
    """
    reasons = []
    if expected['embed_dim'] != actual['embed_dim']:
        reasons.append(f'embedding dimension {actual["embed_dim"]} != '
                       f'{expected["embed_dim"]}')
    else:
        want = np.asarray(expected['probe_feats'], np.float64)
        got = np.asarray(actual['probe_feats'], np.float64)
        cos = (want * got).sum(1) / np.maximum(
            np.linalg.norm(want, axis=1) * np.linalg.norm(got, axis=1), 1e-12)
        if want.shape != got.shape or cos.min() < PROBE_MIN_COSINE:
            reasons.append('probe embeddings differ (cosine '
                           f'{cos.min():.4f} < {PROBE_MIN_COSINE})')
    if reasons:
        for key, name in (('config', 'config'), ('model_cfg_sha256',
                                                 'model config hash'),
                          ('checkpoint_sha256', 'checkpoint hash')):
            if expected.get(key) != actual.get(key):
                reasons.append(f'{name}: index {expected.get(key)!r}, '
                               f'model {actual.get(key)!r}')
    return reasons


def check_signature(expected: dict, actual: dict, index_dir: str) -> None:
    """Raise :class:`ModelMismatchError` unless the embeddings agree."""
    reasons = signature_differences(expected, actual)
    if reasons:
        raise ModelMismatchError(
            f'the model embeds differently from the one gallery index '
            f'"{index_dir}" was built with ({"; ".join(reasons)}). Use the '
            f'index\'s config "{expected.get("config")}" and checkpoint '
            f'"{expected.get("checkpoint")}", or build a new index for this '
            'model.')
