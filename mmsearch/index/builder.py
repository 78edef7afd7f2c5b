"""Building (and appending to, and resuming) a gallery index.

Every process (rank) embeds its share of the units not yet in the index and
writes them as checksummed *parts* under ``INDEX/parts/`` every
``part_units`` units; rank 0 then merges all parts into one new shard (in
the order the units were given, so N processes write the same index as
one), writes the manifest, and removes the parts. A killed build leaves
parts behind: the next build with the same index folder takes their units
as done and merges them.
"""
import json
import os
import os.path as osp
import sys
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import (all_gather_object, barrier, broadcast_object_list,
                           get_dist_info)
from mmengine.utils import ProgressBar

from mmsearch.fileio import atomic_write_json, read_image_file, sha256_file
from mmsearch.structures import check_finite_detections
from .format import (FEAT_DTYPES, PARTS_DIR, SHARD_DIR, IndexNotFoundError,
                     empty_shard, new_manifest, read_manifest, read_shard,
                     write_manifest, write_shard)
from .signature import check_signature
from .sources import Unit, dedupe_units, read_video_unit

DEFAULT_MAX_SHARD_ENTRIES = 1_000_000

# embed(images) -> per image dict(bboxes (n, 4), scores (n,), reid_feats
# (n, D)) of numpy arrays, detections scoring >= the index's threshold.
EmbedFn = Callable[[List[np.ndarray]], List[Dict[str, np.ndarray]]]


def _unit_records(unit: Unit):
    """(frame, timestamp, image) to embed, or (None, None, reason)."""
    if unit.kind == 'image':
        image, reason = read_image_file(unit.source)
        yield (-1, float('nan'), image) if image is not None else (None, None,
                                                                   reason)
    else:
        for frame, reason in read_video_unit(unit):
            if frame is None:
                yield None, None, reason
            else:
                yield frame.number, frame.timestamp, frame.image


def _shard_arrays(units: Sequence[Unit], results: Dict[str, dict],
                  embed_dim: int, feat_dtype: str) -> Dict[str, np.ndarray]:
    """Shard arrays of ``units`` (in order) from per-unit results."""
    arrays = empty_shard(embed_dim, feat_dtype)
    lists = {name: [] for name in arrays}
    for row, unit in enumerate(units):
        res = results[unit.key]
        # a NaN embedding would rank arbitrarily in every later search
        check_finite_detections(unit.key, res['bboxes'], res['scores'],
                                res['reid_feats'], 'index source')
        num = len(res['scores'])
        lists['feats'].append(res['reid_feats'].astype(feat_dtype))
        lists['boxes'].append(res['bboxes'].astype(np.float32))
        lists['scores'].append(res['scores'].astype(np.float32))
        lists['entry_unit'].append(np.full(num, row, np.int32))
        lists['frames'].append(res['frames'].astype(np.int64))
        lists['timestamps'].append(res['timestamps'].astype(np.float64))
        lists['unit_keys'].append(np.array([unit.key]))
        lists['unit_sources'].append(np.array([unit.source]))
        lists['unit_cameras'].append(np.array([unit.camera]))
        lists['unit_kinds'].append(np.array([unit.kind]))
        lists['skipped_keys'].append(
            np.array([k for k, _ in res['skipped']], dtype=np.str_))
        lists['skipped_reasons'].append(
            np.array([r for _, r in res['skipped']], dtype=np.str_))
    for name, parts in lists.items():
        if parts:
            arrays[name] = np.concatenate([arrays[name]] + parts)
    return arrays


