"""Tests of OLPLoss: pairing, negatives, value and anchor-only gradient."""
import numpy as np
import torch

from mmsearch.models.losses import OLPLoss, find_online_pairs


def _unit_rows(num_rows, dim, seed):
    rows = np.random.default_rng(seed).normal(size=(num_rows, dim))
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_find_online_pairs_uses_partner_image_only():
    person_ids = torch.tensor([0, 1, -1, 0, 0, 2, 0, -1])
    image_indices = torch.tensor([0, 0, 0, 1, 1, 1, 2, 3])
    anchors, positives = find_online_pairs(person_ids, image_indices)
    pairs = set(zip(anchors.tolist(), positives.tolist()))
    assert pairs == {(0, 3), (0, 4), (3, 0), (4, 0)}


def test_olp_value_negatives_and_anchor_gradient():
    olp = OLPLoss(queue_size=4, scale=2.0, feat_dim=3, loss_weight=2.0)
    queued = _unit_rows(3, 3, seed=0)
    queued_ids = np.array([0, 7, -1])
    olp.queue.update(
        torch.tensor(queued, dtype=torch.float32), torch.tensor(queued_ids))
    feats_np = _unit_rows(5, 3, seed=1)
    person_ids = torch.tensor([0, 7, 0, 7, -1])
    image_indices = torch.tensor([0, 0, 1, 1, 1])
    feats = torch.tensor(feats_np, dtype=torch.float32, requires_grad=True)

    loss = olp(feats, person_ids, image_indices)

    pairs = [(0, 2), (2, 0), (1, 3), (3, 1)]
    ids = person_ids.numpy()
    expected = []
    for anchor, positive in pairs:
        negatives = queued[queued_ids != ids[anchor]]
        pos = np.exp(2.0 * feats_np[anchor] @ feats_np[positive])
        neg = np.exp(2.0 * negatives @ feats_np[anchor]).sum()
        expected.append(-np.log(pos / (pos + neg)))
    assert abs(loss.item() - 2.0 * np.mean(expected)) < 1e-5

    # Gradient through the anchors only: positives/negatives are constants.
    loss.backward()
    anchor_feats = feats.detach().clone().requires_grad_()
    constants = feats.detach()
    queued_t = torch.tensor(queued, dtype=torch.float32)
    terms = []
    for anchor, positive in pairs:
        negatives = queued_t[torch.tensor(queued_ids != ids[anchor])]
        pos = torch.exp(2.0 * anchor_feats[anchor] @ constants[positive])
        neg = torch.exp(2.0 * negatives @ anchor_feats[anchor]).sum()
        terms.append(-torch.log(pos / (pos + neg)))
    (2.0 * torch.stack(terms).mean()).backward()
    torch.testing.assert_close(feats.grad, anchor_feats.grad)
    assert not olp.queue.feats.requires_grad

    # Every RoI entered the queue after the loss (oldest overwritten).
    assert olp.queue.labels.tolist() == [7, 0, 7, -1]
    torch.testing.assert_close(olp.queue.feats, feats.detach()[1:])


def test_olp_never_uses_own_identity_as_negative():
    feats = torch.tensor(_unit_rows(3, 3, seed=3), dtype=torch.float32)
    pair_ids, pair_images = torch.tensor([4, 4]), torch.tensor([0, 1])
    own = OLPLoss(queue_size=8, feat_dim=3)
    own.queue.update(feats, torch.tensor([4, 4, 4]))
    other = OLPLoss(queue_size=8, feat_dim=3)
    other.queue.update(feats, torch.tensor([5, 5, 5]))
    batch = torch.tensor(_unit_rows(2, 3, seed=4), dtype=torch.float32)
    # Only own-identity entries: no negative, -log(1) = 0.
    assert abs(own(batch, pair_ids, pair_images).item()) < 1e-6
    assert other(batch, pair_ids, pair_images).item() > 0.1


def test_olp_without_pairs_returns_connected_zero():
    olp = OLPLoss(feat_dim=3)
    feats = torch.tensor(
        _unit_rows(3, 3, seed=5), dtype=torch.float32, requires_grad=True)
    # id 1 appears in one image only; id 2 twice but in the same image.
    loss = olp(feats, torch.tensor([1, 2, 2]), torch.tensor([0, 1, 1]))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    loss.backward()
    assert torch.count_nonzero(feats.grad) == 0


def test_olp_lazy_queue_size_and_unlabelled_option():
    feats = torch.tensor(_unit_rows(4, 3, seed=6), dtype=torch.float32)
    person_ids = torch.tensor([0, 1, -1, 0])
    images = torch.tensor([0, 0, 0, 1])
    olp = OLPLoss(feat_dim=3)
    olp(feats, person_ids, images)
    assert olp.queue.capacity == 4 * 3
    assert int(olp.queue.num_filled) == 4
    labelled_only = OLPLoss(
        feat_dim=3, queue_size_factor=2, enqueue_unlabelled=False)
    labelled_only(feats, person_ids, images)
    assert labelled_only.queue.capacity == 2 * 3
    assert labelled_only.queue.labels[:3].tolist() == [0, 1, 0]
    assert int(labelled_only.queue.num_filled) == 3
