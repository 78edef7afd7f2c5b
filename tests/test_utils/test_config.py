"""--data-root and the refusal of overrides that change nothing."""
import os.path as osp

import pytest
from mmengine.config import Config

from mmsearch.registry import MODELS
from mmsearch.utils import check_cfg_options, set_data_root
from mmsearch.utils.config import dataloader_paths

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
DCINET_R18 = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')
DCINET_PRW = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r50_prw.py')


def dataset_roots(cfg):
    """data_root of every leaf dataset, by path (written out by hand)."""
    return {
        'train': cfg.train_dataloader.dataset.dataset.data_root,  # pairs
        'test': cfg.test_dataloader.dataset.data_root,
        'query': cfg.test_cfg.query_dataloader.dataset.data_root,
    }


@pytest.mark.parametrize('config', [DCINET_R18, DCINET_PRW])
def test_merging_data_root_changes_no_dataset(config):
    """What the users ran into: the top-level copy alone changes."""
    cfg = Config.fromfile(config)
    before = dataset_roots(cfg)
    cfg.merge_from_dict({'data_root': '/elsewhere/'})
    assert cfg.data_root == '/elsewhere/'
    assert dataset_roots(cfg) == before != {k: '/elsewhere/' for k in before}


@pytest.mark.parametrize('config', [DCINET_R18, DCINET_PRW])
def test_set_data_root_reaches_every_split(config):
    cfg = Config.fromfile(config)
    changed = set_data_root(cfg, '/data/other/')
    assert dataset_roots(cfg) == dict.fromkeys(('train', 'test', 'query'),
                                               '/data/other/')
    assert cfg.data_root == '/data/other/'
    assert 'train_dataloader.dataset.dataset.data_root' in changed
    assert 'test_cfg.query_dataloader.dataset.data_root' in changed
    # the pipelines got no data_root
    assert all('data_root' not in t
               for t in cfg.test_dataloader.dataset.pipeline)


def test_set_data_root_walks_concatenations_and_val_loaders():
    cfg = Config(
        dict(
            train_dataloader=dict(
                dataset=dict(
                    type='ConcatDataset',
                    datasets=[
                        dict(type='A', data_root='a/', pipeline=[]),
                        dict(
                            type='Wrap',
                            dataset=dict(type='B', data_root='b/'))
                    ])),
            val_dataloader=dict(dataset=dict(type='C')),
            val_cfg=dict(query_dataloader=dict(dataset=dict(type='D'))),
            model=dict(type='M', data_root='untouched')))
    changed = set_data_root(cfg, 'new/')
    assert sorted(changed) == [
        'train_dataloader.dataset.datasets.0.data_root',
        'train_dataloader.dataset.datasets.1.dataset.data_root',
        'val_cfg.query_dataloader.dataset.data_root',
        'val_dataloader.dataset.data_root'
    ]
    assert cfg.model.data_root == 'untouched'
    assert 'data_root' not in cfg  # no top-level variable to update
    assert [p for p, _ in dataloader_paths(cfg)] == [
        'train_dataloader', 'val_dataloader', 'val_cfg.query_dataloader'
    ]
    with pytest.raises(ValueError, match='no dataloader'):
        set_data_root(Config(dict(model=dict())), 'x/')


def test_overriding_data_root_or_num_person_ids_is_refused():
    cfg = Config.fromfile(DCINET_R18)
    with pytest.raises(
            ValueError,
            match=r'data_root: data_root is a variable of the config file '
            r'and it was copied into .*test_dataloader\.dataset\.data_root'
            r'.*use --data-root /x/ instead'):
        check_cfg_options(cfg, {'data_root': '/x/'})
    # the RoI head's num_person_ids, which the losses take theirs from
    with pytest.raises(
            ValueError,
            match=r'num_person_ids: .* copied into model\.roi_head\.'
            r'num_person_ids when .*override those keys instead, '
            r'e\.g\. model\.roi_head\.num_person_ids=7\.$'):
        check_cfg_options(cfg, {'num_person_ids': 7})
    # embed_dim: the embedding head's, not every other 256 of the config
    with pytest.raises(
            ValueError,
            match=r'embed_dim: .* copied into model\.roi_head\.reid_head\.'
            r'embed_dim when .* e\.g\. model\.roi_head\.reid_head\.'
            r'embed_dim=128\.$'):
        check_cfg_options(cfg, {'embed_dim': 128})
    # another number: the settings holding its value are listed as such,
    # not claimed to be copies
    cfg.merge_from_dict({'num_hard': 10})
    with pytest.raises(
            ValueError,
            match=r'num_hard: .* the settings that hold its value are '
            r'.*model\.roi_head\.reid_losses\.1\.num_hard'):
        check_cfg_options(cfg, {'num_hard': 3})
    # without a data-root option (the search API) the keys are advised
    with pytest.raises(ValueError, match=r'override those keys instead'):
        check_cfg_options(cfg, {'data_root': '/x/'}, data_root_option=None)
    # a list variable copied into the pipelines
    with pytest.raises(ValueError, match=r'test_pipeline\.0\.type: '):
        check_cfg_options(cfg, {'test_pipeline.0.type': 'X'})


def test_overrides_that_take_effect_pass():
    cfg = Config.fromfile(DCINET_R18)
    check_cfg_options(
        cfg, {
            'train_cfg.max_iters': 3,
            'model.roi_head.num_person_ids': 7,
            'model.roi_head.reid_head.embed_dim': 128,
            'load_from': 'a.pth',
            'work_dir': 'w',
            'resume': True,
            'new_key': 1,
        })
    check_cfg_options(cfg, None)


def test_the_head_keys_reach_the_losses():
    """The one key each to override: the losses follow when built."""
    cfg = Config.fromfile(DCINET_R18)
    cfg.merge_from_dict({
        'model.roi_head.num_person_ids': 7,
        'model.roi_head.reid_head.embed_dim': 64
    })
    head_cfg = dict(cfg.model.roi_head, train_cfg=None, test_cfg=None)
    head = MODELS.build(head_cfg)
    assert [(type(loss).__name__, loss.feat_dim, loss.num_person_ids)
            for loss in head.reid_losses] == [('OLPLoss', 64, None),
                                              ('C2HEPLoss', 64, 7)]
    assert tuple(head.reid_losses[1].centres.table.shape) == (7, 64)
