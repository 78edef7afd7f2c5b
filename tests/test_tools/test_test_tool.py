"""tools/test.py and load_from with a published checkpoint."""
import glob
import os.path as osp
import pickle
import re

import pytest
import torch
from tool_helpers import TRAIN_ITERS, run_tool

from mmsearch.registry import DATASETS


def test_published_checkpoint_is_meta_and_weights(published_checkpoint,
                                                  trained_work_dir):
    published = torch.load(published_checkpoint, weights_only=True)
    trained = torch.load(
        osp.join(trained_work_dir, f'iter_{TRAIN_ITERS}.pth'),
        weights_only=True)
    assert set(published) == {'meta', 'state_dict'}
    assert sorted(published['state_dict']) == sorted(trained['state_dict'])
    for name, value in trained['state_dict'].items():
        assert torch.equal(published['state_dict'][name], value), name


def test_test_tool_evaluates_and_dumps(published_checkpoint, tiny_config,
                                       tmp_path):
    from mmengine.config import Config
    out = str(tmp_path / 'results.pkl')
    result = run_tool([
        'tools/test.py', tiny_config, published_checkpoint, '--work-dir',
        str(tmp_path), '--out', out, '--show-dir', 'vis'
    ])
    log = result.stdout + result.stderr
    assert 'Loaded checkpoint' in log and 'match the model' in log
    assert 'mAP' in log and 'top1' in log.replace('-', '')
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    cfg = Config.fromfile(tiny_config)
    num_gallery = len(DATASETS.build(cfg.test_dataloader.dataset))
    num_queries = len(DATASETS.build(cfg.test_cfg.query_dataloader.dataset))
    assert len(dumped) == num_gallery + num_queries
    assert all('pred_instances' in sample for sample in dumped[:num_gallery])
    assert all('pred_query_feat' in sample for sample in dumped[num_gallery:])
    drawn = glob.glob(str(tmp_path / '*' / 'vis' / '*.jpg'))
    assert len(drawn) >= num_gallery


def test_test_tool_names_a_missing_checkpoint(tiny_config, tmp_path):
    result = run_tool(
        ['tools/test.py', tiny_config,
         str(tmp_path / 'missing.pth')],
        check=False,
        timeout=120)
    assert result.returncode != 0
    assert 'missing.pth' in result.stderr and 'not found' in result.stderr


def test_load_from_takes_the_published_checkpoint(published_checkpoint,
                                                  tiny_config, tmp_path):
    """Training starts from published weights through load_from."""
    work_dir = str(tmp_path / 'finetune')
    result = run_tool([
        'tools/train.py', tiny_config, '--work-dir', work_dir, '--cfg-options',
        f'load_from={published_checkpoint}', 'train_cfg.max_iters=1'
    ])
    assert 'Load checkpoint from' in result.stdout + result.stderr
    start = torch.load(
        osp.join(work_dir, 'state_before_train_rank0.pth'), weights_only=True)
    published = torch.load(published_checkpoint, weights_only=True)
    for name, value in start['buffers'].items():
        if name in published['state_dict']:
            assert torch.equal(value, published['state_dict'][name]), name


@pytest.mark.parametrize('bad_out', ['results.json'])
def test_test_tool_rejects_non_pickle_out(published_checkpoint, tiny_config,
                                          tmp_path, bad_out):
    result = run_tool([
        'tools/test.py', tiny_config, published_checkpoint, '--out',
        str(tmp_path / bad_out)
    ],
                      check=False,
                      timeout=120)
    assert result.returncode != 0 and '.pkl' in result.stderr


def test_dist_test_two_processes(published_checkpoint, tiny_config, tmp_path):
    """tools/dist_test.sh on 2 CPU processes gives every sample once."""
    import socket
    import subprocess

    from mmengine.config import Config
    from tool_helpers import ROOT, tool_env

    from mmsearch.testing import multiprocess_env
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    env = multiprocess_env(2, tool_env())  # CPU unless 2 GPUs
    env.update(PORT=str(port), OMP_NUM_THREADS='1')
    out = str(tmp_path / 'dist_results.pkl')
    result = subprocess.run([
        'bash', 'tools/dist_test.sh', tiny_config, published_checkpoint, '2',
        '--work-dir',
        str(tmp_path), '--out', out
    ],
                            cwd=ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=300)
    assert result.returncode == 0, (
        result.stdout[-3000:] + result.stderr[-5000:])
    assert 'mAP' in result.stdout + result.stderr
    with open(out, 'rb') as f:
        dumped = pickle.load(f)
    cfg = Config.fromfile(tiny_config)
    num_gallery = len(DATASETS.build(cfg.test_dataloader.dataset))
    num_queries = len(DATASETS.build(cfg.test_cfg.query_dataloader.dataset))
    assert len(dumped) == num_gallery + num_queries
    gallery_ids = [sample['img_id'] for sample in dumped[:num_gallery]]
    assert len(set(gallery_ids)) == num_gallery
    assert [s['query_index']
            for s in dumped[num_gallery:]] == list(range(num_queries))


