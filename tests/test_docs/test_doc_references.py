"""Every path, link, Python name and tool option the documentation names
must exist, and no message of the package may send a user to a file that
the project does not ship.

The checks read the Markdown of ``README.md``, ``docs/`` and the config
folders' READMEs:

- relative links ``[text](path#anchor)`` resolve to a file or folder;
- repository paths (``tools/...``, ``configs/...``, ``mmsearch/...``,
  ``docs/...``, ``requirements/...``) in text and code blocks exist;
- dotted names ``mmsearch.x.y`` import, CamelCase names in backticks are
  registered in a registry or defined in mmsearch (or mmdet/mmengine);
- ``--options`` written after ``python tools/X.py`` (or the dist/slurm
  launchers) are options of that tool.

Source files (package, tools, configs) may name ``docs/...`` files only if
they exist, and never the team's internal notes.
"""
import importlib
import os
import os.path as osp
import pkgutil
import re
from typing import Iterator, List, Set, Tuple

import pytest

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
PATH_PREFIXES = ('tools', 'configs', 'mmsearch', 'docs', 'requirements',
                 'tests')
PATH_RE = re.compile(r'(?<![\w/.-])((?:%s)/[\w./-]*[\w/])' %
                     '|'.join(PATH_PREFIXES))
LINK_RE = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
BACKTICK_RE = re.compile(r'`([^`\n]+)`')
DOTTED_RE = re.compile(r'^(mmsearch(?:\.\w+)+)')
CAMEL_RE = re.compile(r'^([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:\(|$)')
TOOL_CALL_RE = re.compile(r'(tools/[\w/]+\.(?:py|sh))([^\n]*)')
OPTION_RE = re.compile(r'(?<![\w-])(--[a-z][\w-]*)')
# The launchers pass their extra arguments to these tools.
LAUNCHED = {
    'tools/dist_train.sh': 'tools/train.py',
    'tools/slurm_train.sh': 'tools/train.py',
    'tools/dist_test.sh': 'tools/test.py',
    'tools/slurm_test.sh': 'tools/test.py',
    'tools/index/dist_build_index.sh': 'tools/index/build_index.py',
    'tools/index/slurm_build_index.sh': 'tools/index/build_index.py',
    'tools/quickstart.sh': 'tools/misc/quickstart.py',
}
INTERNAL_NOTES = ('METHOD.md', 'DATASETS.md', 'PROTOCOL.md', 'ARCHITECTURE.md',
                  'ENVIRONMENT.md', 'contract item')


def markdown_files(root: str = ROOT) -> List[str]:
    """README.md, docs/**/*.md and configs/*/README.md under ``root``."""
    files = [osp.join(root, 'README.md')]
    for folder in ('docs', 'configs'):
        for dirpath, _, names in os.walk(osp.join(root, folder)):
            files += [
                osp.join(dirpath, n) for n in sorted(names)
                if n.endswith('.md')
            ]
    return [f for f in files if osp.isfile(f)]


def broken_links(md_file: str) -> List[str]:
    """Relative links of ``md_file`` whose target does not exist."""
    text = open(md_file, encoding='utf-8').read()
    bad = []
    for target in LINK_RE.findall(text):
        if re.match(r'^(https?:|mailto:|#)', target):
            continue
        path = target.split('#')[0]
        if not osp.exists(osp.join(osp.dirname(md_file), path)):
            bad.append(target)
    return bad


def missing_paths(text: str, root: str = ROOT) -> List[str]:
    """Repository paths named in ``text`` that do not exist under root.

    Paths with a glob or placeholder (``*``, ``{``, ``<``, ``X``-style
    capitals after the prefix) are skipped.
    """
    bad = []
    for path in PATH_RE.findall(text):
        path = path.rstrip('.')
        if re.search(r'[*{<]|/[A-Z_]+(/|\.|$)', path):
            continue
        if not osp.exists(osp.join(root, path)):
            bad.append(path)
    return sorted(set(bad))


def backtick_names(text: str) -> Iterator[Tuple[str, str]]:
    """('dotted' | 'class', name) for code names in single backticks."""
    for code in BACKTICK_RE.findall(text):
        code = code.strip()
        dotted = DOTTED_RE.match(code)
        if dotted:
            yield 'dotted', dotted.group(1)
            continue
        camel = CAMEL_RE.match(code)
        if camel:
            yield 'class', camel.group(1)


def unknown_tool_options(text: str, root: str = ROOT) -> List[str]:
    """``tool --option`` pairs in ``text`` that the tool does not accept."""
    bad = []
    for tool, rest in TOOL_CALL_RE.findall(text):
        source_file = osp.join(root, LAUNCHED.get(tool, tool))
        if not osp.isfile(source_file):
            continue  # reported by missing_paths
        source = open(source_file, encoding='utf-8').read()
        for option in OPTION_RE.findall(rest.split('#')[0]):
            if f"'{option}'" not in source and f'"{option}"' not in source:
                bad.append(f'{tool} {option}')
    return bad


