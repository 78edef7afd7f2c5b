"""Search a folder of scene images for the person in a query box.

Every person detected in the gallery images is ranked by similarity to the
query; the best ``--topk`` are printed and drawn into one PNG (the query
crop, then the ranked matches with their similarity).

Example:
    python tools/search_demo.py configs/dcinet/dcinet_r18_synthetic.py \
        work_dirs/dcinet_r18_synthetic/epoch_4.pth \
        --query-image data/synthetic/Image/SSM/s1.jpg \
        --query-box 10 20 60 150 --gallery data/synthetic/Image/SSM \
        --out-file outputs/search.png
"""
import argparse
import os.path as osp

from mmengine.config import DictAction

from mmsearch.apis import (clip_query_box, embed_query, init_searcher,
                           search_gallery)
from mmsearch.datasets.raw_io import read_image_size
from mmsearch.utils import register_all_modules
from mmsearch.visualization import draw_search_results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Person search demo')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--query-image', required=True, help='image holding the query')
    parser.add_argument(
        '--query-box',
        required=True,
        nargs=4,
        type=float,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='query person box in the query image (pixels)')
    parser.add_argument(
        '--gallery', required=True, help='folder of gallery scene images')
    parser.add_argument(
        '--topk', type=int, default=10, help='matches to print and draw')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='drop gallery detections scoring below this')
    parser.add_argument(
        '--out-file', default='search_result.png', help='output PNG')
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
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.topk < 1:
        raise ValueError(f'--topk must be >= 1, got {args.topk}')
    if not osp.isfile(args.query_image):
        raise FileNotFoundError(f'query image "{args.query_image}" not found')
    register_all_modules()
    model = init_searcher(
        args.config,
        args.checkpoint,
        args.device,
        args.cfg_options,
        strict=not args.allow_partial_checkpoint)
    query_box = clip_query_box(args.query_box,
                               read_image_size(args.query_image),
                               args.query_image).tolist()
    query_feat = embed_query(model, args.query_image, query_box)
    skipped = []
    matches = search_gallery(
        model,
        query_feat,
        args.gallery,
        score_thr=args.score_thr,
        topk=args.topk,
        skipped=skipped)
    print(f'{"rank":>4}  {"similarity":>10}  {"score":>6}  box (x1 y1 x2 y2)'
          '  image')
    for rank, match in enumerate(matches, start=1):
        box = ' '.join(f'{v:.0f}' for v in match.bbox)
        print(f'{rank:>4}  {match.similarity:>10.4f}  {match.score:>6.3f}  '
              f'{box:<17}  {match.img_path}')
    if not matches:
        print(f'no detection scored >= {args.score_thr} in {args.gallery}')
    for _, reason in skipped:
        print(f'skipped: {reason}')
    draw_search_results(args.query_image, query_box, matches, args.out_file)
    print(f'drawn to {args.out_file}')


if __name__ == '__main__':
    main()
