"""mmsearch's packages form layers: nothing imports upward, no import
circle, and no import of mmsearch hides inside a function.

Layers, bottom to top (a module may import its own layer and those below):

0. the torch-free core (``structures``, ``fileio``, ``cli``,
   ``version``) and ``registry``;
1. ``utils``;
2. ``datasets``, ``models``, ``evaluation``, ``visualization``;
3. ``engine``;
4. ``index``;
5. ``apis``;
6. ``web``, ``deployment``, ``testing`` (and ``tools/``, outside the
   package).

The imports are read from the source (ast), not by importing.
"""
import ast
import os
import os.path as osp
import subprocess
import sys
from typing import Dict, List, Set, Tuple

import pytest

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
PACKAGE = osp.join(ROOT, 'mmsearch')

LAYERS = {
    'mmsearch': 0,
    'version': 0,
    'structures': 0,
    'fileio': 0,
    'cli': 0,
    'registry': 0,
    'utils': 1,
    'datasets': 2,
    'models': 2,
    'evaluation': 2,
    'visualization': 2,
    'engine': 3,
    'index': 4,
    'apis': 5,
    'web': 6,
    'deployment': 6,
    'testing': 6,
}
TORCH_FREE = ('mmsearch', 'structures', 'fileio', 'cli', 'version')
HEAVY = ('torch', 'torchvision', 'mmcv', 'mmdet', 'mmengine', 'mmpretrain')
# Function-level imports of mmsearch that are the function's purpose, and
# what each may import: register_all_modules imports the packages that
# register modules (as mmdet.utils.register_all_modules does; nothing it
# imports imports it); mmsearch.web's __getattr__ imports the search page,
# which needs gradio (an optional extra), on first use of its names.
ALLOWED_FUNCTION_IMPORTS = {
    ('mmsearch.utils.setup_env', 'register_all_modules'): {
        'mmsearch.datasets', 'mmsearch.engine', 'mmsearch.evaluation',
        'mmsearch.models', 'mmsearch.visualization'
    },
    ('mmsearch.web', '__getattr__'): {'mmsearch.web.app'},
}
# Required packages: imported at the top of a module, never in a function.
# Optional extras (onnxruntime, onnx, faiss, gradio, pytest for the test
# helpers) are imported where used, so that the rest works without them.
REQUIRED = HEAVY + ('cv2', 'PIL', 'scipy')


def module_files() -> Dict[str, str]:
    """Module name -> file of every module of the package."""
    modules = {}
    for root, dirs, names in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != '__pycache__')
        for name in names:
            if not name.endswith('.py'):
                continue
            rel = osp.relpath(osp.join(root, name), ROOT)[:-3]
            parts = rel.split(os.sep)
            if parts[-1] == '__init__':
                parts = parts[:-1]
            modules['.'.join(parts)] = osp.join(root, name)
    return modules


MODULES = module_files()


def resolve(module: str, is_package: bool, node: ast.AST) -> List[str]:
    """The absolute module names an import statement names."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = module.split('.')
        base = base[:len(base) - node.level + (1 if is_package else 0)]
        target = '.'.join(base + ([node.module] if node.module else []))
    else:
        target = node.module
    names = []
    for alias in node.names:
        sub = f'{target}.{alias.name}'
        names.append(sub if sub in MODULES else target)
    return names


def imports_of(module: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """(module-level imports, [(function, import)] inside functions)."""
    path = MODULES[module]
    is_package = path.endswith('__init__.py')
    with open(path, encoding='utf-8') as file:
        tree = ast.parse(file.read(), path)
    top, inner = [], []

    def visit(node, function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, function or child.name)
            elif isinstance(child, (ast.Import, ast.ImportFrom)):
                for name in resolve(module, is_package, child):
                    if function is None:
                        top.append(name)
                    else:
                        inner.append((function, name))
            else:
                visit(child, function)

    visit(tree, None)
    return top, inner


def layer(module: str) -> Tuple[str, int]:
    part = module.split('.')[1] if '.' in module else 'mmsearch'
    assert part in LAYERS, f'{module}: no layer for "{part}"; add it'
    return part, LAYERS[part]


GRAPH = {module: imports_of(module) for module in MODULES}


def all_imports(module: str) -> List[str]:
    """Every import of ``module``, those inside functions included, except
    the allowed function-level ones (their own layer rule)."""
    top, inner = GRAPH[module]
    return top + [
        name for function, name in inner
        if name not in ALLOWED_FUNCTION_IMPORTS.get((module, function), ())
    ]


def test_nothing_imports_upward():
    upward = []
    for module in GRAPH:
        part, rank = layer(module)
        for name in all_imports(module):
            if name.split('.')[0] != 'mmsearch':
                continue
            other, other_rank = layer(name)
            if other_rank > rank:
                upward.append(f'{module} (layer {rank}) imports {name} '
                              f'(layer {other_rank})')
    assert not upward, '\n'.join(upward)


def test_the_core_imports_only_the_core_and_no_heavy_package():
    bad = []
    for module, (top, inner) in GRAPH.items():
        if layer(module)[0] not in TORCH_FREE:
            continue
        for name in top + [name for _, name in inner]:
            root = name.split('.')[0]
            if root in HEAVY or (root == 'mmsearch' and name != 'mmsearch'
                                 and layer(name)[0] not in TORCH_FREE):
                bad.append(f'{module} imports {name}')
    assert not bad, '\n'.join(bad)


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return cycles


def test_find_cycles_finds_a_circle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycles(graph) == [['a', 'b', 'c']]
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


def test_no_import_circle():
    """Imports inside functions count: a circle closed by one is still a
    circle (it only moves the error to the first call)."""
    graph = {
        module: {name
                 for name in all_imports(module) if name in MODULES}
        for module in GRAPH
    }
    assert find_cycles(graph) == []


def test_no_function_level_import_of_mmsearch_or_of_a_required_package():
    hidden = []
    for module, (_, inner) in GRAPH.items():
        for function, name in inner:
            root = name.split('.')[0]
            if name in ALLOWED_FUNCTION_IMPORTS.get((module, function), ()):
                continue
            if root == 'mmsearch' or root in REQUIRED:
                hidden.append(f'{module}.{function} imports {name}')
    assert not hidden, '\n'.join(hidden)


@pytest.mark.parametrize('module', [
    'mmsearch.deployment.runtime', 'mmsearch.structures', 'mmsearch.fileio',
    'mmsearch.cli'
])
def test_torch_free_modules_load_no_training_stack(module):
    """In a fresh process where torch is installed: importing the module
    leaves torch, mmcv, mmdet and mmengine out of ``sys.modules``."""
    script = (f'import sys, {module}\n'
              f'print(",".join(m for m in {HEAVY!r} if m in sys.modules))')
    out = subprocess.run([sys.executable, '-c', script],
                         cwd=ROOT,
                         capture_output=True,
                         text=True,
                         check=True)
    assert out.stdout.strip() == ''
    __import__('torch')  # the check means something: torch is installed
