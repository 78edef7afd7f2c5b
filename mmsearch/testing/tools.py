"""Import the repository's scripts (``tools/...``) in tests."""
import importlib.util
import os.path as osp
from types import ModuleType

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))


def load_tool_module(path: str) -> ModuleType:
    """Import a script of the repository as a module, by path.

    Args:
        path (str): Path relative to the repository root, e.g.
            ``'tools/misc/gpu_check.py'``.

    Returns:
        module: The executed module (its ``main`` is not run).
    """
    full_path = osp.join(ROOT, path)
    if not osp.isfile(full_path):
        raise FileNotFoundError(f'load_tool_module: no file {full_path}')
    name = osp.splitext(osp.basename(path))[0]
    spec = importlib.util.spec_from_file_location(f'tools_{name}', full_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
