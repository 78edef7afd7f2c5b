"""The on-disk gallery index: manifest, shards, checksums, atomic writes.

Layout of an index folder (format version 1)::

    INDEX/
      manifest.json        what the index holds (the only entry point)
      shards/shard-NNNNN.npz   embedded people, one file per build/append
      parts/               a build in progress (removed when it finishes)
      ann/                 cached approximate-search structures (optional)

``manifest.json`` (UTF-8 JSON object):

- ``format``: ``'mmsearch-gallery-index'``; ``format_version``: 1.
- ``model``: the model signature (see :mod:`mmsearch.index.signature`):
  ``config``, ``model_cfg_sha256``, ``checkpoint``, ``checkpoint_sha256``,
  ``embed_dim``, ``probe_feats`` (embeddings of a fixed synthetic probe
  image), ``pipeline`` (the test pipeline) and ``score_thr`` (detections
  scoring below were not stored).
- ``feat_dtype``: ``'float16'`` or ``'float32'``.
- ``shards``: list of ``{file, sha256, bytes, num_entries, num_units,
  created}``; entry ids count rows across the shards in this order, so an
  append never changes the ids of earlier entries.
- ``num_entries``, ``created``, ``updated``.

A shard is an uncompressed ``.npz`` (``numpy.load(allow_pickle=False)``)
with N entries (detected people) and U units (an image, or a chunk of a
video's frames; units without detections are kept so that a resumed build
does not redo them):

======================  ===========  =====================================
array                   shape/dtype  meaning
======================  ===========  =====================================
``feats``               (N, D) f2/f4 unit-norm re-ID embeddings
``boxes``               (N, 4) f4    [x1, y1, x2, y2], original pixels
``scores``              (N,) f4      detection score
``entry_unit``          (N,) i4      row of the entry's unit
``frames``              (N,) i8      video frame number (-1 for images)
``timestamps``          (N,) f8      seconds into the video (NaN, images)
``unit_keys``           (U,) str     unique key of the unit
``unit_sources``        (U,) str     image file or video file
``unit_cameras``        (U,) str     camera id ('' when unknown)
``unit_kinds``          (U,) str     ``'image'`` or ``'video'``
``skipped_keys``        (S,) str     unreadable images / video frames
``skipped_reasons``     (S,) str     why each was skipped
======================  ===========  =====================================

Crash safety: every file is written to a temporary name in the same folder,
flushed to disk, then renamed over its final name (``os.replace`` is
atomic), and the manifest is written last. A shard is loaded only when the
manifest lists it and its SHA-256 matches, so a half-written or stray file
is never read as data.
"""
import json
import os.path as osp
import time
from typing import Dict, Optional

import numpy as np

from mmsearch.fileio import atomic_write, atomic_write_json, sha256_file

FORMAT_NAME = 'mmsearch-gallery-index'
FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
SHARD_DIR = 'shards'
PARTS_DIR = 'parts'
ANN_DIR = 'ann'
FEAT_DTYPES = ('float16', 'float32')

ENTRY_ARRAYS = ('feats', 'boxes', 'scores', 'entry_unit', 'frames',
                'timestamps')
UNIT_ARRAYS = ('unit_keys', 'unit_sources', 'unit_cameras', 'unit_kinds')
SKIP_ARRAYS = ('skipped_keys', 'skipped_reasons')
SHARD_ARRAYS = ENTRY_ARRAYS + UNIT_ARRAYS + SKIP_ARRAYS


class GalleryIndexError(Exception):
    """Base of the gallery-index errors."""


class IndexNotFoundError(GalleryIndexError, FileNotFoundError):
    """No index (manifest) at the given path."""


class IndexFormatError(GalleryIndexError, ValueError):
    """The index files are not a readable index of this format version."""


class ModelMismatchError(GalleryIndexError, ValueError):
    """The model's embedding differs from the one the index was built with.
    """


def empty_shard(embed_dim: int, feat_dtype: str) -> Dict[str, np.ndarray]:
    """Arrays of a shard with no entry, unit or skip."""
    return dict(
        feats=np.zeros((0, embed_dim), feat_dtype),
        boxes=np.zeros((0, 4), np.float32),
        scores=np.zeros(0, np.float32),
        entry_unit=np.zeros(0, np.int32),
        frames=np.zeros(0, np.int64),
        timestamps=np.zeros(0, np.float64),
        **{name: np.zeros(0, np.str_)
           for name in UNIT_ARRAYS + SKIP_ARRAYS})


def check_shard_arrays(arrays: Dict[str, np.ndarray], where: str) -> None:
    """Raise :class:`IndexFormatError` unless ``arrays`` form a shard."""
    missing = [name for name in SHARD_ARRAYS if name not in arrays]
    if missing:
        raise IndexFormatError(f'{where}: missing arrays {missing}')
    num = len(arrays['feats'])
    if arrays['feats'].ndim != 2:
        raise IndexFormatError(f'{where}: feats must be (N, D), got shape '
                               f'{arrays["feats"].shape}')
    for name in ENTRY_ARRAYS:
        if len(arrays[name]) != num:
            raise IndexFormatError(f'{where}: {name} has {len(arrays[name])}'
                                   f' rows, feats has {num}')
    if arrays['boxes'].shape != (num, 4):
        raise IndexFormatError(f'{where}: boxes must be (N, 4)')
    num_units = len(arrays['unit_keys'])
    for name in UNIT_ARRAYS:
        if len(arrays[name]) != num_units:
            raise IndexFormatError(f'{where}: {name} has {len(arrays[name])}'
                                   f' rows, unit_keys has {num_units}')
    unit = arrays['entry_unit']
    if num and (unit.min() < 0 or unit.max() >= num_units):
        raise IndexFormatError(f'{where}: entry_unit out of range')
    if len(arrays['skipped_keys']) != len(arrays['skipped_reasons']):
        raise IndexFormatError(f'{where}: skipped_keys and skipped_reasons '
                               'differ in length')


