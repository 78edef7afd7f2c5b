"""Training refuses to start when num_person_ids is below the training
set's number of identities."""
import os.path as osp

import pytest
from mmengine.config import Config
from mmengine.runner import Runner

from mmsearch.datasets.synthetic import SyntheticConfig, make_synthetic_dataset
from mmsearch.engine import (PersonIdCheckHook, check_num_person_ids,
                             count_train_identities)
from mmsearch.models.losses import OIMLoss, OLPLoss

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
CONFIG = osp.join(ROOT, 'configs', 'dcinet', 'dcinet_r18_synthetic.py')
NUM_TRAIN_IDS = 4


@pytest.fixture(scope='module')
def synthetic_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('synthetic'))
    make_synthetic_dataset(
        root,
        SyntheticConfig(
            num_train_ids=NUM_TRAIN_IDS,
            num_test_ids=3,
            num_train_images=6,
            num_test_images=51,
            image_size=(64, 48),
            gallery_sizes=(50, ),
            seed=0))
    return root + '/'


def tiny_runner(data_root, work_dir, num_person_ids):
    cfg = Config.fromfile(CONFIG)
    cfg.merge_from_dict({
        'work_dir': str(work_dir),
        'model.roi_head.num_person_ids': num_person_ids,
        'train_dataloader.num_workers': 0,
        'train_dataloader.persistent_workers': False,
        'train_dataloader.dataset.dataset.data_root': data_root,
        'train_cfg.max_epochs': 1,
    })
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.pop('visualization')
    return Runner.from_cfg(cfg)


def test_every_method_config_checks_the_identities():
    for method in ('oim', 'inet', 'dcinet'):
        cfg = Config.fromfile(
            osp.join(ROOT, 'configs', method, f'{method}_r50_cuhk.py'))
        assert cfg.default_hooks.person_id_check.type == 'PersonIdCheckHook'


def test_training_with_too_few_rows_fails_before_the_first_step(
        synthetic_root, tmp_path):
    runner = tiny_runner(synthetic_root, tmp_path, NUM_TRAIN_IDS - 1)
    with pytest.raises(
            ValueError,
            match=r'training set has 4 labelled identities \(person_id '
            r'0\.\.3\) but reid_losses\[1\] \(C2HEPLoss\) was built with '
            r'num_person_ids=3 rows: set model\.roi_head\.num_person_ids=4'):
        runner.train()
    assert runner.iter == 0


def test_enough_rows_pass(synthetic_root, tmp_path):
    runner = tiny_runner(synthetic_root, tmp_path, NUM_TRAIN_IDS)
    # the generator's count, through the pair dataset wrapper
    assert count_train_identities(
        runner.train_loop.dataloader.dataset) == NUM_TRAIN_IDS
    PersonIdCheckHook().before_train(runner)  # no error


def test_check_names_the_loss_and_ignores_losses_without_a_table():
    losses = [OLPLoss(feat_dim=8), OIMLoss(num_person_ids=5, feat_dim=8)]
    check_num_person_ids(losses, 5)
    check_num_person_ids(losses, 2)  # more rows: a warning only
    with pytest.raises(ValueError, match=r'reid_losses\[1\] \(OIMLoss\)'):
        check_num_person_ids(losses, 6)
