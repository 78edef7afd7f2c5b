"""requirements/*.txt name what the code imports, and nothing more in
runtime.txt: every third-party module the package or the tools import is
declared in one requirements file, and every runtime requirement is
imported by the package."""
import ast
import glob
import os.path as osp
import re
import sys

from tool_helpers import ROOT

# import name of each distribution whose name differs from it
IMPORT_NAMES = {'opencv-python': 'cv2', 'Pillow': 'PIL', 'faiss-cpu': 'faiss'}
# installed by the set-up or the user before the requirements (the CUDA or
# CPU build of their choice)
PREINSTALLED = {'torch', 'torchvision'}


def declared(name: str) -> set:
    """Import names of ``requirements/<name>.txt``."""
    with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as f:
        lines = [line.split('#')[0].strip() for line in f]
    dists = [re.split(r'[<>=!~\[; ]', line)[0] for line in lines if line]
    return {IMPORT_NAMES.get(d, d) for d in dists if not d.startswith('-')}


def third_party_imports(folder: str) -> dict:
    """Top-level third-party modules imported under ``folder`` -> a file
    that imports each."""
    found = {}
    local = {'mmsearch'} | {
        osp.splitext(osp.basename(p))[0]
        for p in glob.glob(
            osp.join(ROOT, folder, '**', '*.py'), recursive=True)
    }
    for path in glob.glob(
            osp.join(ROOT, folder, '**', '*.py'), recursive=True):
        with open(path, encoding='utf-8') as f:
            tree = ast.parse(f.read(), path)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split('.')[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, osp.relpath(path, ROOT))
    return found


def test_every_third_party_import_is_declared():
    files = ('runtime', 'mminstall', 'optional', 'deploy', 'index', 'web',
             'tests', 'build')
    known = PREINSTALLED.union(*(declared(name) for name in files))
    imports = third_party_imports('mmsearch')
    imports.update(third_party_imports('tools'))
    undeclared = {m: path for m, path in imports.items() if m not in known}
    assert undeclared == {}


def test_runtime_requirements_are_imported_by_the_package():
    imported = set(third_party_imports('mmsearch'))
    assert sorted(declared('runtime') - imported) == []
    # the package's own imports of the runtime file's kind are all there
    assert {'numpy', 'cv2', 'scipy', 'PIL', 'terminaltables'} <= imported
