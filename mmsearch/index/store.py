"""A gallery index loaded into memory."""
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .format import SHARD_DIR, IndexFormatError, read_manifest, read_shard


class GalleryIndex:
    """All entries of an index folder, as column arrays.

    Entry ``i`` is the i-th row over the manifest's shards in order.

    Attributes:
        index_dir (str): The folder.
        manifest (dict): Its manifest.
        feats (np.ndarray): (N, D) float16/float32 unit-norm embeddings.
        boxes (np.ndarray): (N, 4) float32 [x1, y1, x2, y2].
        scores (np.ndarray): (N,) float32 detection scores.
        frames (np.ndarray): (N,) int64 frame numbers (-1 for images).
        timestamps (np.ndarray): (N,) float64 seconds (NaN for images).
        entry_unit (np.ndarray): (N,) int64 row into the unit columns.
        unit_keys, unit_sources, unit_cameras, unit_kinds (np.ndarray):
            (U,) str columns of the units (see :mod:`.format`).
        skipped (list[tuple[str, str]]): (key, reason) of every unreadable
            image or frame met while building.
    """

    def __init__(self, index_dir: str, verify: bool = True) -> None:
        """Load an index.

        Args:
            index_dir (str): The index folder.
            verify (bool): Check every shard's SHA-256 (reads each file
                twice; turn off for large trusted indexes).

        Raises:
            IndexNotFoundError: No index there.
            IndexFormatError: Wrong format version or damaged shards.
        """
        self.index_dir = index_dir
        self.manifest = read_manifest(index_dir)
        dim = int(self.manifest['model']['embed_dim'])
        shards = [
            read_shard(
                osp.join(index_dir, SHARD_DIR, shard['file']),
                shard['sha256'] if verify else None)
            for shard in self.manifest['shards']
        ]
        for shard, info in zip(shards, self.manifest['shards']):
            if len(shard['feats']) != info['num_entries'] or (len(
                    shard['feats']) and shard['feats'].shape[1] != dim):
                raise IndexFormatError(
                    f'shard "{info["file"]}" holds {shard["feats"].shape} '
                    f'features, the manifest says {info["num_entries"]} x '
                    f'{dim}')
        dtype = self.manifest['feat_dtype']
        offsets = np.cumsum([0] + [len(s['unit_keys']) for s in shards])
        self.feats = _concat([s['feats'] for s in shards], (0, dim), dtype)
        self.boxes = _concat([s['boxes'] for s in shards], (0, 4), np.float32)
        self.scores = _concat([s['scores'] for s in shards], (0, ), np.float32)
        self.frames = _concat([s['frames'] for s in shards], (0, ), np.int64)
        self.timestamps = _concat([s['timestamps'] for s in shards], (0, ),
                                  np.float64)
        self.entry_unit = _concat([
            s['entry_unit'].astype(np.int64) + off
            for s, off in zip(shards, offsets)
        ], (0, ), np.int64)
        for name in ('unit_keys', 'unit_sources', 'unit_cameras',
                     'unit_kinds'):
            setattr(self, name,
                    _concat([s[name] for s in shards], (0, ), np.str_))
        self.skipped: List[Tuple[str, str]] = [
            (str(k), str(r)) for s in shards
            for k, r in zip(s['skipped_keys'], s['skipped_reasons'])
        ]

    def __len__(self) -> int:
        return len(self.feats)

    @property
    def embed_dim(self) -> int:
        return int(self.manifest['model']['embed_dim'])

    @property
    def model_signature(self) -> dict:
        return self.manifest['model']

    def entry_sources(self) -> np.ndarray:
        """(N,) str: the image or video file of every entry."""
        return self.unit_sources[self.entry_unit]

    def entry_cameras(self) -> np.ndarray:
        """(N,) str: the camera id of every entry."""
        return self.unit_cameras[self.entry_unit]

    def entry_is_video(self) -> np.ndarray:
        """(N,) bool: True for video frames."""
        return self.unit_kinds[self.entry_unit] == 'video'

    def entry(self, entry_id: int) -> Dict:
        """One entry as a JSON-ready dict.

        Returns:
            dict: ``entry_id``, ``source``, ``kind``, ``camera``,
            ``frame`` (None for images), ``timestamp`` (None for images),
            ``box``, ``score``.
        """
        if not 0 <= entry_id < len(self):
            raise IndexError(f'entry id {entry_id} out of range: the index '
                             f'"{self.index_dir}" holds {len(self)} entries')
        unit = self.entry_unit[entry_id]
        video = self.unit_kinds[unit] == 'video'
        return dict(
            entry_id=int(entry_id),
            source=str(self.unit_sources[unit]),
            kind=str(self.unit_kinds[unit]),
            camera=str(self.unit_cameras[unit]),
            frame=int(self.frames[entry_id]) if video else None,
            timestamp=float(self.timestamps[entry_id]) if video else None,
            box=[float(v) for v in self.boxes[entry_id]],
            score=float(self.scores[entry_id]))

    def float32_feats(self) -> np.ndarray:
        """(N, D) float32 features, converted once and kept (a float16
        index then holds both: 6 bytes per dimension and entry). Exact
        search uses them: converting per query costs more than the matrix
        product."""
        if self.feats.dtype == np.float32:
            return self.feats
        cached = self.__dict__.get('_float32_feats')
        if cached is None:
            cached = self.feats.astype(np.float32)
            self.__dict__['_float32_feats'] = cached
        return cached

    def feature(self, entry_id: int) -> np.ndarray:
        """(D,) float32 embedding of one entry."""
        self.entry(entry_id)  # range check
        return self.feats[entry_id].astype(np.float32)

    def filter_mask(
            self,
            cameras: Optional[Sequence[str]] = None,
            videos: Optional[Sequence[str]] = None,
            time_range: Optional[Sequence[float]] = None
    ) -> Optional[np.ndarray]:
        """(N,) bool mask of the entries passing the filters (None: all).

        Args:
            cameras (Sequence[str], optional): Keep these camera ids.
            videos (Sequence[str], optional): Keep frames of these videos
                (file path, or file name, or name without extension).
            time_range (Sequence[float], optional): (start, end) seconds:
                keep video frames with start <= timestamp <= end (images
                have no time and are dropped).
        """
        if cameras is None and videos is None and time_range is None:
            return None
        unit_ok = np.ones(len(self.unit_keys), bool)
        if cameras is not None:
            unit_ok &= np.isin(self.unit_cameras, [str(c) for c in cameras])
        if videos is not None:
            wanted = {str(v) for v in videos}
            unit_ok &= np.array([
                kind == 'video' and
                (src in wanted or osp.basename(src) in wanted
                 or osp.splitext(osp.basename(src))[0] in wanted)
                for src, kind in zip(self.unit_sources, self.unit_kinds)
            ], bool)
        mask = unit_ok[self.entry_unit]
        if time_range is not None:
            start, end = (float(v) for v in time_range)
            if end < start:
                raise ValueError(f'time_range must be (start, end) with '
                                 f'start <= end, got {list(time_range)}')
            with np.errstate(invalid='ignore'):
                mask &= (self.timestamps >= start) & (self.timestamps <= end)
        return mask


def _concat(arrays, empty_shape, dtype) -> np.ndarray:
    arrays = [a for a in arrays if len(a)]
    if not arrays:
        return np.zeros(empty_shape, dtype)
    return np.concatenate(arrays).astype(dtype, copy=False)


def load_gallery_index(index_dir: str, verify: bool = True) -> GalleryIndex:
    """Load an index folder (see :class:`GalleryIndex`)."""
    return GalleryIndex(index_dir, verify=verify)
