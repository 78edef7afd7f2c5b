"""The configs whose re-ID losses take feat_dim / num_person_ids from the
RoI head build the same models as their explicit versions did.

The reference is the config tree of an earlier commit, read from git, in
which every loss wrote its ``feat_dim`` and ``num_person_ids`` itself: the
whole config (model, loops, evaluators, top-level variables) must be the
same but for the loss lists, and the losses built both ways must have the
same settings and memory shapes.
"""
import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from utils import CONFIG_ROOT

from mmsearch.datasets.synthetic import SyntheticConfig
from mmsearch.registry import MODELS

REPO = CONFIG_ROOT.parent
# the last commit with explicit feat_dim / num_person_ids in every loss
REFERENCE_COMMIT = '7b58caf'
CONFIGS_THEN = [
    'dcinet/dcinet_r101_cuhk.py', 'dcinet/dcinet_r18_synthetic.py',
    'dcinet/dcinet_r18_synthetic_json.py', 'dcinet/dcinet_r50_cuhk.py',
    'dcinet/dcinet_r50_prw.py', 'dcinet/dcinet_x101_32x4d_cuhk.py',
    'inet/inet_r18_synthetic.py', 'inet/inet_r50_cuhk.py',
    'inet/inet_r50_prw.py', 'oim/oim_r18_synthetic.py', 'oim/oim_r50_cuhk.py',
    'oim/oim_r50_prw.py'
]


def reference_configs(tmp_dir: Path) -> Path:
    """``configs/`` of :data:`REFERENCE_COMMIT`, extracted under tmp_dir.

    Skips the test where git or the commit is not available (an archive
    without history).
    """
    git = shutil.which('git')
    if git is None or not (REPO / '.git').exists():
        pytest.skip('needs git and the repository history')
    result = subprocess.run(
        [git, 'archive', '--format=tar', REFERENCE_COMMIT, 'configs'],
        cwd=REPO,
        capture_output=True)
    if result.returncode != 0:
        pytest.skip(f'commit {REFERENCE_COMMIT} is not in this clone: '
                    f'{result.stderr.decode(errors="replace").strip()}')
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(tmp_dir, filter='data')
    return tmp_dir / 'configs'


@pytest.fixture(scope='module')
def old_root(tmp_path_factory):
    return reference_configs(tmp_path_factory.mktemp('reference'))


def loss_settings(loss: torch.nn.Module) -> dict:
    """Type, plain hyper-parameters and memory/weight shapes of a loss."""
    plain = {
        key: value
        for key, value in vars(loss).items()
        if isinstance(value, (int, float, str, bool,
                              type(None))) and key != 'training'
    }
    shapes = {
        key: tuple(value.shape)
        for key, value in loss.state_dict().items()
    }
    return dict(type=type(loss).__name__, **plain, shapes=shapes)


def without_losses(cfg: Config) -> dict:
    """The config as a dict, less the loss list, the identity counts and
    the identity check hook.

    The top-level ``num_person_ids`` is left out too: it was a stale 5532
    in the reference's ``oim_r50_prw.py`` (its loss wrote 483).
    """
    cfg_dict = cfg.to_dict()
    cfg_dict.pop('num_person_ids', None)
    # added since: the check of num_person_ids at training start
    cfg_dict['default_hooks'].pop('person_id_check', None)
    roi_head = cfg_dict['model']['roi_head']
    roi_head.pop('reid_losses')
    roi_head.pop('num_person_ids', None)
    return cfg_dict


def test_every_config_of_the_reference_is_compared(old_root):
    """CONFIGS_THEN lists every method config of the reference commit, and
    each of them still exists."""
    then = sorted(
        str(path.relative_to(old_root)) for method in ('oim', 'inet', 'dcinet')
        for path in (old_root / method).glob('*.py'))
    assert sorted(CONFIGS_THEN) == then
    current = sorted(
        str(path.relative_to(CONFIG_ROOT))
        for method in ('oim', 'inet', 'dcinet')
        for path in (CONFIG_ROOT / method).glob('*.py'))
    assert set(CONFIGS_THEN) <= set(current)


@pytest.mark.parametrize('config', CONFIGS_THEN)
def test_config_builds_the_losses_of_the_reference(config, old_root):
    old_cfg = Config.fromfile(old_root / config)
    new_cfg = Config.fromfile(CONFIG_ROOT / config)
    # everything else (backbone, heads, train/test settings, loops,
    # evaluators, dataloaders, top-level variables) is unchanged
    assert without_losses(new_cfg) == without_losses(old_cfg)
    # the head's value is the dataset's: the old losses' explicit value
    old_ids = {
        loss['num_person_ids']
        for loss in old_cfg.model.roi_head.reid_losses
        if 'num_person_ids' in loss
    }
    assert old_ids == {new_cfg.model.roi_head.num_person_ids}
    assert new_cfg.num_person_ids == new_cfg.model.roi_head.num_person_ids

    roi_head = MODELS.build(
        dict(new_cfg.model.roi_head, train_cfg=None, test_cfg=None))
    old_losses = [
        MODELS.build(loss_cfg)
        for loss_cfg in old_cfg.model.roi_head.reid_losses
    ]
    assert [loss_settings(loss) for loss in roi_head.reid_losses
            ] == [loss_settings(loss) for loss in old_losses]


def test_synthetic_configs_match_the_generated_identities():
    """Without git: the synthetic configs against the generator's count."""
    for method in ('oim', 'inet', 'dcinet'):
        cfg = Config.fromfile(CONFIG_ROOT / method /
                              f'{method}_r18_synthetic.py')
        assert cfg.model.roi_head.num_person_ids == \
            SyntheticConfig().num_train_ids
