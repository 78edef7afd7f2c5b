"""Tests of OIMLoss against values computed independently here."""
import numpy as np
import torch
import torch.nn.functional as F

from mmsearch.models.losses import OIMLoss


def _numpy_cross_entropy(logits, target):
    logits = logits - logits.max()
    return -(logits[target] - np.log(np.exp(logits).sum()))


def _unit_rows(num_rows, dim, seed):
    rows = np.random.default_rng(seed).normal(size=(num_rows, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _filled_oim():
    """OIM with table rows 0 = e0, 1 = e1, 2 = 0 and queue [e3, 0]."""
    oim = OIMLoss(num_person_ids=3, queue_size=2, feat_dim=4, loss_weight=0.5)
    eye = torch.eye(4)
    oim.lookup_table.update(eye[:2], torch.tensor([0, 1]))
    oim.queue.update(eye[3:], torch.tensor([-1]))
    return oim


def test_oim_value_gradient_and_update():
    oim = _filled_oim()
    feats_np = _unit_rows(3, 4, seed=0)
    person_ids = torch.tensor([0, 2, -1])
    feats = torch.tensor(feats_np, dtype=torch.float32, requires_grad=True)

    loss = oim(feats, person_ids, torch.tensor([0, 0, 1]))

    memory = np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]],
        dtype=np.float64)
    logits = 30.0 * feats_np @ memory.T
    expected = 0.5 * np.mean([
        _numpy_cross_entropy(logits[0], 0),
        _numpy_cross_entropy(logits[1], 2)
    ])
    assert abs(loss.item() - expected) < 1e-4

    loss.backward()
    reference_feats = feats.detach().clone().requires_grad_()
    memory_t = torch.tensor(memory, dtype=torch.float32)
    reference = 0.5 * F.cross_entropy(
        30.0 * reference_feats[:2] @ memory_t.t(), torch.tensor([0, 2]))
    reference.backward()
    torch.testing.assert_close(feats.grad, reference_feats.grad)
    assert torch.count_nonzero(feats.grad[2]) == 0
    assert oim.lookup_table.table.grad is None
    assert not oim.lookup_table.table.requires_grad

    # Memories are updated after the loss: momentum rows and the queue.
    row0 = 0.5 * np.array([1, 0, 0, 0]) + 0.5 * feats_np[0]
    np.testing.assert_allclose(
        oim.lookup_table.table[0].numpy(),
        row0 / np.linalg.norm(row0),
        atol=1e-6)
    np.testing.assert_allclose(
        oim.lookup_table.table[2].numpy(), feats_np[1], atol=1e-6)
    np.testing.assert_allclose(
        oim.queue.feats[1].numpy(), feats_np[2], atol=1e-6)


def test_oim_without_labelled_rois_returns_connected_zero():
    oim = _filled_oim()
    feats = torch.tensor(
        _unit_rows(2, 4, seed=1), dtype=torch.float32, requires_grad=True)
    loss = oim(feats, torch.tensor([-1, -1]), torch.tensor([0, 1]))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.count_nonzero(feats.grad) == 0
    # The unlabelled features still enter the queue (oldest overwritten).
    torch.testing.assert_close(oim.queue.feats, feats.detach()[[1, 0]])


def test_oim_updates_nothing_in_eval_mode():
    oim = _filled_oim().eval()
    before = {k: v.clone() for k, v in oim.state_dict().items()}
    feats = torch.tensor(_unit_rows(2, 4, seed=2), dtype=torch.float32)
    oim(feats, torch.tensor([1, -1]), torch.tensor([0, 0]))
    for name, value in oim.state_dict().items():
        assert torch.equal(value, before[name]), name
