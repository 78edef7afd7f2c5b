"""setup.py's python_requires agrees with the syntax the code uses."""
import ast
import glob
import os
import os.path as osp
import shutil
import subprocess

import pytest
from tool_helpers import ROOT

SOURCE_DIRS = ('mmsearch', 'tools', 'configs', 'tests')


def python_files() -> list:
    files = [osp.join(ROOT, 'setup.py')]
    for folder in SOURCE_DIRS:
        files += glob.glob(
            osp.join(ROOT, folder, '**', '*.py'), recursive=True)
    return sorted(files)


def claimed_minimum() -> tuple:
    """(major, minor) of ``python_requires='>=X.Y'`` in setup.py."""
    with open(osp.join(ROOT, 'setup.py')) as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == 'python_requires':
            spec = ast.literal_eval(node.value)
            assert spec.startswith('>='), spec
            return tuple(int(v) for v in spec[2:].split('.')[:2])
    raise AssertionError('setup.py has no python_requires')


def runtime_pep604_annotations(path: str) -> list:
    """Lines with ``X | Y`` annotations that Python evaluates when the
    function or class is defined (no ``from __future__ import
    annotations``): they need Python 3.10."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), path)
    if any(
            isinstance(node, ast.ImportFrom) and node.module == '__future__'
            and any(a.name == 'annotations' for a in node.names)
            for node in tree.body):
        return []
    annotations = []
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.annotation is not None:
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                and node.returns is not None:
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
    return [
        sub.lineno for ann in annotations for sub in ast.walk(ann)
        if isinstance(sub, ast.BinOp) and isinstance(sub.op, ast.BitOr)
    ]


def test_claim_covers_pep604_annotations():
    users = {
        osp.relpath(path, ROOT): lines
        for path in python_files()
        for lines in [runtime_pep604_annotations(path)] if lines
    }
    if users:
        assert claimed_minimum() >= (3, 10), (
            'X | Y annotations need Python 3.10, but setup.py claims '
            f'{claimed_minimum()}: {users}')


def test_code_parses_with_the_claimed_grammar():
    minimum = claimed_minimum()
    for path in python_files():
        with open(path, encoding='utf-8') as f:
            ast.parse(f.read(), path, feature_version=minimum)


def interpreter(version: tuple):
    name = 'python{}.{}'.format(*version)
    candidates = sorted(
        glob.glob(
            osp.expanduser('~/.pyenv/versions/{}.{}.*/bin/{}'.format(
                *version, name))))
    for path in candidates + [shutil.which(name)]:
        if path and subprocess.run([path, '-c', 'pass'],
                                   capture_output=True).returncode == 0:
            return path
    return None


def test_code_compiles_on_the_lowest_claimed_python():
    minimum = claimed_minimum()
    python = interpreter(minimum)
    if python is None:
        pytest.skip('no Python {}.{} on this machine'.format(*minimum))
    script = ('import sys\n'
              'for path in sys.argv[1:]:\n'
              '    compile(open(path, encoding="utf-8").read(), path, '
              '"exec")\n'
              'print(sys.version_info[:2])')
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE='1')
    result = subprocess.run([python, '-c', script, *python_files()],
                            capture_output=True,
                            text=True,
                            env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == str(minimum)
