"""Time reading the CUHK-SYSU protocol files, evaluation and start-up.

Writes (once) a full-size CUHK-SYSU in the raw layout under ROOT (18,184
images as real JPEGs, ``Images.mat``, ``pool.mat``, ``Train.mat``,
``TestG50`` ... ``TestG4000.mat`` and the two subsets, compressed in
MATLAB's encoding, plus the metric inputs; the synthetic results of
``benchmark_search_metric.py``) and prints, each figure from a fresh
process:

- reading each protocol file: ``scipy.io.loadmat``, the scipy reader of the
  dataset (the previous release), the lean reader into an empty cache
  (first read) and from the cache (later reads),
- evaluation from cold (gallery 100, nothing cached), warm (each gallery
  size alone, then all together) and before (scipy reader, no cache), and
  whether all give identical numbers,
- dataset start-up (gallery, query and train splits) and the time to read
  the image headers with PIL and from the JPEG SOF segment.

Example::

    python tools/analysis_tools/benchmark_protocol_files.py /tmp/cuhk
"""
import argparse
import json
import os
import os.path as osp
import pickle
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import cv2
import numpy as np
import scipy.io
# the synthetic metric inputs, from the tool beside this one
from benchmark_search_metric import CUHK_SIZES, cuhk_rows, make_problem
from PIL import Image

from mmsearch.datasets import CUHKSYSUDataset
from mmsearch.datasets.image_header import jpeg_size
from mmsearch.datasets.synthetic.cuhk_sysu_writer import \
    write_cuhk_sysu_annotations
from mmsearch.datasets.synthetic.protocol_files import write_protocol_file
from mmsearch.evaluation import PersonSearchMetric
from mmsearch.utils import register_all_modules


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        'root',
        help='folder of the full-size dataset in the raw layout (written '
        'there once, reused when its settings match)')
    parser.add_argument('--feat-dim', type=int, default=256)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--scale',
        type=float,
        default=1.0,
        help='shrink the dataset (images, queries, persons) by this factor')
    parser.add_argument(
        '--no-before',
        action='store_true',
        help='skip scipy.io.loadmat and the scipy reader')
    parser.add_argument(
        '--warm-sizes',
        nargs='+',
        default=[str(s)
                 for s in CUHK_SIZES] + ['full', 'occlusion', 'resolution'],
        help='galleries timed one per process, warm')
    parser.add_argument(
        '--no-images',
        action='store_true',
        help='write no JPEGs, skip the start-up timing')
    # internal: one measurement in a fresh process
    parser.add_argument('--child', help=argparse.SUPPRESS)
    parser.add_argument('--reader', default='lean', help=argparse.SUPPRESS)
    parser.add_argument('--cache-dir', default='none', help=argparse.SUPPRESS)
    parser.add_argument('--child-sizes', nargs='+', help=argparse.SUPPRESS)
    return parser.parse_args()


PROTOCOL_FILES = [
    (size, f'annotation/test/train_test/TestG{size}.mat', f'TestG{size}')
    for size in CUHK_SIZES
] + [('occlusion', 'annotation/test/subset/Occlusion.mat', 'Occlusion1'),
     ('resolution', 'annotation/test/subset/Resolution.mat', 'Test_Size')]
SUBSET_QUERIES = dict(occlusion=187, resolution=290)
NUM_TRAIN_IMAGES, NUM_TRAIN_PERSONS = 11206, 5532
STAMP = 'benchmark_protocol_files.json'


def xywh(box):
    return [box[0], box[1], box[2] - box[0], box[3] - box[1]]


