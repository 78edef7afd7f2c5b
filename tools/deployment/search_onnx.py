"""Search a folder of images with the exported ONNX models.

Needs numpy, OpenCV and onnxruntime only (no PyTorch, mmcv or mmdet): the
models and preprocessing come from the folder written by
``tools/deployment/export_onnx.py``. Prints the best matches as
``rank  similarity  score  image  x1 y1 x2 y2``.

Example::

    PYTHONPATH=. python tools/deployment/search_onnx.py work_dirs/onnx \
        --query-image query.jpg --query-box 10 20 60 150 \
        --gallery gallery_folder/ --topk 10
"""
import argparse
import json

from mmsearch.deployment.runtime import (embed_query, init_searcher,
                                         search_gallery)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Person search with the exported ONNX models')
    parser.add_argument('export_dir', help='folder of export_onnx.py')
    parser.add_argument('--query-image',
                        required=True,
                        help='image holding the query')
    parser.add_argument('--query-box',
                        required=True,
                        nargs=4,
                        type=float,
                        metavar=('X1', 'Y1', 'X2', 'Y2'),
                        help='query person box in the query image (pixels)')
    parser.add_argument('--gallery',
                        required=True,
                        help='folder of gallery scene images')
    parser.add_argument('--topk', type=int, default=10)
    parser.add_argument('--score-thr',
                        type=float,
                        default=0.5,
                        help='drop detections scoring below')
    parser.add_argument('--threads', type=int, help='onnxruntime threads')
    parser.add_argument('--json', help='also write the matches to this file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    searcher = init_searcher(args.export_dir, num_threads=args.threads)
    query_feat = embed_query(searcher, args.query_image, args.query_box)
    matches = search_gallery(searcher,
                             query_feat,
                             args.gallery,
                             score_thr=args.score_thr,
                             topk=args.topk)
    for rank, match in enumerate(matches, 1):
        box = ' '.join(f'{v:.1f}' for v in match.bbox)
        print(f'{rank:3d}  {match.similarity:.4f}  {match.score:.3f}  '
              f'{match.img_path}  {box}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump([
                dict(img_path=m.img_path,
                     bbox=[float(v) for v in m.bbox],
                     score=m.score,
                     similarity=m.similarity) for m in matches
            ],
                      f,
                      indent=2)


if __name__ == '__main__':
    main()
