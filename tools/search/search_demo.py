"""Search a folder of scene images for the person in a query box (PyTorch).

Every person detected in the gallery images is ranked by similarity to the
query; the best ``--topk`` are printed, and drawn into one PNG (the query
crop, then the ranked matches with their similarity). The flags are those
of ``search_onnx.py`` and ``search_index.py`` where they mean the same.

Example:
    python tools/search/search_demo.py \
        configs/dcinet/dcinet_r18_synthetic.py \
        work_dirs/dcinet_r18_synthetic/epoch_4.pth \
        --query-image data/synthetic/Image/SSM/s1.jpg \
        --query-box 10 20 60 150 --gallery data/synthetic/Image/SSM \
        --out-sheet outputs/search.png
"""
import argparse
import json
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsearch.apis import embed_query, init_searcher, search_gallery
from mmsearch.cli import add_gallery_args, add_query_args, run_cli
from mmsearch.fileio import read_image
from mmsearch.structures import clip_query_box, format_matches
from mmsearch.utils import register_all_modules
from mmsearch.visualization import draw_search_results


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Person search demo')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', help='checkpoint file ("none": initialised weights)')
    add_query_args(parser)
    add_gallery_args(parser)
    parser.add_argument(
        '--out-sheet',
        '--out-file',
        dest='out_sheet',
        default='search_result.png',
        help='draw the query and the matches into this PNG')
    parser.add_argument(
        '--batch-size', type=int, default=1, help='images per forward pass')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--allow-partial-checkpoint',
        action='store_true',
        help='load a checkpoint that does not fit the config (missing, '
        'extra or differently shaped tensors); the unmatched tensors keep '
        'their initial values, so the ranking is not meaningful')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs')
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    if args.batch_size < 1:
        parser.error(f'--batch-size must be >= 1, got {args.batch_size}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    query_image = read_image(args.query_image)
    query_box = clip_query_box(args.query_box, query_image.shape[:2],
                               args.query_image).tolist()
    register_all_modules()
    model = init_searcher(
        args.config,
        None if args.checkpoint.lower() == 'none' else args.checkpoint,
        args.device,
        args.cfg_options,
        strict=not args.allow_partial_checkpoint)
    query_feat = embed_query(model, args.query_image, query_box)
    skipped = []
    matches = search_gallery(
        model,
        query_feat,
        args.gallery,
        score_thr=args.score_thr,
        topk=args.topk,
        skipped=skipped,
        batch_size=args.batch_size)
    print(format_matches(matches))
    if not matches:
        print(f'no detection scored >= {args.score_thr} in {args.gallery}')
    for _, reason in skipped:
        print(f'skipped: {reason}')
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump([m.to_dict() for m in matches], f, indent=2)
    draw_search_results(query_image, query_box, matches, args.out_sheet)
    print(f'drawn to {args.out_sheet}')


if __name__ == '__main__':
    run_cli(main)
