"""tools/analysis_tools/benchmark_index.py on a tiny vector set: exact
search agrees with numpy products, and the table puts exact and
approximate search side by side for both sets."""
import json
import os.path as osp
import subprocess
import sys

import pytest

from mmsearch.index import faiss_available
from .conftest import ROOT


@pytest.mark.skipif(not faiss_available(), reason='faiss is not installed')
def test_benchmark_compares_exact_and_approximate(tmp_path):
    out = tmp_path / 'figures.json'
    result = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools', 'analysis_tools', 'benchmark_index.py'),
        '--num', '12000', '--dim', '16', '--queries', '12', '--api-queries',
        '3', '--check-queries', '12', '--skip-model', '--out',
        str(out)
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    figures = json.loads(out.read_text())['vectors']
    table = result.stdout[result.stdout.index('top-100, 12 queries'):]
    for name in ('default', 'hard'):
        exact, ivf = figures[name]['exact'], figures[name]['ivf']
        assert exact['agrees_with_numpy'] is True
        assert exact['kind'] == '8-bit scan + exact re-rank'
        assert 0 <= ivf['recall@10'] <= 1 and 0 <= ivf['recall@100'] <= 1
        assert ivf['exact_over_approx_p50'] == pytest.approx(
            exact['p50_ms'] / ivf['p50_ms'], rel=0.05, abs=0.06)
        rows = [line for line in table.splitlines() if line.startswith(name)]
        assert [row.split()[1] for row in rows] == ['exact', 'ivf']
    # Views at cosine ~0.8 are easier to search approximately than ~0.5.
    assert figures['default']['ivf']['recall@10'] > figures['hard']['ivf'][
        'recall@10']
