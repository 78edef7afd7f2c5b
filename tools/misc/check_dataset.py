"""Validate person-search JSON annotation files and print statistics.

For each file: images, boxes (labelled / unlabelled / ignored), identities,
appearances per identity, boxes per image, cameras, queries and gallery
lists, then every problem found with the entry that has it. Exits with 1
if a file has errors (it would not load), 0 otherwise.

Example::

    python tools/misc/check_dataset.py data/mine/annotations/train.json \
        data/mine/annotations/test.json --img-dir data/mine/images
"""
import argparse
import os.path as osp
import sys
from collections import Counter
from typing import List

import numpy as np

from mmsearch.datasets.person_search_json import (Problem,
                                                  load_annotation_file,
                                                  parse_annotations)
from mmsearch.datasets.raw_io import DatasetLayoutError, read_image_size


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('ann_files', nargs='+', help='JSON annotation files')
    parser.add_argument(
        '--img-dir',
        default=None,
        help='image folder that file_name is relative to: check that every '
        'image exists and has the height and width of its entry')
    parser.add_argument(
        '--max-problems',
        type=int,
        default=20,
        help='problems printed per file (all are counted)')
    return parser.parse_args()


def spread(values: List[int]) -> str:
    """``min / median / mean / max`` of counts."""
    if not values:
        return '-'
    values = np.asarray(values)
    return (f'min {values.min()}, median {np.median(values):g}, mean '
            f'{values.mean():.2f}, max {values.max()}')


def statistics(parsed) -> List[str]:
    """Lines of statistics of a parsed annotation file."""
    boxes = [ann for anns in parsed.boxes.values() for ann in anns]
    labelled = [ann for ann in boxes if ann['person_id'] >= 0]
    images_of = {}
    for image_id, anns in parsed.boxes.items():
        for pid in {ann['person_id'] for ann in anns if ann['person_id'] >= 0}:
            images_of.setdefault(pid, set()).add(image_id)
    appearances = [len(images) for images in images_of.values()]
    per_image = [len(parsed.boxes[image['id']]) for image in parsed.images]
    cams = Counter(image['cam_id'] for image in parsed.images
                   if 'cam_id' in image)
    videos = {
        image['video_id']
        for image in parsed.images if 'video_id' in image
    }
    lines = [
        f'images: {len(parsed.images)} ({sum(n == 0 for n in per_image)} '
        'without boxes)',
        f'boxes: {len(boxes)} ({len(labelled)} labelled, '
        f'{len(boxes) - len(labelled)} unlabelled, '
        f'{sum(bool(a.get("ignore", 0)) for a in boxes)} ignored, '
        f'{parsed.num_dropped} empty left out)',
        f'identities: {len(images_of)} ({sum(n == 1 for n in appearances)} '
        'seen in one image only)',
        f'appearances per identity (images): {spread(appearances)}',
        f'boxes per image: {spread(per_image)}',
        'cameras: ' +
        (', '.join(f'{cam}: {n} images'
                   for cam, n in sorted(cams.items())) if cams else 'none'),
    ]
    if videos:
        lines.append(f'videos: {len(videos)}')
    if parsed.queries:
        without = sum(
            not (images_of.get(q['person_id'], set()) - {q['image_id']})
            for q in parsed.queries)
        lines.append(
            f'queries: {len(parsed.queries)} of '
            f'{len({q["person_id"] for q in parsed.queries})} persons '
            f'({without} whose person is in no other image)')
    for name, items in parsed.galleries.items():
        sizes = sorted({len(item['image_ids']) for item in items})
        lines.append(f'gallery list "{name}": {len(items)} queries x '
                     f'{"/".join(map(str, sizes))} images')
    if not parsed.queries:
        lines.append('queries: none (a train file)')
    return lines


def check_images(parsed, img_dir: str) -> List[Problem]:
    """Problems with the image files: missing, unreadable, other size."""
    problems = []
    for index, image in enumerate(parsed.images):
        path = osp.join(img_dir, image['file_name'])
        where = f'images[{index}] (id {image["id"]})'
        try:
            height, width = read_image_size(path)
        except DatasetLayoutError as error:
            problems.append(Problem('error', where, str(error)))
            continue
        if (height, width) != (image['height'], image['width']):
            problems.append(
                Problem(
                    'error', where,
                    f'"{path}" is {width} x {height} pixels; the entry says '
                    f'{image["width"]} x {image["height"]}'))
    return problems


def check_file(path: str, img_dir: str, max_problems: int) -> bool:
    """Print the report of one file; return whether it has no errors."""
    print(f'== {path}')
    try:
        content = load_annotation_file(path)
    except DatasetLayoutError as error:
        print(f'error: {error}')
        return False
    parsed = parse_annotations(content)
    if img_dir is not None:
        parsed.problems.extend(check_images(parsed, img_dir))
    for line in statistics(parsed):
        print(f'  {line}')
    errors = parsed.errors
    warnings = len(parsed.problems) - len(errors)
    print(f'  problems: {len(errors)} error(s), {warnings} warning(s)')
    for problem in parsed.problems[:max_problems]:
        print(f'  {path}: {problem}')
    if len(parsed.problems) > max_problems:
        print(f'  ... {len(parsed.problems) - max_problems} more '
              '(--max-problems)')
    return not errors


def main() -> None:
    args = parse_args()
    results = [
        check_file(path, args.img_dir, args.max_problems)
        for path in args.ann_files
    ]
    if not all(results):
        print('Some files have errors: they would not load.')
        sys.exit(1)
    print('OK: every file loads.')


if __name__ == '__main__':
    main()
