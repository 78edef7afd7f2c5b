"""model-index.yml, the metafiles and the method READMEs agree."""
import glob
import os.path as osp

import pytest
import yaml

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
METHODS = ('oim', 'inet', 'dcinet')


def _metafiles():
    with open(osp.join(ROOT, 'model-index.yml')) as f:
        return yaml.safe_load(f)['Import']


def test_model_index_imports_every_method():
    assert sorted(_metafiles()) == sorted(f'configs/{m}/metafile.yml'
                                          for m in METHODS)


@pytest.mark.parametrize('method', METHODS)
def test_metafile_lists_every_config_once(method):
    with open(osp.join(ROOT, 'configs', method, 'metafile.yml')) as f:
        meta = yaml.safe_load(f)
    collection = meta['Collections'][0]['Name']
    listed = []
    for model in meta['Models']:
        assert model['In Collection'] == collection
        assert osp.isfile(osp.join(ROOT, model['Config'])), model['Config']
        assert model['Name'] == osp.splitext(osp.basename(model['Config']))[0]
        results = model['Results'][0]
        assert results['Task'] == 'Person Search'
        assert set(results['Metrics']) == {'mAP', 'top-1'}
        listed.append(model['Config'])
    configs = sorted(
        osp.relpath(p, ROOT)
        for p in glob.glob(osp.join(ROOT, 'configs', method, '*.py')))
    assert sorted(listed) == configs


@pytest.mark.parametrize('method', METHODS)
def test_readme_links_every_config_and_cites(method):
    with open(osp.join(ROOT, 'configs', method, 'README.md')) as f:
        readme = f.read()
    for path in glob.glob(osp.join(ROOT, 'configs', method, '*.py')):
        assert f'(./{osp.basename(path)})' in readme, path
    assert '## Citation' in readme and '@' in readme
