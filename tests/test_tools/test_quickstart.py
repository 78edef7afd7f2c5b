"""The README's quick start (tools/quickstart.sh), reduced for CI."""
import argparse
import json
import os.path as osp
import re
import subprocess
import sys

import cv2
from tool_helpers import ROOT, tool_env

from mmsearch.testing import load_tool_module


def test_quickstart_smoke(tmp_path):
    env = tool_env()
    env.update(
        MMSEARCH_SKIP_SETUP='1',
        QUICKSTART_SMOKE='1',
        QUICKSTART_ITERS='2',
        QUICKSTART_DIR=str(tmp_path / 'out'),
        QUICKSTART_DATA=str(tmp_path / 'data'))
    result = subprocess.run(['bash', 'tools/quickstart.sh'],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=400)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-5000:])
    out = tmp_path / 'out'
    for name in ('init.pth', 'iter_2.pth', 'search_result.png', 'summary.json',
                 'init.log'):
        assert (out / name).is_file(), name
    assert osp.isfile(tmp_path / 'data' / 'annotation' / 'pool.mat')
    with open(out / 'summary.json') as f:
        summary = json.load(f)
    assert summary['iters'] == 2
    # The printed table holds the figures of summary.json.
    for row in ('untrained', 'trained'):
        match = re.search(rf'\| {row}\s+\|\s+([\d.]+)%\s+\|\s+([\d.]+)%\s+\|',
                          result.stdout)
        assert match, result.stdout[-2000:]
        assert float(match.group(1)) == round(100 * summary[f'{row}_mAP'], 2)
        assert float(match.group(2)) == round(100 * summary[f'{row}_top1'], 2)
        assert 0.0 <= summary[f'{row}_mAP'] <= 1.0
    drawn = cv2.imread(str(out / 'search_result.png'))
    assert drawn is not None and drawn.shape[1] >= 200
    assert '[quickstart] 3/4 training 2 iterations' in result.stdout
    # validation at the end of training gave the "trained" row and kept the
    # best checkpoint
    assert osp.isfile(summary['best_checkpoint'])
    assert osp.basename(
        summary['best_checkpoint']).startswith('best_cuhk_mAP@50_iter_')
    assert 'Iter(val) [' in result.stdout

    # quiet: progress and results on the terminal; the initialisation
    # report, configs and metric tables only in the log files
    terminal = result.stdout + result.stderr
    lines = terminal.splitlines()
    for detail in ('Name of parameter', 'Initialized by user-defined',
                   'System environment', 'Config:',
                   'PersonSearchMetric options'):
        assert detail not in terminal, detail
    assert len(lines) < 80, '\n'.join(lines)
    assert '| trained   |' in result.stdout
    init_log = (out / 'init.log').read_text()
    assert 'Name of parameter - Initialization information' in init_log
    assert 'backbone.conv1.weight' in init_log
    run_logs = sorted(out.glob('*/*.log'))
    assert len(run_logs) == 2  # untrained test, training (+ validation)
    logs = ''.join(p.read_text() for p in run_logs)
    assert 'Config:' in logs and 'PersonSearchMetric options' in logs


def test_expected_range_of_the_default_run(monkeypatch):
    quickstart = load_tool_module('tools/misc/quickstart.py')
    low, high = quickstart.EXPECTED_RANGE['mAP']
    top_low, top_high = quickstart.EXPECTED_RANGE['top1']
    for mean_ap, top1 in quickstart.OBSERVED:
        assert low <= mean_ap <= high and top_low <= top1 <= top_high
    monkeypatch.delenv('QUICKSTART_ITERS', raising=False)
    monkeypatch.setattr(sys, 'argv', ['quickstart.py'])
    args = quickstart.parse_args()
    note = quickstart.expected_range_note(args)
    assert ('55.60% / 75.00%, 53.89% / 66.67%, 58.80% / 83.33%, '
            '59.87% / 75.00%') in note
    assert 'mAP 50%-60%, top-1 58%-83%' in note
    # nobody measured other settings: no range is claimed for them
    for change in (dict(iters=100), dict(seed=1), dict(smoke=True)):
        changed = argparse.Namespace(**dict(vars(args), **change))
        assert quickstart.expected_range_note(changed) is None
