"""Generate a synthetic person-search dataset in the raw CUHK-SYSU and/or
PRW layout (readable by CUHKSYSUDataset / PRWDataset unchanged).

Example::

    python tools/misc/make_synthetic_dataset.py data/synthetic
    python tools/misc/make_synthetic_dataset.py data/synth --format both \
        --train-ids 10 --test-ids 5 --train-images 20 --test-images 60 \
        --image-size 128 96
"""
import argparse
import json
import time

from mmsearch.datasets.synthetic import (FORMATS, SyntheticConfig,
                                         make_synthetic_dataset)


def parse_args() -> argparse.Namespace:
    defaults = SyntheticConfig()
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('out_dir', help='folder to write the dataset into')
    parser.add_argument(
        '--format',
        choices=FORMATS,
        default='cuhk_sysu',
        help='raw layout; "both" writes OUT/cuhk_sysu and '
        'OUT/prw')
    parser.add_argument(
        '--train-ids', type=int, default=defaults.num_train_ids)
    parser.add_argument(
        '--test-ids',
        type=int,
        default=defaults.num_test_ids,
        help='test identities = number of queries')
    parser.add_argument(
        '--train-images', type=int, default=defaults.num_train_images)
    parser.add_argument(
        '--test-images',
        type=int,
        default=defaults.num_test_images,
        help='gallery images (at least 51)')
    parser.add_argument(
        '--image-size',
        type=int,
        nargs=2,
        default=defaults.image_size,
        metavar=('WIDTH', 'HEIGHT'))
    parser.add_argument(
        '--max-labelled', type=int, default=defaults.max_labelled)
    parser.add_argument(
        '--max-distractors', type=int, default=defaults.max_distractors)
    parser.add_argument(
        '--occlusion-prob', type=float, default=defaults.occlusion_prob)
    parser.add_argument(
        '--gallery-sizes', type=int, nargs='+', default=defaults.gallery_sizes)
    parser.add_argument('--seed', type=int, default=defaults.seed)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    config = SyntheticConfig(
        num_train_ids=args.train_ids,
        num_test_ids=args.test_ids,
        num_train_images=args.train_images,
        num_test_images=args.test_images,
        image_size=tuple(args.image_size),
        max_labelled=args.max_labelled,
        max_distractors=args.max_distractors,
        occlusion_prob=args.occlusion_prob,
        gallery_sizes=tuple(args.gallery_sizes),
        seed=args.seed)
    start = time.time()
    counts = make_synthetic_dataset(args.out_dir, config, args.format)
    print(json.dumps(counts, indent=2))
    print(f'Wrote {args.format} layout to {args.out_dir} in '
          f'{time.time() - start:.1f} s.')


if __name__ == '__main__':
    main()
