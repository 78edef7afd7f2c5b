"""tools/dataset_converters/person_search_to_json.py and
tools/misc/check_dataset.py, run as users run them."""
import json
import os.path as osp
import re

import numpy as np
import pytest
from tool_helpers import run_tool

from mmsearch.datasets import CUHKSYSUDataset


@pytest.fixture(scope='module')
def json_dir(synthetic_root, tmp_path_factory):
    out = str(tmp_path_factory.mktemp('json'))
    result = run_tool([
        'tools/dataset_converters/person_search_to_json.py', synthetic_root,
        '--format', 'cuhk_sysu', '--out-dir', out
    ])
    assert 'PersonSearchJSONDataset(' in result.stdout
    return out


def stat(output: str, name: str) -> str:
    match = re.search(rf'^  {name}: (.*)$', output, re.M)
    assert match, output
    return match.group(1)


def test_converter_and_check_dataset_statistics(synthetic_root, json_dir):
    gallery = CUHKSYSUDataset(
        data_root=synthetic_root,
        split='gallery',
        gallery_size=50,
        pipeline=[])
    infos = [gallery.get_data_info(i) for i in range(len(gallery))]
    person_ids = [
        inst['person_id'] for info in infos for inst in info['instances']
    ]
    per_image = [len(info['instances']) for info in infos]
    appearances = [
        sum(pid in {i['person_id']
                    for i in info['instances']} for info in infos)
        for pid in sorted(set(person_ids) - {-1})
    ]
    result = run_tool([
        'tools/misc/check_dataset.py',
        osp.join(json_dir, 'train.json'),
        osp.join(json_dir, 'test.json'), '--img-dir',
        osp.join(synthetic_root, 'Image', 'SSM')
    ])
    test_part = result.stdout[result.stdout.index('test.json'):]
    labelled = sum(pid >= 0 for pid in person_ids)
    assert stat(test_part, 'images') == f'{len(infos)} (0 without boxes)'
    assert stat(test_part, 'boxes').startswith(
        f'{len(person_ids)} ({labelled} labelled, '
        f'{len(person_ids) - labelled} unlabelled, 0 ignored')
    assert stat(test_part, 'identities').startswith(f'{len(appearances)} (')
    assert stat(test_part, 'appearances per identity \\(images\\)') == (
        f'min {min(appearances)}, median {np.median(appearances):g}, mean '
        f'{np.mean(appearances):.2f}, max {max(appearances)}')
    assert stat(test_part, 'boxes per image') == (
        f'min {min(per_image)}, median {np.median(per_image):g}, mean '
        f'{np.mean(per_image):.2f}, max {max(per_image)}')
    assert stat(test_part, 'queries').startswith('3 of 3 persons')
    assert 'gallery list "50": 3 queries x 50 images' in test_part
    assert 'problems: 0 error(s), 0 warning(s)' in test_part
    assert result.stdout.rstrip().endswith('OK: every file loads.')


def test_check_dataset_reports_problems(synthetic_root, json_dir, tmp_path):
    with open(osp.join(json_dir, 'test.json')) as f:
        content = json.load(f)
    content['images'][1]['width'] += 1  # not the size of the image file
    content['annotations'][2]['image_id'] = 999
    content['annotations'][3]['bbox'][2] = 0
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(content))
    result = run_tool([
        'tools/misc/check_dataset.py',
        str(bad), '--img-dir',
        osp.join(synthetic_root, 'Image', 'SSM')
    ],
                      check=False)
    assert result.returncode == 1
    out = result.stdout
    assert re.search(r'problems: 2 error\(s\), \d+ warning', out), out
    assert (f'{bad}: error: annotations[2] (id 2): image_id 999 is not the '
            'id of an entry of "images"') in out
    assert f'{bad}: warning: annotations[3] (id 3): empty bbox' in out
    name = content['images'][1]['file_name']
    assert re.search(
        rf'{re.escape(str(bad))}: error: images\[1\] \(id 1\): '
        rf'".*{re.escape(name)}" is \d+ x \d+ pixels; the entry '
        'says', out), out
    missing = run_tool(
        ['tools/misc/check_dataset.py',
         str(tmp_path / 'none.json')],
        check=False)
    assert missing.returncode == 1
    assert 'none.json" does not exist' in missing.stdout