def _unit_results_from_shard(arrays: Dict[str, np.ndarray]) -> Dict:
    """Per-unit results (inverse of :func:`_shard_arrays`) and units."""
    results, units = {}, []
    skipped = {}
    unit_keys = {str(k) for k in arrays['unit_keys']}
    for key, reason in zip(arrays['skipped_keys'], arrays['skipped_reasons']):
        key = str(key)
        unit_key = key if key in unit_keys else key.rsplit('#', 1)[0]
        skipped.setdefault(unit_key, []).append((key, str(reason)))
    for row, key in enumerate(arrays['unit_keys']):
        key = str(key)
        rows = arrays['entry_unit'] == row
        results[key] = dict(
            reid_feats=arrays['feats'][rows],
            bboxes=arrays['boxes'][rows],
            scores=arrays['scores'][rows],
            frames=arrays['frames'][rows],
            timestamps=arrays['timestamps'][rows],
            skipped=skipped.get(key, []))
        kind = str(arrays['unit_kinds'][row])
        units.append(
            Unit(key, kind, str(arrays['unit_sources'][row]),
                 str(arrays['unit_cameras'][row])))
    return dict(results=results, units=units)


def _valid_parts(parts_dir: str) -> List[str]:
    """Part files with a sidecar whose checksum matches (sorted)."""
    if not osp.isdir(parts_dir):
        return []
    valid = []
    for name in sorted(os.listdir(parts_dir)):
        if not name.endswith('.npz'):
            continue  # temporary files of a killed write, sidecars
        path = osp.join(parts_dir, name)
        sidecar = path[:-4] + '.json'
        if not osp.isfile(sidecar):
            continue  # killed between the part and its sidecar
        try:
            with open(sidecar, encoding='utf-8') as file:
                expected = json.load(file)['sha256']
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if sha256_file(path) == expected:
            valid.append(path)
    return valid


def _manifest_unit_keys(index_dir: str, manifest: dict) -> set:
    keys = set()
    for shard in manifest['shards']:
        path = osp.join(index_dir, SHARD_DIR, shard['file'])
        with np.load(path, allow_pickle=False) as data:
            keys.update(str(k) for k in data['unit_keys'])
    return keys


def _prepare_index(index_dir: str, signature: dict,
                   feat_dtype: Optional[str]) -> dict:
    """Open the index (checking the model) or create an empty one."""
    try:
        manifest = read_manifest(index_dir)
    except IndexNotFoundError:
        if osp.isfile(index_dir):
            raise NotADirectoryError(f'index path "{index_dir}" is a file')
        manifest = new_manifest(signature, feat_dtype or 'float16')
        os.makedirs(osp.join(index_dir, SHARD_DIR), exist_ok=True)
        write_manifest(index_dir, manifest)
        return manifest
    check_signature(manifest['model'], signature, index_dir)
    if abs(manifest['model']['score_thr'] - signature['score_thr']) > 1e-9:
        raise ValueError(
            f'index "{index_dir}" was built with score_thr '
            f'{manifest["model"]["score_thr"]}, got {signature["score_thr"]};'
            ' append with the index\'s threshold or build a new index')
    if feat_dtype is not None and feat_dtype != manifest['feat_dtype']:
        raise ValueError(f'index "{index_dir}" stores {manifest["feat_dtype"]}'
                         f' features, got feat_dtype={feat_dtype!r}')
    return manifest


