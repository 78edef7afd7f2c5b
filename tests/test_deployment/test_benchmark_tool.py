"""tools/deployment/benchmark_onnx.py on a tiny R-18 run."""
import json
import os.path as osp
import subprocess
import sys

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def test_benchmark_reports_agreeing_detections(tmp_path):
    out = str(tmp_path / 'figures.json')
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'deployment', 'benchmark_onnx.py'),
        osp.join(ROOT, 'configs', 'dcinet',
                 'dcinet_r18_synthetic.py'), 'none', '--size', '180', '260',
        '--images', '1', '--threads', '1', '--work-dir',
        str(tmp_path / 'work'), '--json', out
    ],
                            capture_output=True,
                            text=True,
                            cwd=ROOT)
    assert result.returncode == 0, result.stderr
    with open(out) as f:
        figures = json.load(f)
    for side in ('torch', 'onnx'):
        assert figures[side]['s_per_image'] > 0
        assert figures[side]['peak_rss_mib'] > 50
    # the two processes built the same weights: every detection agrees
    assert len(figures['agreement']) == 2
    for agreement in figures['agreement']:
        assert agreement['ref'] >= 3
        assert agreement['matched'] == agreement['ref'] == agreement['test']
        assert agreement['max_score_diff'] <= 1e-4
        assert agreement['min_cosine'] >= 0.9999