def write_cuhk_files(root, args):
    """Write a full-size CUHK-SYSU under ``root`` (raw layout, MATLAB-style
    compressed protocol files, JPEG images) and the metric inputs.

    Skipped when ``root`` holds files of the same settings already.
    """
    settings = dict(
        seed=args.seed, scale=args.scale, feat_dim=args.feat_dim, version=1)
    stamp = osp.join(root, STAMP)
    if osp.isfile(stamp):
        with open(stamp) as file:
            same = json.load(file) == settings
        images = osp.join(root, 'Image', 'SSM')
        if same and (args.no_images or osp.isdir(images)):
            print(f'reusing the files under {root}')
            return
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    scale = {
        key: max(int(value * args.scale), 4)
        for key, value in dict(
            num_images=6978, num_queries=2900, num_persons=3300).items()
    }
    gallery, queries, person_imgs = make_problem(
        rng, feat_dim=args.feat_dim, protocol_ids=True, **scale)
    lists = cuhk_rows(rng, gallery, queries, person_imgs)
    index = {g['img_id']: i for i, g in enumerate(gallery)}
    query_names = [q['img_id'] for q in queries]
    query_boxes = np.array([xywh(q['query_bbox']) for q in queries])

    train_test = osp.join(root, 'annotation', 'test', 'train_test')
    subset = osp.join(root, 'annotation', 'test', 'subset')
    for folder in (train_test, subset):
        os.makedirs(folder, exist_ok=True)
    for size, relative, key in PROTOCOL_FILES:
        if size in SUBSET_QUERIES:
            num = min(SUBSET_QUERIES[size], len(queries))
            picked = np.sort(rng.choice(len(queries), num, replace=False))
            rows = lists[100][picked]
            boxes = person_boxes_for(rows, picked, gallery, index)
            extra = dict(occlusion=[1.0] *
                         num) if size == 'occlusion' else None
            write_protocol_file(
                osp.join(root,
                         relative), key, [query_names[i] for i in picked],
                query_boxes[picked], rows, boxes, extra)
        else:
            write_protocol_file(
                osp.join(root, relative), key, query_names, query_boxes,
                lists[size],
                person_boxes_for(lists[size], np.arange(len(queries)), gallery,
                                 index))
    # Images.mat, pool.mat, Train.mat (Person.mat is not read by mmsearch)
    images = [(g['img_id'],
               np.array([xywh(b) for b in g['gt_instances']['bboxes']]))
              for g in gallery]
    train_persons = [[] for _ in range(int(NUM_TRAIN_PERSONS * args.scale))]
    for i in range(max(int(NUM_TRAIN_IMAGES * args.scale), 4)):
        name = f'{len(gallery) + i:05d}.jpg'
        num = int(rng.integers(2, 10))
        xy = rng.integers(0, 1000, (num, 2))
        boxes = np.c_[xy, rng.integers(15, 250, (num, 2))].astype(float)
        images.append((name, boxes))
        for box in boxes[rng.random(num) < 0.5]:
            train_persons[int(rng.integers(len(train_persons)))].append(
                (name, box, 0))
    write_cuhk_sysu_annotations(
        root, images, [g['img_id'] for g in gallery],
        [(f'p{i}', rows)
         for i, rows in enumerate(train_persons) if rows], [], {})
    if not args.no_images:
        write_jpegs(
            osp.join(root, 'Image', 'SSM'), [name for name, _ in images], rng)
    with open(osp.join(root, 'results.pkl'), 'wb') as file:
        pickle.dump(dict(gallery=gallery, queries=queries), file)
    with open(stamp, 'w') as file:
        json.dump(settings, file)
    print(f'wrote a full-size CUHK-SYSU ({len(images)} images, '
          f'{len(queries)} queries) under {root} in '
          f'{time.perf_counter() - t0:.0f} s')


def person_boxes_for(rows, picked, gallery, index):
    """Boxes of query ``picked[i]`` in the gallery images of ``rows[i]``."""
    boxes = {}
    for i, (q, row) in enumerate(zip(picked.tolist(), rows)):
        for column, name in enumerate(row.tolist()):
            gt = gallery[index[name]]['gt_instances']
            hit = gt['bboxes'][gt['person_ids'] == q]
            if len(hit):
                boxes[(i, column)] = xywh(hit[0])
    return boxes


