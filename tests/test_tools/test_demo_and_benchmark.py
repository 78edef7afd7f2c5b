"""tools/search/search_demo.py and tools/analysis_tools/benchmark.py."""
import json
import os
import os.path as osp
import re
import shutil

import cv2
import pytest
from mmengine.config import Config
from tool_helpers import run_tool

from mmsearch.registry import DATASETS


def _first_query(tiny_config):
    cfg = Config.fromfile(tiny_config)
    queries = DATASETS.build(cfg.test_cfg.query_dataloader.dataset)
    return queries.get_data_info(0)


def _small_gallery(query, tmp_path, count):
    """A folder holding ``count`` test images other than the query's."""
    gallery = tmp_path / 'gallery'
    gallery.mkdir()
    folder = osp.dirname(query['img_path'])
    names = sorted(
        n for n in os.listdir(folder)
        if n != osp.basename(query['img_path']))[:count]
    for name in names:
        shutil.copy(osp.join(folder, name), gallery / name)
    return gallery, names


def test_demo_ranks_the_gallery_and_draws(published_checkpoint, tiny_config,
                                          tmp_path):
    query = _first_query(tiny_config)
    gallery, names = _small_gallery(query, tmp_path, 3)
    out_file = str(tmp_path / 'search.png')
    result = run_tool([
        'tools/search/search_demo.py', tiny_config, published_checkpoint,
        '--query-image', query['img_path'], '--query-box',
        *[str(v) for v in query['query_bbox']], '--gallery',
        str(gallery), '--score-thr', '0', '--topk', '4', '--out-sheet',
        out_file
    ])
    rows = [
        line.split() for line in result.stdout.splitlines()
        if re.match(r'^\s*\d+\s+-?\d', line)
    ]
    assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
    assert 1 <= len(rows) <= 4
    sims = [float(r[1]) for r in rows]
    assert sims == sorted(sims, reverse=True)
    assert all(r[-1].endswith(tuple(names)) for r in rows)
    drawn = cv2.imread(out_file)
    # One row of 200 x (240 + 24) tiles: the query crop, then the matches.
    assert drawn.shape == (264, 200 * (1 + len(rows)), 3)


def test_demo_rejects_a_bad_box(published_checkpoint, tiny_config, tmp_path):
    query = _first_query(tiny_config)
    result = run_tool([
        'tools/search/search_demo.py', tiny_config, published_checkpoint,
        '--query-image', query['img_path'], '--query-box', '50', '50', '10',
        '10', '--gallery',
        osp.dirname(query['img_path'])
    ],
                      check=False,
                      timeout=120)
    # one line, exit status 2, no traceback
    assert result.returncode == 2
    assert result.stderr.startswith('error: query box must be 4 finite')
    assert result.stderr.count('\n') == 1 and 'x2 > x1' in result.stderr


def test_benchmark_random_images(published_checkpoint, tiny_config, tmp_path):
    out = str(tmp_path / 'bench.json')
    result = run_tool([
        'tools/analysis_tools/benchmark.py', tiny_config, published_checkpoint,
        '--shape', '96', '128', '--num-images', '2', '--num-warmup', '1',
        '--out', out
    ])
    with open(out) as f:
        figures = json.load(f)
    assert figures['num_images'] == 2 and figures['device'] == 'cpu'
    assert figures['images_per_second'] > 0
    assert figures['seconds_per_image'] * figures[
        'images_per_second'] == pytest.approx(1.0)
    assert figures['peak_memory_mib'] > 50  # a torch process holds more
    # the parameters of the model that the config builds, counted here
    from mmsearch.apis import init_searcher
    model = init_searcher(tiny_config, published_checkpoint, device='cpu')
    expected = sum(p.numel() for p in model.parameters()) / 1e6
    assert figures['num_params_m'] == pytest.approx(expected)
    assert f'{expected:.2f} M parameters' in result.stdout
    assert 'images/s' in result.stdout and 'random 96x128' in result.stdout


def test_benchmark_test_images(tiny_config):
    result = run_tool([
        'tools/analysis_tools/benchmark.py', tiny_config, '--num-images', '1',
        '--num-warmup', '0'
    ])
    assert re.search(r'\d+\.\d+ images/s .* on test images', result.stdout)


