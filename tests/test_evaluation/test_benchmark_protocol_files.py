"""tools/analysis_tools/benchmark_protocol_files.py on a shrunken
dataset."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_writes_and_reads_protocol_files(tmp_path):
    """Real-layout files written, read by every reader in fresh processes,
    the same numbers from each, start-up timed."""
    root = tmp_path / 'cuhk'
    result = subprocess.run([
        sys.executable, 'tools/analysis_tools/benchmark_protocol_files.py',
        str(root), '--scale', '0.01', '--warm-sizes', '100'
    ],
                            cwd=ROOT,
                            capture_output=True,
                            text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ('TestG50', 'TestG4000'):
        assert (root / 'annotation' / 'test' / 'train_test' /
                f'{name}.mat').is_file()
    assert (root / 'annotation' / 'test' / 'subset' /
            'Occlusion.mat').is_file()
    # one row per protocol file with all four timings and the ratio
    for name in ('50', '100', '500', '1000', '2000', '4000', 'occlusion',
                 'resolution'):
        assert re.search(
            rf'^ +{name} +\S+ +\d+\.\d+ +\d+\.\d+ +\d+\.\d+ '
            rf'+\d+\.\d+ +\d+\.\dx$', out, re.M), name
    for label in ('cold, before (scipy, no cache)', 'cold, lean, empty cache',
                  'warm (cache), gallery 100', 'warm (cache), all together'):
        assert re.search(rf'{re.escape(label)} +\d+\.\d+ s', out), label
    assert 'numbers identical across readers / cache / runs: True' in out
    # the benchmark's dataset loads: 69 gallery images, 29 queries
    assert re.search(r'gallery split, lean, nothing cached .* \(69 samples',
                     out)
    assert re.search(r'query split, lean, nothing cached .* \(29 samples', out)
    assert re.search(r'image headers, SOF: +\d+\.\d+ s for 181 JPEGs', out)


def test_the_two_benchmarks_refuse_each_others_options(tmp_path):
    """The split left no option behind in the wrong tool."""
    for args in (['benchmark_search_metric.py', '--no-before'], [
            'benchmark_protocol_files.py',
            str(tmp_path), '--loop-queries'
    ]):
        result = subprocess.run(
            [sys.executable, f'tools/analysis_tools/{args[0]}'] + args[1:],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120)
        assert result.returncode == 2
        assert f'unrecognized arguments: {args[-1]}' in result.stderr