def write_jpegs(folder, names, rng):
    """Real JPEG files (a few encoded scenes of CUHK-SYSU's sizes, some with
    an EXIF block, copied to every name)."""
    os.makedirs(folder, exist_ok=True)
    encoded = []
    for height, width in [(600, 800), (800, 600), (480, 640), (768, 1024),
                          (540, 960), (375, 500), (1080, 1920), (450, 800)]:
        y, x = np.mgrid[:height, :width]
        image = np.stack([(x * 255 // width), (y * 255 // height),
                          (x + y) % 256], -1).astype(np.uint8)
        for _ in range(20):  # some structure: grey blocks
            x0, y0 = rng.integers(0, width - 40), rng.integers(0, height - 80)
            image[y0:y0 + 80, x0:x0 + 40] = rng.integers(0, 255)
        ok, data = cv2.imencode('.jpg', image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        assert ok
        data = data.tobytes()
        encoded.append(data)
        # the same scene with an EXIF APP1 segment after SOI
        exif = b'Exif\0\0' + bytes(4000)
        encoded.append(data[:2] + b'\xff\xe1' +
                       (len(exif) + 2).to_bytes(2, 'big') + exif + data[2:])
    for i, name in enumerate(names):
        with open(osp.join(folder, name), 'wb') as file:
            file.write(encoded[i % len(encoded)])


def child_main(args):
    """One measurement in a fresh process; prints one JSON line per
    result."""

    def emit(**record):
        print('RESULT ' + json.dumps(record), flush=True)

    root = args.root
    cache = None if args.cache_dir == 'none' else args.cache_dir
    if args.child == 'loadmat':
        for name, relative, key in PROTOCOL_FILES:
            path = osp.join(root, relative)
            needed, available = memory_needed(path), memory_available()
            if needed > 0.8 * available:
                emit(
                    what='loadmat',
                    name=str(name),
                    skipped=f'needs ~{needed / 2**30:.0f} GiB, '
                    f'{available / 2**30:.0f} GiB available',
                    mb=osp.getsize(path) / 2**20)
                continue
            t0 = time.perf_counter()
            scipy.io.loadmat(path, variable_names=[key])  # freed at once
            emit(
                what='loadmat',
                name=str(name),
                seconds=time.perf_counter() - t0,
                mb=osp.getsize(path) / 2**20)
        return
    register_all_modules()

    def dataset(split='query'):
        return CUHKSYSUDataset(
            split=split,
            data_root=root,
            cache_dir=cache,
            protocol_reader=args.reader,
            lazy_init=True)

    if args.child == 'read':
        for name, relative, _ in PROTOCOL_FILES:
            needed = memory_needed(osp.join(root, relative))
            if args.reader == 'scipy' and needed > 0.8 * memory_available():
                emit(what='read', name=str(name), skipped='memory')
                continue
            t0 = time.perf_counter()
            dataset().get_gallery_protocol(name)
            emit(what='read', name=str(name), seconds=time.perf_counter() - t0)
        return
    if args.child == 'startup':
        for split in ('gallery', 'query', 'train'):
            t0 = time.perf_counter()
            data = dataset(split)
            data.full_init()
            seconds = time.perf_counter() - t0
            emit(
                what='startup',
                name=split,
                samples=len(data),
                images=len({
                    data.get_data_info(i)['img_id']
                    for i in range(len(data))
                }),
                seconds=seconds)
        files = sorted(glob_images(osp.join(root, 'Image', 'SSM')))
        for reader in ('PIL', 'SOF'):
            t0 = time.perf_counter()
            for path in files:
                if reader == 'PIL':
                    with Image.open(path) as image:
                        image.size
                else:
                    jpeg_size(path)
            emit(
                what='headers',
                name=reader,
                images=len(files),
                seconds=time.perf_counter() - t0)
        return
    # evaluation: the metric on the saved inputs, protocol from the files
    with open(osp.join(root, 'results.pkl'), 'rb') as file:
        inputs = pickle.load(file)
    sizes = [int(s) if s.isdigit() else s for s in args.child_sizes]
    metric = PersonSearchMetric(gallery_sizes=sizes)
    metric.process({}, inputs['gallery'])
    metric.process({}, inputs['queries'])
    t0 = time.perf_counter()
    query_set = dataset()
    metric.dataset_meta = dict(
        dataset_name='cuhk_sysu',
        gallery_protocol=query_set.get_gallery_protocol,
        num_gallery_images=len(inputs['gallery']),
        num_queries=len(inputs['queries']))
    values = metric.compute_metrics(metric.results)
    emit(
        what='eval',
        name='+'.join(map(str, sizes)),
        seconds=time.perf_counter() - t0,
        metrics={k: v
                 for k, v in values.items() if 'mAP' in k or 'top1' in k})


def memory_needed(path):
    """Rough peak memory of ``scipy.io.loadmat`` on a protocol file: 6.5
    times its uncompressed size (measured: 1.7 GB for a TestG500.mat of
    279 MB uncompressed)."""
    with open(path, 'rb') as file:
        data = file.read()
    pos, total = 128, 0
    while pos + 8 <= len(data):
        mi_type, nbytes = struct.unpack_from('<II', data, pos)
        start, pos = pos + 8, pos + 8 + nbytes
        if mi_type == 15:  # miCOMPRESSED: count the inflated bytes
            inflater = zlib.decompressobj()
            for at in range(start, pos, 1 << 24):
                total += len(
                    inflater.decompress(data[at:min(at + (1 << 24), pos)]))
        else:
            total += nbytes
    return 6.5 * total


def memory_available():
    """MemAvailable of /proc/meminfo in bytes (inf when unknown)."""
    try:
        with open('/proc/meminfo') as file:
            for line in file:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return float('inf')


def glob_images(folder):
    return [
        entry.path for entry in os.scandir(folder)
        if entry.name.endswith('.jpg')
    ]


def run_child(args, mode, reader='lean', cache='none', sizes=()):
    """Run :func:`child_main` in a fresh interpreter; return its records."""
    command = [
        sys.executable, __file__, args.root, '--child', mode, '--reader',
        reader, '--cache-dir', cache, '--seed',
        str(args.seed), '--scale',
        str(args.scale), '--feat-dim',
        str(args.feat_dim)
    ] + (['--child-sizes'] + [str(s) for s in sizes] if sizes else [])
    t0 = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        print(f'WARNING: {" ".join(command[2:])} failed (exit '
              f'{result.returncode}); its results so far are kept:\n'
              f'{result.stderr[-2000:]}')
    records = [
        json.loads(line[len('RESULT '):])
        for line in result.stdout.splitlines() if line.startswith('RESULT ')
    ]
    for record in records:
        record['process_seconds'] = time.perf_counter() - t0
    return records


def protocol_file_benchmark(args):
    """Cold / warm evaluation and protocol reading on real-size files."""
    print(f'\n== CUHK-SYSU protocol files under {args.root} (raw '
          'layout, TestG50..TestG4000 + subsets)')
    write_cuhk_files(args.root, args)
    work = tempfile.mkdtemp(prefix='mmsearch_bench_cache_')
    cold_cache = osp.join(work, 'cold')
    warm_cache = osp.join(work, 'warm')
    start_cache = osp.join(work, 'start')
    try:
        reads = {}
        if not args.no_before:
            for r in run_child(args, 'loadmat'):
                reads.setdefault(r['name'], {}).update(
                    loadmat=r.get('seconds', np.nan), mb=r['mb'])
                if 'skipped' in r:
                    print(f'loadmat of {r["name"]} skipped: {r["skipped"]}')
            for r in run_child(args, 'read', 'scipy'):
                reads.setdefault(r['name'],
                                 {})['before'] = r.get('seconds', np.nan)
        for r in run_child(args, 'read', 'lean', warm_cache):
            reads.setdefault(r['name'], {})['first'] = r['seconds']
        for r in run_child(args, 'read', 'lean', warm_cache):
            reads.setdefault(r['name'], {})['cached'] = r['seconds']
        print('\nreading each protocol file, each column a fresh process; '
              '"before" = the scipy reader (get_gallery_protocol of the '
              'previous release), "first read" = lean reader into an empty '
              'cache, "cached" = a later process')
        header = (f'{"file":>11} {"MB":>7} {"loadmat s":>10} '
                  f'{"before s":>9} {"first read s":>13} {"cached s":>9} '
                  f'{"loadmat/first":>14}')
        print(header)
        for name, row in reads.items():
            ratio = row.get('loadmat', np.nan) / row.get('first', np.nan)
            print(f'{name:>11} {row.get("mb", np.nan):7.1f} '
                  f'{row.get("loadmat", np.nan):10.2f} '
                  f'{row.get("before", np.nan):9.2f} '
                  f'{row.get("first", np.nan):13.2f} '
                  f'{row.get("cached", np.nan):9.3f} {ratio:13.1f}x')
        for label, names in (('all', list(reads)), ('all loadmat read', [
                n for n, row in reads.items()
                if np.isfinite(row.get('loadmat', np.nan))
        ])):
            if not names:
                continue
            total = {
                key: sum(reads[n].get(key, np.nan) for n in names)
                for key in ('loadmat', 'before', 'first', 'cached')
            }
            print(f'{label:>16} {total["loadmat"]:7.2f} '
                  f'{total["before"]:9.2f} {total["first"]:13.2f} '
                  f'{total["cached"]:9.3f} '
                  f'{total["loadmat"] / total["first"]:13.1f}x')

        print('\nevaluation (PersonSearchMetric.compute_metrics incl. '
              'reading the protocol), each row a fresh process:')
        rows = []
        if not args.no_before:
            rows.append(
                ('cold, before (scipy, no cache)', 'scipy', 'none', [100]))
        rows.append(('cold, lean, empty cache', 'lean', cold_cache, [100]))
        warm = [[int(s) if s.isdigit() else s] for s in args.warm_sizes]
        rows += [(f'warm (cache), gallery {s[0]}', 'lean', warm_cache, s)
                 for s in warm]
        rows.append(('warm (cache), all together', 'lean', warm_cache,
                     list(CUHK_SIZES) + ['full', 'occlusion', 'resolution']))
        if not args.no_before:
            rows += [(f'before (scipy), gallery {s}', 'scipy', 'none', [s])
                     for s in (500, 'occlusion')]
        results = {}
        for label, reader, cache, sizes in rows:
            records = run_child(args, 'eval', reader, cache, sizes)
            if not records:
                print(f'  {label:<40} failed')
                continue
            record = records[0]
            results[label] = record
            print(f'  {label:<40} {record["seconds"]:7.2f} s')
        by_key = {}
        for record in results.values():
            for key, value in record['metrics'].items():
                by_key.setdefault(key, set()).add(round(value, 12))
        print('numbers identical across readers / cache / runs: '
              f'{all(len(v) == 1 for v in by_key.values())} '
              f'({len(by_key)} metric keys)')
        if not args.no_images:
            print('\ndataset start-up (full_init, fresh process):')
            runs = [('lean', start_cache, 'lean, nothing cached'),
                    ('lean', start_cache, 'lean, protocol cache warm')]
            if not args.no_before:
                runs.append(('scipy', 'none', 'before (scipy, no cache)'))
            for run, (reader, cache, label) in enumerate(runs):
                for r in run_child(args, 'startup', reader, cache):
                    if r['what'] == 'startup':
                        print(f'  {r["name"]:>8} split, {label:<26} '
                              f'{r["seconds"]:6.2f} s ({r["samples"]} '
                              f'samples, {r["images"]} images)')
                    elif run == 0:
                        print(f'  image headers, {r["name"]:>3}: '
                              f'{r["seconds"]:6.2f} s for {r["images"]} '
                              'JPEGs')
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    args = parse_args()
    if args.child:
        child_main(args)
    else:
        protocol_file_benchmark(args)


if __name__ == '__main__':
    main()