class _UnitEmbedder:
    """Embeds the images of units in batches and writes finished units as
    checksummed parts (one process's share of a build).

    Images of several units share a batch; a unit is finished once all its
    images are queued, and its results are complete after the next batch.

    Args:
        embed (EmbedFn): The embedding function.
        batch_size (int): Images per ``embed`` call.
        parts_dir (str): Where parts are written.
        part_units (int): Finished units per part.
        embed_dim (int): Feature dimension D.
        feat_dtype (str): Stored feature type.
        rank (int): This process's rank (in the part names).
    """

    def __init__(self, embed: EmbedFn, batch_size: int, parts_dir: str,
                 part_units: int, embed_dim: int, feat_dtype: str,
                 rank: int) -> None:
        self.embed = embed
        self.batch_size = batch_size
        self.parts_dir = parts_dir
        self.part_units = part_units
        self.embed_dim = embed_dim
        self.feat_dtype = feat_dtype
        self.rank = rank
        self.pending = []  # (unit key, frame, timestamp, image)
        self.results: Dict[str, dict] = {}
        self.finished: List[Unit] = []
        self.images = 0
        self.skipped: List[tuple] = []

    def add_unit(self, unit: Unit) -> None:
        """Queue the images of ``unit`` (embedding full batches), note its
        unreadable ones, and write a part when enough units finished."""
        res = self.results[unit.key] = dict(
            bboxes=[],
            scores=[],
            reid_feats=[],
            frames=[],
            timestamps=[],
            skipped=[])
        for frame, stamp, image in _unit_records(unit):
            if frame is None:  # ``image`` is the reason
                item = unit.key if unit.kind == 'image' else (
                    f'{unit.key}#{len(res["skipped"])}')
                res['skipped'].append((item, image))
                self.skipped.append((item, image))
                continue
            self.pending.append((unit.key, frame, stamp, image))
            if len(self.pending) >= self.batch_size:
                self.embed_pending()
        self.finished.append(unit)
        if len(self.finished) >= self.part_units:
            self.write_part()

    def embed_pending(self) -> None:
        """Embed the queued images; append each one's detections to its
        unit."""
        if not self.pending:
            return
        outputs = self.embed([item[3] for item in self.pending])
        for (key, frame, stamp, _), out in zip(self.pending, outputs):
            res = self.results[key]
            for name in ('bboxes', 'scores', 'reid_feats'):
                res[name].append(out[name])
            num = len(out['scores'])
            res['frames'].append(np.full(num, frame, np.int64))
            res['timestamps'].append(np.full(num, stamp, np.float64))
        self.images += len(self.pending)
        self.pending.clear()

    def write_part(self) -> None:
        """Embed what is queued and write the finished units as a part."""
        self.embed_pending()
        if not self.finished:
            return
        stacked = {
            unit.key: _stack_unit(self.results.pop(unit.key), self.embed_dim)
            for unit in self.finished
        }
        arrays = _shard_arrays(self.finished, stacked, self.embed_dim,
                               self.feat_dtype)
        name = f'r{self.rank:03d}-{time.time_ns()}-{os.getpid()}'
        info = write_shard(osp.join(self.parts_dir, name + '.npz'), arrays)
        atomic_write_json(osp.join(self.parts_dir, name + '.json'), info)
        self.finished.clear()


def _stack_unit(res: dict, embed_dim: int) -> dict:
    """One unit's per-batch lists as arrays (empty ones shaped)."""

    def cat(name, shape):
        return np.concatenate(res[name]).reshape(shape) if res[name] else \
            np.zeros((0, ) + shape[1:], np.float32)

    return dict(
        reid_feats=cat('reid_feats', (-1, embed_dim)),
        bboxes=cat('bboxes', (-1, 4)),
        scores=cat('scores', (-1, )),
        frames=cat('frames', (-1, )),
        timestamps=cat('timestamps', (-1, )),
        skipped=res['skipped'])


def _units_to_embed(index_dir: str, units: Sequence[Unit], signature: dict,
                    feat_dtype: Optional[str]) -> tuple:
    """Open (or create) the index and find the units not yet in it or in
    its parts; rank 0 decides and tells the others.

    Returns:
        tuple: (manifest, list of the units to embed).
    """
    rank, _ = get_dist_info()
    todo_box = [None]
    if rank == 0:
        manifest = _prepare_index(index_dir, signature, feat_dtype)
        done = _manifest_unit_keys(index_dir, manifest)
        for part in _valid_parts(osp.join(index_dir, PARTS_DIR)):
            with np.load(part, allow_pickle=False) as data:
                done.update(str(k) for k in data['unit_keys'])
        todo_box = [[u for u in units if u.key not in done]]
    broadcast_object_list(todo_box, src=0)
    if rank != 0:
        manifest = read_manifest(index_dir)
        check_signature(manifest['model'], signature, index_dir)
    return manifest, todo_box[0]


