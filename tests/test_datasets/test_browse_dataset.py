"""tools/analysis_tools/browse_dataset.py."""
import os
import os.path as osp
import runpy
import sys
from unittest import mock

import cv2
import numpy as np

REPO = osp.join(osp.dirname(__file__), '..', '..')
TOOL = osp.join(REPO, 'tools', 'analysis_tools', 'browse_dataset.py')


def test_draw_annotations_colours_labelled_unlabelled_and_query():
    tool = runpy.run_path(TOOL)
    image = np.zeros((60, 80, 3), np.uint8)
    drawn = tool['draw_annotations'](
        image,
        dict(
            instances=[
                dict(bbox=[5, 20, 20, 50], person_id=3),
                dict(bbox=[40, 20, 60, 50], person_id=-1)
            ],
            query_bbox=[2, 2, 78, 58],
            query_person_id=3))
    assert image.sum() == 0  # input untouched
    assert tuple(drawn[35, 5]) == tool['LABELLED']
    assert tuple(drawn[35, 40]) == tool['UNLABELLED']
    assert tuple(drawn[30, 2]) == tool['QUERY']


def test_browse_writes_one_png_per_image(tiny_synthetic, tmp_path):
    root, _ = tiny_synthetic
    out_dir = str(tmp_path / 'browse')
    argv = [
        'browse_dataset.py',
        osp.join(REPO, 'configs/_base_/datasets/synthetic.py'), '--output-dir',
        out_dir, '--split', 'query', '--max-images', '2', '--cfg-options',
        f'query_dataloader.dataset.data_root={root}/cuhk_sysu'
    ]
    with mock.patch.object(sys, 'argv', argv):
        runpy.run_path(TOOL, run_name='__main__')
    files = sorted(os.listdir(out_dir))
    assert len(files) == 2 and all(f.endswith('.png') for f in files)
    drawn = cv2.imread(osp.join(out_dir, files[0]))
    assert drawn.shape[:2] == (128, 96)
    assert (np.abs(drawn.astype(int) - (0, 220, 255)).sum(-1) < 60).any()
