"""Tests of FeatureQueue: FIFO order, overwrite, lazy size, checkpoints."""
import pytest
import torch

from mmsearch.models.memories import FeatureQueue


def _rows(*values):
    """Rows [v, -v] for each value: easy to recognise in the queue."""
    return torch.tensor([[v, -v] for v in values], dtype=torch.float32)


def test_fifo_order_and_overwrite():
    queue = FeatureQueue(queue_size=3, feat_dim=2)
    assert queue.valid_mask.tolist() == [False, False, False]
    queue.update(_rows(1, 2), torch.tensor([10, -1]))
    assert queue.feats[:, 0].tolist() == [1, 2, 0]
    assert queue.labels.tolist() == [10, -1, -1]
    assert queue.valid_mask.tolist() == [True, True, False]

    queue.update(_rows(3, 4), torch.tensor([30, 40]))
    # 3 fills the last slot, 4 overwrites the oldest entry (1).
    assert queue.feats[:, 0].tolist() == [4, 2, 3]
    assert queue.labels.tolist() == [40, -1, 30]
    assert int(queue.pointer) == 1 and int(queue.num_filled) == 3
    assert queue.valid_mask.all()


def test_update_longer_than_queue_keeps_last_rows():
    queue = FeatureQueue(queue_size=3, feat_dim=2)
    queue.update(_rows(1), torch.tensor([1]))
    queue.update(_rows(2, 3, 4, 5, 6), torch.tensor([2, 3, 4, 5, 6]))
    # Written one by one from slot 1: 2->1, 3->2, 4->0, 5->1, 6->2.
    assert queue.feats[:, 0].tolist() == [4, 5, 6]
    assert queue.labels.tolist() == [4, 5, 6]
    assert int(queue.pointer) == 0


def test_lazy_size_from_first_labelled_batch():
    queue = FeatureQueue(queue_size=None, feat_dim=2, size_factor=4)
    queue.update(_rows(1, 2), torch.tensor([-1, -1]))
    assert queue.capacity == 0
    queue.update(_rows(3, 4, 5), torch.tensor([0, -1, 7]))
    assert queue.capacity == 8
    assert queue.feats[:3, 0].tolist() == [3, 4, 5]
    assert int(queue.num_filled) == 3

    fresh = FeatureQueue(queue_size=None, feat_dim=2)
    fresh.load_state_dict(queue.state_dict())
    assert fresh.capacity == 8
    assert torch.equal(fresh.feats, queue.feats)
    assert torch.equal(fresh.labels, queue.labels)
    assert int(fresh.pointer) == 3


def test_fp32_no_grad_and_bad_inputs():
    queue = FeatureQueue(queue_size=2, feat_dim=2).half()
    feats = torch.randn(1, 2, requires_grad=True)
    queue.update(feats.half(), torch.tensor([0]))
    assert queue.feats.dtype == torch.float32
    assert not queue.feats.requires_grad
    with pytest.raises(ValueError, match=r'feats must have shape \(N, 2\)'):
        queue.update(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match='queue_size'):
        FeatureQueue(queue_size=0)