@pytest.fixture(scope='session')
def tiny_oim_config(synthetic_root, tmp_path_factory) -> str:
    """The R-18 OIM synthetic config shrunk like the DC-I-Net one, with a
    data_root that does not exist (--data-root gives the real one)."""
    from tool_helpers import ROOT, TINY_CONFIG
    path = tmp_path_factory.mktemp('configs') / 'tiny_oim.py'
    path.write_text(
        TINY_CONFIG.format(
            base=osp.join(ROOT, 'configs', 'oim', 'oim_r18_synthetic.py'),
            data_root=osp.join(synthetic_root, 'not_here') + '/',
            iters=TRAIN_ITERS))
    return str(path)


def test_test_tool_refuses_a_checkpoint_of_another_model(
        published_checkpoint, tiny_oim_config, synthetic_root, tmp_path):
    """A DC-I-Net checkpoint under an OIM config: refused before testing."""
    result = run_tool([
        'tools/test.py', tiny_oim_config, published_checkpoint, '--data-root',
        synthetic_root, '--work-dir',
        str(tmp_path)
    ],
                      check=False,
                      timeout=120)
    assert result.returncode != 0
    assert re.search(
        r'CheckpointMismatchError: checkpoint ".*dcinet_tiny.*\.pth" does '
        r"not fit the model built from the config: \d+ of the model's \d+ "
        r'tensors are missing from the checkpoint \(e\.g\. .*\); \d+ have '
        r'another shape .*; \d+ checkpoint tensors are not in the model '
        r'.*pass --allow-partial-checkpoint', result.stderr)
    assert 'mAP' not in result.stdout + result.stderr


def test_test_tool_data_root_and_partial_checkpoint(published_checkpoint,
                                                    tiny_oim_config,
                                                    synthetic_root, tmp_path):
    """--data-root reaches the gallery and query splits; a partial load
    runs when asked, and says so."""
    result = run_tool([
        'tools/test.py', tiny_oim_config, published_checkpoint, '--data-root',
        synthetic_root, '--allow-partial-checkpoint', '--work-dir',
        str(tmp_path)
    ])
    log = result.stdout + result.stderr
    assert 'Partial load of checkpoint' in log
    assert 'mAP' in log


def test_test_tool_refuses_ignored_overrides(published_checkpoint, tiny_config,
                                             tmp_path):
    for option, advice in (('data_root=/elsewhere/',
                            'use --data-root /elsewhere/ instead'),
                           ('num_person_ids=7', 'override those keys')):
        result = run_tool([
            'tools/test.py', tiny_config, published_checkpoint,
            '--cfg-options', option
        ],
                          check=False,
                          timeout=120)
        assert result.returncode != 0
        assert '--cfg-options would change nothing' in result.stderr
        assert advice in result.stderr


def test_test_tool_checks_out_before_testing(published_checkpoint, tiny_config,
                                             tmp_path):
    blocker = tmp_path / 'a_file'
    blocker.write_text('')
    out = str(blocker / 'sub' / 'results.pkl')
    result = run_tool(
        ['tools/test.py', tiny_config, published_checkpoint, '--out', out],
        check=False,
        timeout=120)
    assert result.returncode != 0
    assert f'--out {out}: cannot create the folder' in result.stderr
    assert 'mAP' not in result.stdout + result.stderr  # nothing was tested


def test_train_from_a_partial_load_from_says_what_was_missing(
        published_checkpoint, tiny_config, tmp_path):
    """A backbone-only load_from stays allowed for training."""
    checkpoint = torch.load(published_checkpoint, weights_only=True)
    backbone = {
        k: v
        for k, v in checkpoint['state_dict'].items()
        if k.startswith('backbone.')
    }
    path = str(tmp_path / 'backbone_only.pth')
    torch.save(dict(state_dict=backbone), path)
    result = run_tool([
        'tools/train.py', tiny_config, '--work-dir',
        str(tmp_path / 'work'), '--cfg-options', f'load_from={path}',
        'train_cfg.max_iters=1'
    ])
    log = result.stdout + result.stderr
    assert 'missing keys in source state_dict' in log
    assert 'roi_head.' in log
