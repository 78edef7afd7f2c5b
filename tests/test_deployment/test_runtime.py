"""The ONNX runtime: same ranking as PyTorch without mmcv; bad input."""
import copy
import json
import os.path as osp
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import onnx
import pytest
import torch

from mmsearch.apis import (detect_images, embed_query, init_searcher,
                           search_gallery)
from mmsearch.deployment import runtime
from mmsearch.deployment.calibration import draw_person_scene, make_detecting
from mmsearch.deployment.export import export_onnx
from mmsearch.structures import match_boxes

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')
QUERY_BOX = [20.0, 30.0, 70.0, 160.0]
BLOCKED = ('torch', 'mmcv', 'mmdet', 'mmengine')

TOOL = osp.join(ROOT, 'tools', 'search', 'search_onnx.py')
# Runs tools/search/search_onnx.py in a process where the training
# stack cannot be imported, then prints the modules of it that were loaded.
SEARCH_SCRIPT = textwrap.dedent('''
    import json, runpy, sys
    for name in {blocked!r}:
        sys.modules[name] = None  # "import name" raises ImportError
    sys.argv = [{tool!r}] + sys.argv[1:]
    runpy.run_path({tool!r}, run_name='__main__')
    print(json.dumps(sorted(
        name for name, module in sys.modules.items()
        if module is not None and name.split('.')[0] in {blocked!r})))
''').format(
    blocked=BLOCKED, tool=TOOL)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    torch.manual_seed(0)
    model = init_searcher(CONFIG, device='cpu')
    make_detecting(model, seed=1)
    out_dir = str(tmp_path_factory.mktemp('onnx'))
    export_onnx(model, out_dir)
    gallery = tmp_path_factory.mktemp('gallery')
    for index, size in enumerate(((180, 260), (240, 200), (200, 300))):
        cv2.imwrite(
            str(gallery / f'scene{index}.png'),
            draw_person_scene(*size, seed=10 + index))
    query = str(gallery / 'scene0.png')
    return model, out_dir, str(gallery), query


def test_search_without_mmcv_gives_the_pytorch_ranking(setup, tmp_path):
    model, out_dir, gallery, query = setup
    query_feat = embed_query(model, query, QUERY_BOX)
    expected = search_gallery(model, query_feat, gallery)
    assert len(expected) >= 5, 'the test needs detections'
    out = str(tmp_path / 'matches.json')
    result = subprocess.run([
        sys.executable, '-c', SEARCH_SCRIPT, out_dir, '--query-image', query,
        '--query-box', *map(str, QUERY_BOX), '--gallery', gallery, '--topk',
        '1000', '--threads', '1', '--out-json', out
    ],
                            capture_output=True,
                            text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []
    with open(out) as f:
        matches = json.load(f)
    assert len(matches) == len(expected)
    for rank, (ref, got) in enumerate(zip(expected, matches)):
        assert got['img_path'] == ref.img_path, f'rank {rank}'
        assert match_boxes(ref.bbox[None], np.array([got['bbox']]), 0.99)
        assert got['score'] == pytest.approx(ref.score, abs=1e-4)
        assert got['similarity'] == pytest.approx(ref.similarity, abs=1e-4)


def test_no_detection_and_no_box_give_empty_outputs(setup, tmp_path):
    model, _, gallery, query = setup
    model = copy.deepcopy(model)
    model.test_cfg.rcnn.score_thr = 1.0  # no softmax score passes
    model.roi_head.test_cfg.score_thr = 1.0
    export_onnx(model, str(tmp_path))
    searcher = runtime.init_searcher(str(tmp_path), num_threads=1)
    assert len(detect_images(model, [query])[0]['scores']) == 0
    dets = searcher.detect(query)
    assert dets['bboxes'].shape == (0, 4)
    assert dets['scores'].shape == (0, )
    assert dets['reid_feats'].shape == (0, 256)
    assert runtime.search_gallery(searcher, np.ones(256), gallery) == []
    feats = searcher.embed_boxes(query, np.zeros((0, 4), np.float32))
    assert feats.shape == (0, 256)


def test_bad_images_get_clear_errors(setup):
    _, out_dir, _, query = setup
    searcher = runtime.init_searcher(out_dir, num_threads=1)
    image = cv2.imread(query)
    with pytest.raises(ValueError, match='must be uint8'):
        searcher.detect(image.astype(np.float32))
    with pytest.raises(ValueError, match=r'shape \(H, W, 3\)'):
        searcher.detect(image[:, :, 0])
    with pytest.raises(ValueError, match=r'shape \(H, W, 3\)'):
        searcher.detect(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ValueError, match='too thin'):
        searcher.detect(np.zeros((1, 2000, 3), np.uint8))
    with pytest.raises(FileNotFoundError, match='nowhere.png'):
        runtime.embed_query(searcher, 'nowhere.png', QUERY_BOX)
    with pytest.raises(ValueError, match='x2 > x1'):
        runtime.embed_query(searcher, image, [50, 10, 20, 40])
    with pytest.raises(ValueError, match='256'):
        runtime.search_gallery(searcher, np.ones(3), [image])


def test_models_must_match_their_role(setup, tmp_path):
    _, out_dir, _, _ = setup
    gallery = osp.join(out_dir, 'gallery.onnx')
    query = osp.join(out_dir, 'query.onnx')
    with pytest.raises(ValueError, match='expected the gallery model'):
        runtime.OnnxSearcher(query, query)
    bare = str(tmp_path / 'bare.onnx')
    proto = onnx.load(gallery)
    del proto.metadata_props[:]
    onnx.save(proto, bare)
    with pytest.raises(ValueError, match='no mmsearch metadata'):
        runtime.OnnxSearcher(bare, query)
    with pytest.raises(FileNotFoundError, match='deploy.json'):
        runtime.init_searcher(str(tmp_path))