def _embed_share(
        embed: EmbedFn, index_dir: str, mine: Sequence[Unit], manifest: dict,
        batch_size: int, part_units: int, show_progress: bool,
        on_unit_done: Optional[Callable[[int, int], None]]) -> _UnitEmbedder:
    """Embed this process's units into parts, with a progress bar (units)
    when asked. Returns the embedder (its ``images`` and ``skipped``)."""
    rank, _ = get_dist_info()
    embedder = _UnitEmbedder(embed, batch_size, osp.join(index_dir, PARTS_DIR),
                             part_units, int(manifest['model']['embed_dim']),
                             manifest['feat_dtype'], rank)
    bar = ProgressBar(len(mine), file=sys.stderr) if show_progress else None
    for done, unit in enumerate(mine, start=1):
        embedder.add_unit(unit)
        if bar is not None:
            bar.update()
        if on_unit_done is not None:
            on_unit_done(done, len(mine))
    embedder.write_part()
    if bar is not None:
        bar.file.write('\n')
    return embedder


def build_gallery_index(
        embed: EmbedFn,
        signature: dict,
        index_dir: str,
        units: Sequence[Unit],
        batch_size: int = 4,
        feat_dtype: Optional[str] = None,
        part_units: int = 64,
        max_shard_entries: int = DEFAULT_MAX_SHARD_ENTRIES,
        show_progress: bool = True,
        on_unit_done: Optional[Callable[[int, int], None]] = None) -> dict:
    """Embed the units not yet in an index and add them (creating it).

    The index knows no model: ``embed`` detects and embeds the people of
    images, and ``signature`` (:func:`.signature.build_signature`)
    identifies it; an existing index refuses an embedding that differs from
    its own. ``mmsearch.apis.build_index`` gives both for a PyTorch model.

    Runs in every process of a distributed job (``mmengine.dist``); each
    embeds ``todo[rank::world_size]``.

    Args:
        embed (EmbedFn): ``embed(images)``: per uint8 BGR (H, W, 3) image,
            a dict of numpy ``bboxes`` (n, 4), ``scores`` (n,) and
            ``reid_feats`` (n, D) of the detections scoring at least
            ``signature['score_thr']``.
        signature (dict): The embedding's signature.
        index_dir (str): The index folder (created when missing; appended
            to otherwise, after checking the signature and threshold).
        units (Sequence[Unit]): What to index (see :mod:`.sources`).
        batch_size (int): Images per ``embed`` call.
        feat_dtype (str, optional): ``'float16'`` (default for a new index)
            or ``'float32'``.
        part_units (int): Units between two checkpoints (parts) of a build.
        max_shard_entries (int): Entries per shard at most.
        show_progress (bool): Progress bar (mmengine's, units) on rank 0.
        on_unit_done (callable, optional): ``f(done, total)`` after each
            unit of this rank (after its part, if one was written).

    Returns:
        dict: The build report: ``units_requested``, ``units_already_done``,
        ``units_embedded``, ``images_embedded`` (images + video frames),
        ``entries_added``, ``num_entries`` (index total), ``skipped``
        (count) and ``skipped_items`` ([key, reason] pairs), ``seconds``,
        ``images_per_second``, ``world_size``.
    """
    if batch_size < 1 or part_units < 1 or max_shard_entries < 1:
        raise ValueError('batch_size, part_units and max_shard_entries must '
                         'be >= 1')
    if feat_dtype is not None and feat_dtype not in FEAT_DTYPES:
        raise ValueError(f'feat_dtype must be one of {FEAT_DTYPES}, got '
                         f'{feat_dtype!r}')
    start_time = time.perf_counter()
    rank, world_size = get_dist_info()
    units = dedupe_units(units)
    manifest, todo = _units_to_embed(index_dir, units, signature, feat_dtype)
    embedder = _embed_share(embed, index_dir, todo[rank::world_size], manifest,
                            batch_size, part_units, show_progress
                            and rank == 0, on_unit_done)
    stats = all_gather_object(
        dict(images=embedder.images, skipped=embedder.skipped))
    barrier()
    entries_added = 0
    if rank == 0:
        manifest, entries_added = _merge_parts(
            index_dir, manifest, units, int(manifest['model']['embed_dim']),
            max_shard_entries)
    barrier()
    manifest = read_manifest(index_dir)
    images = sum(s['images'] for s in stats)
    skipped = [item for s in stats for item in s['skipped']]
    seconds = time.perf_counter() - start_time
    report = dict(
        index_dir=osp.abspath(index_dir),
        units_requested=len(units),
        units_already_done=len(units) - len(todo),
        units_embedded=len(todo),
        images_embedded=images,
        entries_added=int(entries_added),
        num_entries=int(manifest['num_entries']),
        skipped=len(skipped),
        skipped_items=[list(item) for item in skipped],
        seconds=round(seconds, 3),
        images_per_second=round(images / seconds, 3) if seconds else 0.0,
        world_size=world_size)
    if rank == 0:
        stamp = time.strftime('%Y%m%d-%H%M%S')
        atomic_write_json(
            osp.join(index_dir, 'reports', f'build-{stamp}-{os.getpid()}'
                     '.json'), report)
    return report


