"""Every command-line tool of tools/index, tools/deployment and
tools/search reports a user error as one line ``error: ...`` with exit
status 2, not a traceback; and no tool imports the test helpers."""
import ast
import glob
import os
import os.path as osp
import subprocess
import sys

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def cases(tmp):
    missing = osp.join(tmp, 'missing')
    config = osp.join(tmp, 'no_config.py')
    image = osp.join(tmp, 'no_query.jpg')
    return {
        'search/search_onnx.py': ([
            missing, '--query-image', image, '--query-box', '1', '2', '3', '4',
            '--gallery', tmp
        ], 'deploy.json'),
        'search/search_demo.py': ([
            config, 'none', '--query-image', image, '--query-box', '1', '2',
            '3', '4', '--gallery', tmp
        ], 'no_query.jpg'),
        'search/search_index.py': ([missing, '--entry', '0'], 'missing'),
        'index/build_index.py': ([config, 'none', missing, '--images',
                                  tmp], 'no_config.py'),
        'index/web_search.py': ([missing], 'missing'),
        'deployment/export_onnx.py': ([config, 'none', '--out-dir',
                                       missing], 'no_config.py'),
        'deployment/benchmark_onnx.py': ([
            config, 'none', '--images', '1', '--work-dir',
            osp.join(tmp, 'work')
        ], 'no_config.py'),
    }


def test_every_cli_of_these_folders_is_covered(tmp_path):
    tools = {
        osp.relpath(path, osp.join(ROOT, 'tools'))
        for folder in ('index', 'deployment', 'search')
        for path in glob.glob(osp.join(ROOT, 'tools', folder, '*.py'))
    }
    assert tools == set(cases(str(tmp_path)))


@pytest.mark.parametrize('tool', sorted(cases('/tmp')))
def test_user_error_is_one_line_with_status_2(tool, tmp_path):
    args, named = cases(str(tmp_path))[tool]
    result = subprocess.run(
        [sys.executable, osp.join('tools', tool)] + args,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=300)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [
        line for line in result.stderr.splitlines()
        if line.startswith('error: ')
    ]
    assert len(lines) == 1 and named in lines[0], result.stderr[-2000:]
    assert 'Traceback' not in result.stderr


def test_no_tool_imports_the_test_helpers():
    found = set()
    for path in glob.glob(
            osp.join(ROOT, 'tools', '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as file:
            tree = ast.parse(file.read(), path)
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(
                node, ast.Import) else [node.module or ''] if isinstance(
                    node, ast.ImportFrom) else [])
            if any(n == 'mmsearch.testing' or n.startswith('mmsearch.testing.')
                   for n in names):
                found.add(osp.relpath(path, ROOT))
    assert not found, sorted(found)
