"""tools/analysis_tools/benchmark_search_metric.py on a shrunken problem."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_reports_equal_numbers_and_timings():
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark_search_metric.py',
        '--scale', '0.02', '--loop-queries', '5'
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    # one report per protocol: the loop and the vectorised core agree
    diffs = [
        float(d)
        for d in re.findall(r'largest \|AP difference\| .*: (\S+);', out)
    ]
    assert len(diffs) == 2 and max(diffs) < 1e-12
    assert out.count('top-k identical: True') == 2
    assert 'extrapolated to' in out and 'speed-up' in out
    assert re.search(r'peak traced memory of the search core: \d+ MiB', out)