def _merge_parts(index_dir: str, manifest: dict, units: Sequence[Unit],
                 dim: int, max_shard_entries: int):
    """Rank 0: merge every valid part into new shards, update the manifest,
    remove the parts. Returns (manifest, entries added)."""
    parts_dir = osp.join(index_dir, PARTS_DIR)
    in_index = _manifest_unit_keys(index_dir, manifest)
    results, part_units = {}, {}
    for part in _valid_parts(parts_dir):
        loaded = _unit_results_from_shard(read_shard(part))
        for unit in loaded['units']:
            if unit.key not in in_index:
                part_units[unit.key] = unit
                results[unit.key] = loaded['results'][unit.key]
    order = {unit.key: i for i, unit in enumerate(units)}
    new_units = sorted(
        part_units.values(),
        key=lambda u: (order.get(u.key, len(order)), u.key))
    added = 0
    dtype = manifest['feat_dtype']
    begin = 0
    while begin < len(new_units):
        # Cut shards at unit boundaries, at most max_shard_entries each
        # (a single larger unit gets a shard of its own).
        end, size = begin, 0
        while end < len(new_units):
            num = len(results[new_units[end].key]['scores'])
            if end > begin and size + num > max_shard_entries:
                break
            size += num
            end += 1
        arrays = _shard_arrays(new_units[begin:end], results, dim, dtype)
        path = osp.join(index_dir, SHARD_DIR,
                        f'shard-{len(manifest["shards"]):05d}.npz')
        manifest['shards'].append(write_shard(path, arrays))
        added += size
        begin = end
    if new_units:
        write_manifest(index_dir, manifest)
    if osp.isdir(parts_dir):
        for name in os.listdir(parts_dir):
            os.remove(osp.join(parts_dir, name))
        os.rmdir(parts_dir)
    return read_manifest(index_dir), added


def add_shard(index_dir: str,
              arrays: Dict[str, np.ndarray],
              signature: Optional[dict] = None,
              feat_dtype: str = 'float16') -> dict:
    """Append ready-made shard arrays to an index (creating it).

    For features computed elsewhere (and for tests and benchmarks); the
    arrays are those of :mod:`mmsearch.index.format`.

    Args:
        index_dir (str): The index folder.
        arrays (dict): Shard arrays; ``feats`` is cast to the index's type.
        signature (dict, optional): Model signature of a new index
            (required when ``index_dir`` holds none).
        feat_dtype (str): Feature type of a new index.

    Returns:
        dict: The updated manifest.
    """
    try:
        manifest = read_manifest(index_dir)
    except IndexNotFoundError:
        if signature is None:
            raise
        manifest = new_manifest(signature, feat_dtype)
    arrays = dict(arrays)
    arrays['feats'] = np.asarray(arrays['feats']).astype(
        manifest['feat_dtype'])
    if arrays['feats'].shape[1:] != (manifest['model']['embed_dim'], ):
        raise ValueError(f'feats must be (N, {manifest["model"]["embed_dim"]}'
                         f'), got {arrays["feats"].shape}')
    path = osp.join(index_dir, SHARD_DIR,
                    f'shard-{len(manifest["shards"]):05d}.npz')
    manifest['shards'].append(write_shard(path, arrays))
    write_manifest(index_dir, manifest)
    return read_manifest(index_dir)
