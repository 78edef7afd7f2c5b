"""Draw the annotations of a person-search split to PNG files.

Labelled persons are green with their person_id, unlabelled persons red,
the query box of a query sample yellow. Images are read as stored (the
annotations are in original image coordinates), without the pipeline.

Example::

    python tools/analysis_tools/browse_dataset.py \
        configs/inet/inet_r18_synthetic.py --output-dir work_dirs/browse \
        --split query --max-images 20
"""
import argparse
import os
import os.path as osp

import cv2
import numpy as np
from mmengine.config import Config, DictAction

from mmsearch.registry import DATASETS
from mmsearch.utils import register_all_modules

LABELLED = (0, 200, 0)  # BGR
UNLABELLED = (0, 0, 230)
QUERY = (0, 220, 255)
SPLIT_DATALOADERS = dict(
    train='train_dataloader',
    gallery='test_dataloader',
    query='query_dataloader')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Draw person-search annotations to PNG files.')
    parser.add_argument('config', help='config file')
    parser.add_argument(
        '--output-dir', required=True, help='folder for the PNG files')
    parser.add_argument(
        '--split', choices=tuple(SPLIT_DATALOADERS), default='train')
    parser.add_argument('--max-images', type=int, default=20)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args()


def split_dataset_cfg(cfg: Config, split: str) -> dict:
    """The dataset config of ``split``, unwrapping the pair wrapper."""
    name = SPLIT_DATALOADERS[split]
    if name not in cfg:
        raise KeyError(f'The config has no {name} (needed for --split '
                       f'{split}).')
    dataset_cfg = cfg[name]['dataset']
    while dataset_cfg.get('type') in ('PersonSearchPairDataset',
                                      'mmsearch.PersonSearchPairDataset'):
        dataset_cfg = dataset_cfg['dataset']
    return dataset_cfg


def draw_annotations(image: np.ndarray, data_info: dict) -> np.ndarray:
    """Draw the boxes and ids of one data info on a copy of ``image``.

    Args:
        image (np.ndarray): (H, W, 3) uint8 BGR image.
        data_info (dict): Data info with ``instances`` (and ``query_bbox``,
            ``query_person_id`` for a query sample).

    Returns:
        np.ndarray: The drawn (H, W, 3) uint8 image.
    """
    canvas = image.copy()
    thickness = max(1, round(max(image.shape[:2]) / 400))

    def box(bbox, colour, text, width):
        x1, y1, x2, y2 = (int(round(v)) for v in bbox)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, width)
        cv2.putText(canvas, text, (x1 + 2, max(y1 - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35 * thickness, colour,
                    thickness)

    for instance in data_info['instances']:
        person_id = instance['person_id']
        if person_id >= 0:
            box(instance['bbox'], LABELLED, str(person_id), thickness)
        else:
            box(instance['bbox'], UNLABELLED, 'unl', thickness)
    if 'query_bbox' in data_info:
        box(data_info['query_bbox'], QUERY,
            f'query {data_info["query_person_id"]}', 2 * thickness)
    return canvas


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    register_all_modules()
    dataset_cfg = split_dataset_cfg(cfg, args.split)
    dataset_cfg['pipeline'] = []
    dataset = DATASETS.build(dataset_cfg)
    os.makedirs(args.output_dir, exist_ok=True)
    count = min(args.max_images, len(dataset))
    for index in range(count):
        data_info = dataset.get_data_info(index)
        image = cv2.imread(data_info['img_path'])
        if image is None:
            raise OSError(f'Cannot read image {data_info["img_path"]}.')
        stem = osp.splitext(data_info['img_id'])[0]
        cv2.imwrite(
            osp.join(args.output_dir, f'{index:05d}_{stem}.png'),
            draw_annotations(image, data_info))
    print(f'Wrote {count} images of the {args.split} split to '
          f'{args.output_dir}.')


if __name__ == '__main__':
    main()