def test_benchmark_breakdown_and_compare(tiny_config, tmp_path):
    """Stage times add up to the total; --compare runs a second variant.

    The second model has mmdet's RoI extractor (mmcv's RoIAlign kernel)
    and the first model's weights, so their outputs agree to float
    rounding; score_thr 0 keeps detections to compare.
    """
    out = str(tmp_path / 'bench.json')
    result = run_tool([
        'tools/analysis_tools/benchmark.py', tiny_config, '--shape', '96',
        '128', '--num-images', '1', '--num-warmup', '0', '--breakdown',
        '--cfg-options', 'model.test_cfg.rcnn.score_thr=0', '--compare',
        'model.roi_head.bbox_roi_extractor.type=mmdet.SingleRoIExtractor',
        '--out', out
    ])
    with open(out) as f:
        figures = json.load(f)
    for model in (figures, figures['compare']):
        stages = model['stages']
        assert list(stages) == [
            'preprocess', 'trunk', 'RPN', 'RPN post-processing',
            'RoIAlign (detection)', 'RoI head (detection)',
            'detection post-processing', 'RoIAlign (re-ID)', 're-ID head',
            'other'
        ]
        assert all(value > 0 for key, value in stages.items()
                   if key != 'other')
        assert stages['other'] > -1e-6
        assert model['median_cpu_seconds_per_image'] > 0
        # one timed image: the stages partition its time
        assert sum(stages.values()) == pytest.approx(
            model['median_seconds_per_image'], rel=1e-6)
    diff = figures['compare']['max_abs_diff']
    assert diff['num_detections'] == 0 and diff['compared_detections'] > 0
    assert diff['bboxes'] < 1e-3 and diff['reid_feats'] < 1e-4
    assert figures['compare']['options'] == \
        'model.roi_head.bbox_roi_extractor.type=mmdet.SingleRoIExtractor'
    assert figures['ratio'] == pytest.approx(
        figures['median_seconds_per_image'] /
        figures['compare']['median_seconds_per_image'])
    assert 'RoIAlign (re-ID)' in result.stdout
    assert 'config / compare (median time per image)' in result.stdout


def test_demo_skips_unreadable_images_and_clips_the_box(
        published_checkpoint, tiny_config, tmp_path):
    query = _first_query(tiny_config)
    gallery, names = _small_gallery(query, tmp_path, 2)
    (gallery / 'empty.jpg').write_bytes(b'')
    width = query['width']
    x1, y1, x2, y2 = query['query_bbox']
    result = run_tool([
        'tools/search/search_demo.py', tiny_config, published_checkpoint,
        '--query-image', query['img_path'], '--query-box',
        str(x1),
        str(y1),
        str(width + 50),
        str(y2), '--gallery',
        str(gallery), '--score-thr', '0', '--out-sheet',
        str(tmp_path / 'search.png')
    ])
    assert f'skipped: image "{gallery / "empty.jpg"}" cannot be read: ' \
        'empty file (0 bytes)' in result.stdout
    assert f'clipped to [{x1:.1f}, {y1:.1f}, {width:.1f}, {y2:.1f}]' \
        in result.stderr
    rows = [
        line.split() for line in result.stdout.splitlines()
        if re.match(r'^\s*\d+\s+-?\d', line)
    ]
    assert rows and all(r[-1].endswith(tuple(names)) for r in rows)


def test_demo_refuses_a_box_outside_the_image(published_checkpoint,
                                              tiny_config, tmp_path):
    query = _first_query(tiny_config)
    width, height = query['width'], query['height']
    result = run_tool([
        'tools/search/search_demo.py', tiny_config, published_checkpoint,
        '--query-image', query['img_path'], '--query-box',
        str(width + 10), '5',
        str(width + 60), '50', '--gallery',
        osp.dirname(query['img_path'])
    ],
                      check=False,
                      timeout=120)
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert result.stderr.startswith('error: query box')
    assert (f'lies outside image "{query["img_path"]}" ({width} x {height} '
            'pixels') in result.stderr