def registries() -> list:
    """mmsearch's registries."""
    from mmengine.registry import Registry

    import mmsearch.registry as registry
    return [r for r in vars(registry).values() if isinstance(r, Registry)]


def import_dotted(name: str) -> bool:
    """Whether ``mmsearch.a.b.c`` resolves to a module or attribute, or
    is a scoped registry name such as ``mmsearch.pair_collate``."""
    from mmsearch.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    if any(reg.get(name) is not None for reg in registries()):
        return True
    parts = name.split('.')
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module('.'.join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def known_class_names() -> Set[str]:
    """Registered names (mmsearch's registries and their parents) and the
    public names of every mmsearch module, mmdet.structures, mmengine and
    the ONNX operators."""
    import builtins

    import mmdet.structures
    import mmengine

    import mmsearch
    from mmsearch.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    names: Set[str] = set()
    for reg in registries():
        while reg is not None:
            names.update(reg.module_dict)
            reg = reg.parent
    for info in pkgutil.walk_packages(mmsearch.__path__, 'mmsearch.'):
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        names.update(n for n in vars(module) if not n.startswith('_'))
    for module in (builtins, mmdet.structures, mmengine):
        names.update(n for n in dir(module) if not n.startswith('_'))
    try:  # ONNX operator names (the deploy extra)
        import onnx.defs
        names.update(schema.name for schema in onnx.defs.get_all_schemas())
    except ImportError:
        pass
    return names


def source_files(root: str = ROOT) -> Iterator[str]:
    """Python and shell files of the package, the tools and the configs."""
    for folder in ('mmsearch', 'tools', 'configs'):
        for dirpath, _, names in os.walk(osp.join(root, folder)):
            for name in sorted(names):
                if name.endswith(('.py', '.sh')):
                    yield osp.join(dirpath, name)


# ---------------------------------------------------------------------------
# The checkers themselves, on hand-made files.


def test_checkers_find_broken_references(tmp_path):
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' /
     'real.py').write_text("parser.add_argument('--known')\n")
    md = tmp_path / 'page.md'
    md.write_text('[ok](tools/real.py) [bad](nowhere.md#x) [web](https://a)'
                  ' [anchor](#top)\n')
    assert broken_links(str(md)) == ['nowhere.md#x']
    text = ('run `tools/real.py` and tools/fake.py, '
            'not configs/X/CONFIG.py nor configs/*.py\n'
            'python tools/real.py --known --unknown  # --comment\n')
    assert missing_paths(text, str(tmp_path)) == ['tools/fake.py']
    assert unknown_tool_options(text,
                                str(tmp_path)) == ['tools/real.py --unknown']
    names = list(
        backtick_names('`mmsearch.apis.init_searcher(x)` `Foo(a=1)` '
                       '`PersonSearchMetric` `lower` `ALLCAPS`'))
    assert names == [('dotted', 'mmsearch.apis.init_searcher'),
                     ('class', 'Foo'), ('class', 'PersonSearchMetric')]
    assert import_dotted('mmsearch.apis.init_searcher')
    assert not import_dotted('mmsearch.apis.no_such_function')


# ---------------------------------------------------------------------------
# The project's documentation.

MD_FILES = markdown_files()


def test_docs_exist():
    names = {osp.relpath(f, ROOT) for f in MD_FILES}
    assert 'docs/en/get_started.md' in names
    assert len([n for n in names if n.startswith('docs/')]) >= 6


@pytest.mark.parametrize(
    'md_file', MD_FILES, ids=[osp.relpath(f, ROOT) for f in MD_FILES])
def test_markdown_references(md_file):
    text = open(md_file, encoding='utf-8').read()
    assert broken_links(md_file) == []
    assert missing_paths(text) == []
    assert unknown_tool_options(text) == []
    assert not [n for n in INTERNAL_NOTES if n in text]
    bad = [
        name for kind, name in backtick_names(text)
        if kind == 'dotted' and not import_dotted(name)
    ]
    assert bad == []


def test_markdown_class_names():
    known = known_class_names()
    unknown = set()
    for md_file in MD_FILES:
        text = open(md_file, encoding='utf-8').read()
        unknown.update(f'{osp.relpath(md_file, ROOT)}: {name}'
                       for kind, name in backtick_names(text)
                       if kind == 'class' and name not in known)
    assert sorted(unknown) == []


def test_sources_name_only_shipped_docs():
    bad = []
    for path in source_files():
        text = open(path, encoding='utf-8').read()
        rel = osp.relpath(path, ROOT)
        bad += [
            f'{rel}: {p}' for p in missing_paths(text) if p.startswith('docs/')
        ]
        bad += [f'{rel}: {n}' for n in INTERNAL_NOTES if n in text]
    assert bad == []
