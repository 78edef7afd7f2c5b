"""Generate a synthetic person-search dataset in the raw CUHK-SYSU and/or
PRW layout (readable by CUHKSYSUDataset / PRWDataset unchanged).

Example::

    python tools/misc/make_synthetic_dataset.py data/synthetic
    python tools/misc/make_synthetic_dataset.py data/synthetic_bench \
        --preset benchmark
    python tools/misc/make_synthetic_dataset.py data/synth --format both \
        --train-ids 10 --test-ids 5 --train-images 20 --test-images 60 \
        --image-size 128 96
"""
import argparse
import json
import sys
import time

from mmsearch.datasets.synthetic import (FORMATS, PRESETS,
                                         make_synthetic_dataset, preset_config)

# CLI flag -> SyntheticConfig field
FIELDS = dict(
    train_ids='num_train_ids',
    test_ids='num_test_ids',
    train_images='num_train_images',
    test_images='num_test_images',
    image_size='image_size',
    max_labelled='max_labelled',
    max_distractors='max_distractors',
    occlusion_prob='occlusion_prob',
    person_height='person_height',
    confuser_prob='confuser_prob',
    camera_shift='camera_shift',
    gallery_sizes='gallery_sizes',
    seed='seed')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        epilog='Flags left out take the value of --preset: ' +
        '; '.join(f'{name}: {values or "the defaults"}'
                  for name, values in PRESETS.items()))
    parser.add_argument('out_dir', help='folder to write the dataset into')
    parser.add_argument(
        '--preset',
        choices=sorted(PRESETS),
        default='quickstart',
        help='named settings: "quickstart" (the quick start\'s small set) '
        'or "benchmark" (the method study\'s harder, larger set)')
    parser.add_argument(
        '--format',
        choices=FORMATS,
        default='cuhk_sysu',
        help='raw layout; "both" writes OUT/cuhk_sysu and '
        'OUT/prw')
    parser.add_argument('--train-ids', type=int)
    parser.add_argument(
        '--test-ids', type=int, help='test identities = number of queries')
    parser.add_argument('--train-images', type=int)
    parser.add_argument(
        '--test-images', type=int, help='gallery images (at least 51)')
    parser.add_argument(
        '--image-size', type=int, nargs=2, metavar=('WIDTH', 'HEIGHT'))
    parser.add_argument('--max-labelled', type=int)
    parser.add_argument('--max-distractors', type=int)
    parser.add_argument('--occlusion-prob', type=float)
    parser.add_argument(
        '--person-height',
        type=float,
        nargs=2,
        metavar=('LOW', 'HIGH'),
        help='person heights as fractions of the image height')
    parser.add_argument(
        '--confuser-prob',
        type=float,
        help='chance that an unlabelled person wears the colours of a '
        'labelled one')
    parser.add_argument(
        '--camera-shift',
        type=float,
        help='per-image colour, exposure, gamma and blur changes (0: none)')
    parser.add_argument('--gallery-sizes', type=int, nargs='+')
    parser.add_argument('--seed', type=int)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    overrides = {
        field: tuple(value) if isinstance(value, list) else value
        for flag, field in FIELDS.items()
        if (value := getattr(args, flag)) is not None
    }
    try:
        config = preset_config(args.preset, **overrides)
    except ValueError as error:
        print(f'error: {error}', file=sys.stderr)
        sys.exit(2)
    start = time.time()
    counts = make_synthetic_dataset(args.out_dir, config, args.format)
    print(json.dumps(counts, indent=2))
    print(f'Wrote {args.format} layout to {args.out_dir} in '
          f'{time.time() - start:.1f} s.')


if __name__ == '__main__':
    main()
