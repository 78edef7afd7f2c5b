"""Two CPU processes (gloo): memories stay identical across ranks.

Each rank feeds different data (different RoI counts, zero on one step);
after several steps every memory buffer must be equal on both ranks, and
equal to a single process that saw both ranks' data concatenated in rank
order.
"""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

from mmsearch.models.losses import C2HEPLoss, OIMLoss, OLPLoss
from mmsearch.models.memories import gather_rows_from_all_ranks

WORLD_SIZE = 2
FEAT_DIM = 4
NUM_IDS = 6
# RoIs per (step, rank); rank 0 has none at step 2.
ROI_COUNTS = [(3, 5), (4, 2), (0, 3), (5, 4)]


def _build_losses():
    torch.manual_seed(0)
    return dict(
        oim=OIMLoss(NUM_IDS, queue_size=5, feat_dim=FEAT_DIM),
        olp=OLPLoss(queue_size=None, feat_dim=FEAT_DIM),
        c2hep=C2HEPLoss(NUM_IDS, num_hard=2, feat_dim=FEAT_DIM))


def _step_data(step, rank):
    generator = torch.Generator().manual_seed(100 * step + rank)
    num_rois = ROI_COUNTS[step][rank]
    person_ids = torch.randint(-1, NUM_IDS, (num_rois, ), generator=generator)
    image_indices = torch.randint(0, 2, (num_rois, ), generator=generator)
    feats = F.normalize(
        torch.randn(num_rois, FEAT_DIM, generator=generator), dim=1)
    return feats, person_ids, image_indices


def _train_step(losses, feats, person_ids, image_indices):
    for loss_module in losses.values():
        feats_in = feats.clone().requires_grad_()
        loss_module(feats_in, person_ids, image_indices).backward()


def _memories(losses):
    return {
        f'{name}.{key}': value.clone()
        for name, loss_module in losses.items()
        for key, value in loss_module.state_dict().items()
    }


def _worker(rank, port, out_dir):
    torch.set_num_threads(1)
    os.environ['MASTER_ADDR'] = '127.0.0.1'
    os.environ['MASTER_PORT'] = str(port)
    dist.init_process_group('gloo', rank=rank, world_size=WORLD_SIZE)
    try:
        gathered = gather_rows_from_all_ranks(
            torch.full((rank + 1, 2), float(rank)),
            torch.full((rank + 1, ), rank))
        losses = _build_losses()
        for step in range(len(ROI_COUNTS)):
            _train_step(losses, *_step_data(step, rank))
        torch.save(
            dict(gathered=gathered, memories=_memories(losses)),
            os.path.join(out_dir, f'rank{rank}.pth'))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_memories_synchronised_across_two_gloo_ranks(tmp_path):
    mp.spawn(
        _worker,
        args=(_free_port(), str(tmp_path)),
        nprocs=WORLD_SIZE,
        join=True)
    results = [
        torch.load(tmp_path / f'rank{rank}.pth', weights_only=True)
        for rank in range(WORLD_SIZE)
    ]

    for feats, labels in [r['gathered'] for r in results]:
        assert feats[:, 0].tolist() == [0.0, 1.0, 1.0]
        assert labels.tolist() == [0, 1, 1]

    single = _build_losses()
    for step in range(len(ROI_COUNTS)):
        parts = [_step_data(step, rank) for rank in range(WORLD_SIZE)]
        _train_step(single, *[torch.cat(tensors) for tensors in zip(*parts)])
    expected = _memories(single)

    rank0, rank1 = results[0]['memories'], results[1]['memories']
    assert set(rank0) == set(rank1) == set(expected)
    assert rank0['olp.queue.feats'].shape[0] > 0
    assert int(rank0['oim.queue.num_filled']) > 0
    for name in expected:
        assert torch.equal(rank0[name], rank1[name]), name
        torch.testing.assert_close(
            rank0[name],
            expected[name],
            msg=f'{name} differs from one process')
