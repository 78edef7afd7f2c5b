"""Search a folder of images with the exported ONNX models.

Needs numpy, OpenCV and onnxruntime only (no PyTorch, mmcv or mmdet): the
models and preprocessing come from the folder written by
``tools/deployment/export_onnx.py``. The flags are those of
``search_demo.py`` (the PyTorch search of a folder) where they mean the
same; prints the same table of the best matches.

Example::

    PYTHONPATH=. python tools/search/search_onnx.py work_dirs/onnx \
        --query-image query.jpg --query-box 10 20 60 150 \
        --gallery gallery_folder/ --topk 10 --out-json matches.json
"""
import argparse
import json
from typing import Optional, Sequence

from mmsearch.cli import add_gallery_args, add_query_args, run_cli
from mmsearch.deployment.runtime import (embed_query, init_searcher,
                                         search_gallery)
from mmsearch.structures import format_matches


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Person search with the exported ONNX models')
    parser.add_argument('export_dir', help='folder of export_onnx.py')
    add_query_args(parser)
    add_gallery_args(parser)
    parser.add_argument('--threads', type=int, help='onnxruntime threads')
    args = parser.parse_args(argv)
    if args.topk < 1:
        parser.error(f'--topk must be >= 1, got {args.topk}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    searcher = init_searcher(args.export_dir, num_threads=args.threads)
    query_feat = embed_query(searcher, args.query_image, args.query_box)
    skipped = []
    matches = search_gallery(
        searcher,
        query_feat,
        args.gallery,
        score_thr=args.score_thr,
        topk=args.topk,
        skipped=skipped)
    print(format_matches(matches))
    for _, reason in skipped:
        print(f'skipped: {reason}')
    if args.out_json:
        with open(args.out_json, 'w', encoding='utf-8') as f:
            json.dump([m.to_dict() for m in matches], f, indent=2)


if __name__ == '__main__':
    run_cli(main)