def write_shard(path: str, arrays: Dict[str, np.ndarray]) -> dict:
    """Write a shard atomically and describe it for the manifest.

    Args:
        path (str): The ``.npz`` file to write.
        arrays (dict): The shard's arrays (see the module docstring).

    Returns:
        dict: ``{file (basename), sha256, bytes, num_entries, num_units,
        created}``.
    """
    check_shard_arrays(arrays, path)
    ordered = {
        name: np.ascontiguousarray(arrays[name])
        for name in SHARD_ARRAYS
    }
    atomic_write(path, lambda file: np.savez(file, **ordered))
    return dict(
        file=osp.basename(path),
        sha256=sha256_file(path),
        bytes=osp.getsize(path),
        num_entries=int(len(arrays['feats'])),
        num_units=int(len(arrays['unit_keys'])),
        created=time.strftime('%Y-%m-%dT%H:%M:%S%z'))


def read_shard(path: str,
               sha256: Optional[str] = None) -> Dict[str, np.ndarray]:
    """Read and check a shard.

    Args:
        path (str): The ``.npz`` file.
        sha256 (str, optional): Expected checksum; the file is refused when
            it differs. None skips the check.

    Returns:
        dict[str, np.ndarray]: The shard's arrays.

    Raises:
        IndexFormatError: A missing, corrupt or incomplete shard.
    """
    if not osp.isfile(path):
        raise IndexFormatError(f'shard "{path}" listed in the manifest is '
                               'missing; the index is damaged (rebuild it, '
                               'or restore the file)')
    if sha256 is not None and sha256_file(path) != sha256:
        raise IndexFormatError(
            f'shard "{path}" does not match its checksum in the manifest '
            '(a damaged or replaced file); rebuild the index or restore it')
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except Exception as error:  # zipfile / numpy errors of a bad file
        raise IndexFormatError(
            f'shard "{path}" cannot be read: {error}') from error
    check_shard_arrays(arrays, path)
    return arrays


def new_manifest(model_signature: dict, feat_dtype: str) -> dict:
    """A manifest for an empty index."""
    if feat_dtype not in FEAT_DTYPES:
        raise ValueError(f'feat_dtype must be one of {FEAT_DTYPES}, got '
                         f'{feat_dtype!r}')
    now = time.strftime('%Y-%m-%dT%H:%M:%S%z')
    return dict(
        format=FORMAT_NAME,
        format_version=FORMAT_VERSION,
        model=model_signature,
        feat_dtype=feat_dtype,
        feat_dtype_note=('float16 stores each feature to ~1e-3 (cosine '
                         'similarities differ from float32 by < 2e-3)'
                         if feat_dtype == 'float16' else 'exact float32'),
        shards=[],
        num_entries=0,
        created=now,
        updated=now)


def manifest_path(index_dir: str) -> str:
    return osp.join(index_dir, MANIFEST)


def read_manifest(index_dir: str) -> dict:
    """Read and validate ``INDEX/manifest.json``.

    Raises:
        IndexNotFoundError: No folder or no manifest.
        IndexFormatError: Not JSON, another format, or another version.
    """
    path = manifest_path(index_dir)
    if not osp.isdir(index_dir):
        raise IndexNotFoundError(
            f'gallery index "{index_dir}" not found (build one with '
            'tools/index/build_index.py or mmsearch.apis.build_index)')
    if not osp.isfile(path):
        raise IndexNotFoundError(
            f'"{index_dir}" holds no {MANIFEST}: not a gallery index, or a '
            'first build that never finished (run the same build again to '
            'resume it)')
    try:
        with open(path, encoding='utf-8') as file:
            manifest = json.load(file)
    except (OSError, ValueError) as error:
        raise IndexFormatError(f'cannot read "{path}": {error}') from error
    if not isinstance(manifest, dict) or manifest.get('format') != FORMAT_NAME:
        raise IndexFormatError(f'"{path}" is not an mmsearch gallery index '
                               f'manifest (format != {FORMAT_NAME!r})')
    version = manifest.get('format_version')
    if version != FORMAT_VERSION:
        raise IndexFormatError(
            f'"{path}" has index format version {version!r}; this mmsearch '
            f'reads version {FORMAT_VERSION} only. Rebuild the index with '
            'this version (or use the mmsearch that wrote it).')
    for key in ('model', 'feat_dtype', 'shards', 'num_entries'):
        if key not in manifest:
            raise IndexFormatError(f'"{path}" lacks the field "{key}"')
    if manifest['feat_dtype'] not in FEAT_DTYPES:
        raise IndexFormatError(f'"{path}": unknown feat_dtype '
                               f'{manifest["feat_dtype"]!r}')
    return manifest


def write_manifest(index_dir: str, manifest: dict) -> None:
    """Write the manifest atomically (after the shards it lists)."""
    manifest = dict(manifest)
    manifest['num_entries'] = int(
        sum(shard['num_entries'] for shard in manifest['shards']))
    manifest['updated'] = time.strftime('%Y-%m-%dT%H:%M:%S%z')
    atomic_write_json(manifest_path(index_dir), manifest)
