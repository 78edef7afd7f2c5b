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
import torch
import torch.nn as nn
from mmdet.structures.bbox import get_box_tensor
from mmengine.dist import (all_gather_object, barrier, broadcast_object_list,
                           get_dist_info)

from mmsearch.evaluation.functional import check_finite_detections
from .format import (PARTS_DIR, SHARD_DIR, FEAT_DTYPES, IndexNotFoundError,
                     atomic_write_json, empty_shard, new_manifest,
                     read_manifest, read_shard, sha256_file, write_manifest,
                     write_shard)
from .signature import check_signature, model_signature
from .sources import Unit, dedupe_units, read_image_file, read_video_unit

DEFAULT_MAX_SHARD_ENTRIES = 1_000_000


class Progress:
    """A one-line progress display: units, images/s and ETA (stderr).

    The ETA is the time per finished unit times the units left, from this
    process's own share of the units (in a distributed build, rank 0's);
    it reads ``?`` until a first unit has finished and an image has been
    embedded (no rate is known before: a first batch done is no measure of
    a unit, and an image unit counts as finished when its image is queued
    for a batch, before any time was spent on it), and 0:00:00 only when
    this process's share is done.

    Args:
        total_units (int): Units of the whole build (all processes).
        enabled (bool): Write anything.
        stream (file, optional): Default: ``sys.stderr``.
        interval (float): Seconds between lines (unless forced).
        share (int, optional): Units of this process (default: all).
        world_size (int): Processes; the line shows the units done by all
            as this process's count times ``world_size`` (at most
            ``total_units``).
        clock (callable): Seconds, monotonic.
    """

    def __init__(self,
                 total_units: int,
                 enabled: bool = True,
                 stream=None,
                 interval: float = 0.5,
                 share: Optional[int] = None,
                 world_size: int = 1,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.total = total_units
        self.share = total_units if share is None else share
        self.world_size = world_size
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.interval = interval
        self.clock = clock
        self.start = clock()
        self.last: Optional[float] = None
        self.units = 0
        self.images = 0

    def eta(self, now: float) -> Optional[float]:
        """Seconds left for this process, None while unknown."""
        if self.units <= 0 or self.images <= 0:
            return None
        left = max(self.share - self.units, 0)
        return left * (now - self.start) / self.units

    def update(self, units: int, images: int, force: bool = False) -> None:
        """This process's finished units and embedded images so far."""
        self.units, self.images = units, images
        now = self.clock()
        if not self.enabled or (self.last is not None and
                                now - self.last < self.interval
                                and not force):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        eta = self.eta(now)
        done = min(self.total, units * self.world_size)
        self.stream.write(
            f'\r[index] {done}/{self.total} units, '
            f'{images * self.world_size} images, '
            f'{images * self.world_size / elapsed:.2f} images/s, '
            f'elapsed {_clock(elapsed)}, '
            f'ETA {"?" if eta is None else _clock(eta)}   ')
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.update(self.units, self.images, force=True)
            self.stream.write('\n')
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


class _Embedder:
    """Batched detection + embedding through the model's test pipeline."""

    def __init__(self, model: nn.Module, score_thr: float,
                 batch_size: int) -> None:
        from mmsearch.apis import build_test_pipeline
        self.model = model
        self.score_thr = score_thr
        self.batch_size = batch_size
        self.pipeline = build_test_pipeline(model.cfg, from_array=True)

    def __call__(self, images: Sequence[np.ndarray]) -> List[Dict]:
        """Detections of each image: ``{feats, boxes, scores}`` arrays."""
        results = []
        for begin in range(0, len(images), self.batch_size):
            chunk = images[begin:begin + self.batch_size]
            packed = [
                self.pipeline(dict(img=image, img_id=f'frame{begin + i}'))
                for i, image in enumerate(chunk)
            ]
            batch = dict(
                inputs=[p['inputs'] for p in packed],
                data_samples=[p['data_samples'] for p in packed])
            with torch.no_grad():
                outputs = self.model.test_step(batch)
            for output in outputs:
                pred = output.pred_instances
                keep = pred.scores >= self.score_thr
                results.append(
                    dict(
                        feats=pred.reid_feats[keep].detach().float().cpu(
                        ).numpy(),
                        boxes=get_box_tensor(pred.bboxes)[keep].detach(
                        ).float().cpu().numpy(),
                        scores=pred.scores[keep].detach().float().cpu(
                        ).numpy()))
        return results


def _unit_records(unit: Unit):
    """(frame, timestamp, image) to embed, or (None, None, reason)."""
    if unit.kind == 'image':
        image, reason = read_image_file(unit.source)
        yield (-1, float('nan'), image) if image is not None else (None,
                                                                   None,
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
        check_finite_detections(unit.key, res['boxes'], res['scores'],
                                res['feats'], 'index source')
        num = len(res['scores'])
        lists['feats'].append(res['feats'].astype(feat_dtype))
        lists['boxes'].append(res['boxes'].astype(np.float32))
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
    for key, reason in zip(arrays['skipped_keys'],
                           arrays['skipped_reasons']):
        key = str(key)
        unit_key = key if key in unit_keys else key.rsplit('#', 1)[0]
        skipped.setdefault(unit_key, []).append((key, str(reason)))
    for row, key in enumerate(arrays['unit_keys']):
        key = str(key)
        rows = arrays['entry_unit'] == row
        results[key] = dict(
            feats=arrays['feats'][rows],
            boxes=arrays['boxes'][rows],
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


def build_gallery_index(
        model: nn.Module,
        index_dir: str,
        units: Sequence[Unit],
        checkpoint: Optional[str] = None,
        score_thr: float = 0.5,
        batch_size: int = 4,
        feat_dtype: Optional[str] = None,
        part_units: int = 64,
        max_shard_entries: int = DEFAULT_MAX_SHARD_ENTRIES,
        show_progress: bool = True,
        on_unit_done: Optional[Callable[[int, int], None]] = None) -> dict:
    """Embed the units not yet in an index and add them (creating it).

    Runs in every process of a distributed job (``mmengine.dist``); each
    embeds ``todo[rank::world_size]``.

    Args:
        model (nn.Module): A model from :func:`mmsearch.apis.init_searcher`.
        index_dir (str): The index folder (created when missing; appended
            to otherwise, after checking the model and threshold).
        units (Sequence[Unit]): What to index (see :mod:`.sources`).
        checkpoint (str, optional): The checkpoint file of ``model`` (its
            hash goes into the model signature).
        score_thr (float): Detections scoring below are not stored.
        batch_size (int): Images per forward pass.
        feat_dtype (str, optional): ``'float16'`` (default for a new index)
            or ``'float32'``.
        part_units (int): Units between two checkpoints (parts) of a build.
        max_shard_entries (int): Entries per shard at most.
        show_progress (bool): Progress line on rank 0.
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
    signature = model_signature(model, checkpoint, score_thr)
    parts_dir = osp.join(index_dir, PARTS_DIR)
    todo_box = [None]
    if rank == 0:
        manifest = _prepare_index(index_dir, signature, feat_dtype)
        done = _manifest_unit_keys(index_dir, manifest)
        for part in _valid_parts(parts_dir):
            with np.load(part, allow_pickle=False) as data:
                done.update(str(k) for k in data['unit_keys'])
        todo_box = [[u for u in units if u.key not in done]]
    broadcast_object_list(todo_box, src=0)
    todo = todo_box[0]
    if rank != 0:
        manifest = read_manifest(index_dir)
        check_signature(manifest['model'], signature, index_dir)
    dtype = manifest['feat_dtype']
    dim = int(manifest['model']['embed_dim'])

    mine = todo[rank::world_size]
    embedder = _Embedder(model, score_thr, batch_size)
    progress = Progress(len(todo), show_progress and rank == 0,
                        share=len(mine), world_size=world_size)
    pending, results, finished = [], {}, []
    counts = dict(images=0, skipped=[])

    def run_pending():
        if not pending:
            return
        outs = embedder([item[3] for item in pending])
        for (key, frame, stamp, _), out in zip(pending, outs):
            res = results[key]
            for name in ('feats', 'boxes', 'scores'):
                res[name].append(out[name])
            num = len(out['scores'])
            res['frames'].append(np.full(num, frame, np.int64))
            res['timestamps'].append(np.full(num, stamp, np.float64))
        counts['images'] += len(pending)
        pending.clear()
        progress.update(progress.units, counts['images'])

    def flush_part():
        run_pending()
        if not finished:
            return
        stacked = {}
        for unit in finished:
            res = results.pop(unit.key)
            stacked[unit.key] = dict(
                feats=np.concatenate(res['feats']).reshape(-1, dim)
                if res['feats'] else np.zeros((0, dim), np.float32),
                boxes=np.concatenate(res['boxes']).reshape(-1, 4)
                if res['boxes'] else np.zeros((0, 4), np.float32),
                **{name: np.concatenate(res[name]) if res[name] else
                   np.zeros(0) for name in ('scores', 'frames',
                                            'timestamps')},
                skipped=res['skipped'])
        arrays = _shard_arrays(finished, stacked, dim, dtype)
        name = f'r{rank:03d}-{time.time_ns()}-{os.getpid()}'
        info = write_shard(osp.join(parts_dir, name + '.npz'), arrays)
        atomic_write_json(osp.join(parts_dir, name + '.json'), info)
        finished.clear()

    for done_count, unit in enumerate(mine, start=1):
        results[unit.key] = dict(
            feats=[], boxes=[], scores=[], frames=[], timestamps=[],
            skipped=[])
        for frame, stamp, image in _unit_records(unit):
            if frame is None:
                item = unit.key if unit.kind == 'image' else (
                    f'{unit.key}#{len(results[unit.key]["skipped"])}')
                results[unit.key]['skipped'].append((item, image))
                counts['skipped'].append((item, image))
                continue
            pending.append((unit.key, frame, stamp, image))
            if len(pending) >= batch_size:
                run_pending()
        finished.append(unit)
        if len(finished) >= part_units:
            flush_part()
        progress.update(done_count, counts['images'])
        if on_unit_done is not None:
            on_unit_done(done_count, len(mine))
    flush_part()
    progress.close()

    stats = all_gather_object(
        dict(images=counts['images'], skipped=counts['skipped']))
    barrier()
    entries_added = 0
    if rank == 0:
        manifest, entries_added = _merge_parts(index_dir, manifest, units,
                                               dim, max_shard_entries)
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
