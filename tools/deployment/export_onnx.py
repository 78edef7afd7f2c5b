"""Export a person-search model to ONNX: a gallery and a query model.

Writes ``OUT_DIR/gallery.onnx`` (image -> boxes, scores and embeddings of
every detected person), ``OUT_DIR/query.onnx`` (image and boxes ->
embeddings) and ``OUT_DIR/deploy.json`` (the preprocessing, also stored in
each model's metadata). Standard ONNX operators only: stock onnxruntime
runs them, see ``mmsearch.deployment.runtime`` (no mmcv needed there).

Example::

    python tools/deployment/export_onnx.py \
        configs/dcinet/dcinet_r50_cuhk.py dcinet_r50_cuhk.pth \
        --out-dir work_dirs/dcinet_onnx
"""
import argparse
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsearch.apis import init_searcher
from mmsearch.cli import run_cli
from mmsearch.deployment.export import export_onnx
from mmsearch.utils import register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Export the gallery and query paths to ONNX')
    parser.add_argument('config', help='model config file')
    parser.add_argument(
        'checkpoint', help='checkpoint file ("none": initialised weights)')
    parser.add_argument(
        '--out-dir', default='work_dirs/onnx', help='output folder')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. '
        'model.test_cfg.rcnn.score_thr=0.3')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules()
    checkpoint = None if args.checkpoint == 'none' else args.checkpoint
    model = init_searcher(
        args.config, checkpoint, device='cpu', cfg_options=args.cfg_options)
    paths = export_onnx(model, args.out_dir)
    for kind in ('gallery', 'query', 'deploy'):
        print(f'{kind}: {paths[kind]}')


if __name__ == '__main__':
    run_cli(main)
