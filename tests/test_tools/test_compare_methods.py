"""Smoke test of tools/analysis_tools/compare_methods.py: two tiny
configs, a shared detector pre-trained for 1 iteration, 4 iterations per
run, one seed; then its resume and refusal rules."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch

from mmsearch.testing.tools import ROOT, load_tool_module

# A tiny version of a method's synthetic config: small images, no worker
# processes. The tool sets the data root, schedule and evaluation.
TINY = """
_base_ = [{base!r}]
small_train = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='Resize', scale=(160, 96), keep_ratio=True),
    dict(type='PackPersonSearchInputs')
]
small_test = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(160, 96), keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(dataset=dict(pipeline=small_train)))
test_dataloader = dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=small_test))
val_dataloader = test_dataloader
test_cfg = dict(query_dataloader=dict(
    num_workers=0, persistent_workers=False,
    dataset=dict(pipeline=small_test)))
model = dict(test_cfg=dict(rpn=dict(nms_pre=100, max_per_img=10),
                           rcnn=dict(score_thr=0.0, max_per_img=5)))
"""


@pytest.fixture(scope='module')
def tool():
    return load_tool_module('tools/analysis_tools/compare_methods.py')


@pytest.fixture(scope='module')
def study(tool, synthetic_root, tmp_path_factory):
    """Run the study once: OIM and DC-I-Net from a shared detector,
    4 iterations, seed 0."""
    folder = tmp_path_factory.mktemp('study')
    configs = []
    for name, base in (('oim', 'configs/oim/oim_r18_synthetic.py'),
                       ('dcinet', 'configs/dcinet/dcinet_r18_synthetic.py')):
        path = folder / f'tiny_{name}.py'
        path.write_text(TINY.format(base=osp.join(ROOT, base)))
        configs.append(str(path))
    argv = configs + [
        '--names', 'oim', 'dcinet', '--data-root', synthetic_root,
        '--work-dir',
        str(folder / 'work'), '--seeds', '0', '--iters', '4',
        '--eval-interval', '2', '--checkpoint-interval', '2',
        '--gallery-sizes', '50', '--bootstrap', '200', '--pretrain-iters', '1',
        '--pretrain-config', configs[0]
    ]
    tool.main(argv)
    return argv, str(folder / 'work' / 'results')


def _load(path):
    with open(path) as f:
        return json.load(f)


def test_every_run_has_its_curve_and_per_query_results(study):
    _, results = study
    for name in ('oim', 'dcinet'):
        run = _load(osp.join(results, f'{name}__seed0.json'))
        assert [p['iter'] for p in run['curve']] == [2, 4]
        assert run['num_person_ids'] == 4  # the tiny set's train ids
        per_query = run['per_query']
        assert len(per_query['ap']) == 3  # one query per test id
        # the per-query values of the ranking file give the metric's means
        assert np.mean(per_query['ap']) == pytest.approx(
            run['metrics']['cuhk/mAP@50'])
        assert np.mean(per_query['top1']) == pytest.approx(
            run['metrics']['cuhk/top1@50'])
        assert run['settings']['iters'] == 4


def test_runs_start_from_the_shared_detector(study):
    """Every run records the same init; it holds the detector and a copy
    of the RoI module for a separate retrieval module, no re-ID part."""
    _, results = study
    inits = [
        _load(osp.join(results, f'{name}__seed0.json'))['init_checkpoint']
        for name in ('oim', 'dcinet')
    ]
    assert inits[0] == inits[1] and len(inits[0]['sha1']) == 12
    state = torch.load(inits[0]['path'], weights_only=False)['state_dict']
    assert any(k.startswith('backbone.') for k in state)
    assert not any(
        k.startswith(('roi_head.reid_head.', 'roi_head.reid_losses.'))
        for k in state)
    copies = [k for k in state if k.startswith('roi_head.reid_shared_head.')]
    assert copies
    for key in copies:
        original = key.replace('reid_shared_head', 'shared_head')
        assert torch.equal(state[key], state[original])


def test_report_table_and_plot(study):
    _, results = study
    report = open(osp.join(results, 'report.md')).read()
    rows = [line for line in report.splitlines() if line.startswith('| ')]
    assert rows[0].startswith('| method | seeds | mAP@50 | 95 % CI')
    assert rows[1].startswith('| oim | 1 |')
    assert rows[2].startswith('| dcinet | 1 |')
    assert 'Paired differences to oim' in report
    summary = _load(osp.join(results, 'report.json'))
    oim = _load(osp.join(results, 'oim__seed0.json'))
    mean, low, high = summary[0]['mAP_ci']
    assert mean == pytest.approx(oim['metrics']['cuhk/mAP@50'])
    assert low <= mean <= high
    with open(osp.join(results, 'map_vs_iters.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_finished_runs_are_skipped_and_an_interrupted_one_resumes(
        tool, study, capsys):
    argv, results = study
    path = osp.join(results, 'dcinet__seed0.json')
    before = _load(path)
    oim_mtime = os.stat(osp.join(results, 'oim__seed0.json')).st_mtime_ns
    # Interrupted after the last checkpoint, before its test was kept.
    os.remove(path)
    os.remove(
        osp.join(osp.dirname(before['checkpoint']), 'ranking_final.json'))
    capsys.readouterr()
    tool.main(argv)
    out = capsys.readouterr().out
    assert '1 runs finished, 1 to go' in out
    after = _load(path)
    assert after['segments'] == 2  # the resumed segment trained nothing
    assert after['metrics']['cuhk/mAP@50'] == pytest.approx(
        before['metrics']['cuhk/mAP@50'])
    assert after['per_query']['ap'] == pytest.approx(before['per_query']['ap'])
    assert os.stat(osp.join(results,
                            'oim__seed0.json')).st_mtime_ns == oim_mtime


def test_other_settings_are_refused(tool, study, capsys):
    argv, results = study
    changed = [a if a != '4' else '6' for a in argv]  # --iters 6
    with pytest.raises(SystemExit) as error:
        tool.main(changed)
    assert error.value.code == 2
    message = capsys.readouterr().err.strip()
    assert message.startswith('error: ') and '\n' not in message
    assert "iters: 4 -> 6" in message and 'study.json' in message
