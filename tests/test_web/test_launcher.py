"""tools/index/web_search.py: bad input stops with a clear message before
any server starts; good input reaches the server with the given address.
"""
import json
import logging
import os.path as osp
import shutil
import sys

import pytest
import torch
from mmengine.logging import MMLogger

from mmsearch.apis import init_searcher
from mmsearch.cli import run_cli
from mmsearch.deployment.calibration import make_detecting
from mmsearch.testing import load_tool_module
from mmsearch.testing.web import require_browser
from .conftest import HEIGHT, WIDTH


@pytest.fixture
def launcher(monkeypatch):
    """The tool's module; starting a server records its arguments."""
    require_browser(browser=False)
    import mmsearch.web.app as web_app
    started = []
    monkeypatch.setattr(
        web_app, 'launch_search_app', lambda app, host, port: started.append(
            (type(app).__name__, host, port)))
    tool = load_tool_module('tools/index/web_search.py')
    tool.started = started
    return tool


def run_refused(tool, capsys, args):
    """Run the tool as its command line does; it must exit 2 with one line
    ``error: ...`` and start no server. Returns that line."""
    capsys.readouterr()
    # The current mmengine logger may hold a console stream of an earlier
    # test's capture (closed since); a command line starts with the real
    # one: give it this test's.
    for handler in MMLogger.get_current_instance().handlers:
        if type(handler) is logging.StreamHandler:
            handler.stream = sys.stdout  # setStream would flush the old
    with pytest.raises(SystemExit) as info:
        run_cli(tool.main, args)
    assert info.value.code == 2
    assert tool.started == []
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1, err
    return err


def test_missing_index(launcher, tmp_path, capsys):
    message = run_refused(launcher, capsys, [str(tmp_path / 'nowhere.idx')])
    assert 'nowhere.idx' in message and 'not found' in message


def test_not_an_index_and_wrong_version(launcher, web_index, tmp_path, capsys):
    message = run_refused(launcher, capsys, [str(tmp_path)])
    assert 'manifest.json' in message and str(tmp_path) in message
    copy = str(tmp_path / 'old.idx')
    shutil.copytree(web_index['index_dir'], copy)
    manifest = osp.join(copy, 'manifest.json')
    with open(manifest) as file:
        data = json.load(file)
    data['format_version'] = 99
    with open(manifest, 'w') as file:
        json.dump(data, file)
    message = run_refused(launcher, capsys, [copy])
    assert 'format version 99' in message


def test_missing_files_and_foreign_model(launcher, web_index, tmp_path,
                                         capsys):
    index_dir = web_index['index_dir']
    message = run_refused(
        launcher, capsys,
        [index_dir, '--config', str(tmp_path / 'no.py')])
    assert '--config' in message and 'no.py' in message
    message = run_refused(launcher, capsys, [index_dir, '--port', '70000'])
    assert '--port' in message
    torch.manual_seed(1)
    other = init_searcher(web_index['config'], device='cpu')
    make_detecting(other, seed=2, size=(HEIGHT, WIDTH))
    foreign = str(tmp_path / 'foreign.pth')
    torch.save(dict(state_dict=other.state_dict(), meta=dict()), foreign)
    message = run_refused(launcher, capsys,
                          [index_dir, '--checkpoint', foreign])
    assert 'embeds differently' in message


def test_good_index_starts_the_server(launcher, web_index):
    launcher.main(
        [web_index['index_dir'], '--port', '7999', '--host', '0.0.0.0'])
    assert launcher.started == [('Blocks', '0.0.0.0', 7999)]
