"""Convert CUHK-SYSU or PRW (raw files) to the person-search JSON format.

Writes ``train.json`` and ``test.json`` (with the queries and, for
CUHK-SYSU, every TestG{N} / subset gallery list found) that
``PersonSearchJSONDataset`` reads back into the same data infos as the
native loader. Images are not copied: ``file_name`` stays relative to the
native image folder (``Image/SSM/`` or ``frames/``).

Example::

    python tools/dataset_converters/person_search_to_json.py \
        data/cuhk_sysu --format cuhk_sysu
    python tools/dataset_converters/person_search_to_json.py \
        data/prw --format prw --out-dir data/prw/json
"""
import argparse
import json
import os
import os.path as osp
import time

from mmsearch.datasets import CUHKSYSUDataset, PRWDataset, data_infos_to_json

DATASETS = dict(cuhk_sysu=CUHKSYSUDataset, prw=PRWDataset)
IMAGE_FOLDERS = dict(cuhk_sysu='Image/SSM/', prw='frames/')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('data_root', help='the unpacked dataset folder')
    parser.add_argument(
        '--format',
        required=True,
        choices=sorted(DATASETS),
        help='layout of data_root')
    parser.add_argument(
        '--out-dir',
        default=None,
        help='where train.json and test.json go (default: DATA_ROOT/json)')
    parser.add_argument(
        '--indent', type=int, default=None, help='JSON indentation')
    return parser.parse_args()


def cuhk_gallery_names(data_root: str) -> list:
    """The CUHK-SYSU protocol files present under ``data_root``."""
    names = [
        size for size in CUHKSYSUDataset.GALLERY_SIZES if osp.isfile(
            osp.join(data_root, 'annotation', 'test', 'train_test',
                     f'TestG{size}.mat'))
    ]
    names += [
        name for name, (relative, _) in CUHKSYSUDataset.SUBSETS.items()
        if osp.isfile(osp.join(data_root, relative))
    ]
    return names


def convert(data_root: str, data_format: str) -> dict:
    """Read ``data_root`` with the native loader.

    Returns:
        dict: ``{'train': content, 'test': content}`` in the JSON format.
    """
    dataset_cls = DATASETS[data_format]
    kwargs = dict(data_root=data_root, pipeline=[])
    if data_format == 'cuhk_sysu':
        kwargs['gallery_size'] = 50
    train = dataset_cls(split='train', **kwargs)
    gallery = dataset_cls(split='gallery', **kwargs)
    query = dataset_cls(split='query', **kwargs)
    galleries = None
    if data_format == 'cuhk_sysu':
        galleries = {
            name: query.get_gallery_protocol(name)
            for name in cuhk_gallery_names(data_root)
        }
    source = dict(converted_from=data_format)
    return dict(
        train=data_infos_to_json(
            [train.get_data_info(i) for i in range(len(train))],
            info=dict(source, split='train')),
        test=data_infos_to_json(
            [gallery.get_data_info(i) for i in range(len(gallery))],
            [query.get_data_info(i) for i in range(len(query))],
            galleries,
            info=dict(source, split='test')))


def main() -> None:
    args = parse_args()
    start = time.time()
    out_dir = args.out_dir or osp.join(args.data_root, 'json')
    contents = convert(args.data_root, args.format)
    os.makedirs(out_dir, exist_ok=True)
    for split, content in contents.items():
        path = osp.join(out_dir, f'{split}.json')
        with open(path, 'w', encoding='utf-8') as file:
            json.dump(content, file, indent=args.indent)
        extra = ''
        if 'queries' in content:
            extra = f', {len(content["queries"])} queries'
        if content.get('galleries'):
            extra += f', gallery lists {list(content["galleries"])}'
        print(f'{path}: {len(content["images"])} images, '
              f'{len(content["annotations"])} boxes{extra}')
    print(f'Converted in {time.time() - start:.1f} s. Use it with '
          f"PersonSearchJSONDataset(data_root='{args.data_root}', "
          f"ann_file='{osp.relpath(out_dir, args.data_root)}/train.json', "
          f"data_prefix=dict(img='{IMAGE_FOLDERS[args.format]}'))")


if __name__ == '__main__':
    main()
