"""Search a gallery index (built by tools/index/build_index.py).

The query is a person box in an image (embedded with the index's model:
give its config and checkpoint), an entry of the index, or a stored
feature (.npy). Prints the ranked people, and writes them as JSON and as a
drawn sheet of crops with their source and time.

Examples:
    python tools/search/search_index.py gallery.idx --config CONFIG \
        --checkpoint CHECKPOINT --query-image q.jpg --query-box 10 20 60 150 \
        --topk 20 --dedup image --out-json results.json --out-sheet hits.png
    python tools/search/search_index.py gallery.idx --entry 42 \
        --cameras cam1 cam2 --time-range 0 600 --dedup window --window 5
    python tools/search/search_index.py gallery.idx --feature person.npy

The flags are those of ``search_demo.py`` and ``search_onnx.py`` where they
mean the same (``--query-image``, ``--query-box``, ``--topk``,
``--out-json``, ``--out-sheet``, ``--device``, ``--cfg-options``).
"""
import argparse
import json
import time
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsearch.apis import init_searcher, load_index, search_index
from mmsearch.cli import run_cli
from mmsearch.fileio import read_image
from mmsearch.index import draw_index_results, entry_image
from mmsearch.utils import register_all_modules
from mmsearch.visualization import crop_box


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Search a gallery index')
    parser.add_argument('index', help='index folder')
    query = parser.add_mutually_exclusive_group(required=True)
    query.add_argument('--query-image', help='image holding the query')
    query.add_argument(
        '--entry', type=int, help='query with this entry of the index')
    query.add_argument(
        '--feature', help='query with a stored (D,) feature (.npy)')
    parser.add_argument(
        '--query-box',
        nargs=4,
        type=float,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='query person box in --query-image (pixels)')
    parser.add_argument('--config', help='model config (image queries)')
    parser.add_argument(
        '--checkpoint', help='model checkpoint (image queries)')
    parser.add_argument(
        '--topk', type=int, default=10, help='results to print and write')
    parser.add_argument(
        '--method', choices=['auto', 'exact', 'ann'], default='auto')
    parser.add_argument('--ann-kind', choices=['ivf', 'hnsw'], default='ivf')
    parser.add_argument(
        '--gpu',
        action='store_true',
        help='search on the GPUs (needs GPU faiss: the IVF index and the '
        'exact scan move there)')
    parser.add_argument(
        '--dedup',
        choices=['none', 'image', 'window'],
        default='none',
        help='one best box per image (or video frame), or per video time '
        'window')
    parser.add_argument(
        '--window', type=float, default=1.0, help='window length (s)')
    parser.add_argument('--cameras', nargs='+', help='keep these cameras')
    parser.add_argument('--videos', nargs='+', help='keep these videos')
    parser.add_argument(
        '--time-range',
        nargs=2,
        type=float,
        metavar=('START', 'END'),
        help='keep video frames within these seconds')
    parser.add_argument('--out-json', help='write the results here')
    parser.add_argument('--out-sheet', help='draw the results into this PNG')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the shard checksums when loading')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs')
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if args.query_image is not None and (args.query_box is None
                                         or args.config is None):
        parser.error('--query-image needs --query-box and --config '
                     '(and --checkpoint unless the index was built with '
                     'initialised weights)')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    index = load_index(args.index, verify=not args.no_verify)
    model = None
    if args.query_image is not None:
        model = init_searcher(args.config, args.checkpoint, args.device,
                              args.cfg_options)
    start = time.perf_counter()
    results = search_index(
        index,
        model=model,
        image=args.query_image,
        box=args.query_box,
        entry_id=args.entry,
        feature=args.feature,
        topk=args.topk,
        method=args.method,
        dedup=None if args.dedup == 'none' else args.dedup,
        window=args.window,
        cameras=args.cameras,
        videos=args.videos,
        time_range=args.time_range,
        ann_kind=args.ann_kind,
        use_gpu=args.gpu)
    seconds = time.perf_counter() - start
    print(f'{len(index)} people in the index; {len(results)} results in '
          f'{seconds * 1000:.1f} ms (including the query embedding)')
    print(f'{"rank":>4}  {"sim":>7}  {"entry":>7}  {"frame":>6}  '
          f'{"time":>8}  source')
    for res in results:
        frame = '' if res['frame'] is None else res['frame']
        stamp = '' if res['timestamp'] is None else f'{res["timestamp"]:.2f}'
        print(f'{res["rank"]:>4}  {res["similarity"]:>7.4f}  '
              f'{res["entry_id"]:>7}  {frame:>6}  {stamp:>8}  '
              f'{res["source"]}')
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as file:
            json.dump(
                dict(
                    index=args.index,
                    query=dict(
                        image=args.query_image,
                        box=args.query_box,
                        entry=args.entry,
                        feature=args.feature),
                    results=results),
                file,
                indent=1)
        print(f'results written to {args.out_json}')
    if args.out_sheet:
        crop = None
        if args.query_image is not None:
            crop = crop_box(read_image(args.query_image), args.query_box)
        elif args.entry is not None:
            entry = index.entry(args.entry)
            crop = crop_box(entry_image(entry), entry['box'])
        draw_index_results(results, args.out_sheet, query_crop=crop)
        print(f'results drawn to {args.out_sheet}')


if __name__ == '__main__':
    run_cli(main)
