"""Tests of HEPLoss: class pool rules, value and gradients."""
import numpy as np
import torch

from mmsearch.models.losses import HEPLoss, build_hep_pool


def _numpy_cross_entropy(logits, target):
    logits = logits - logits.max()
    return -(logits[target] - np.log(np.exp(logits).sum()))


def _unit(vector):
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_pool_is_pair_labels_then_hardest_then_random_fill():
    class_scores = torch.tensor(
        [0.1, 0.0, 0.9, -0.2, 0.3, 0.95, 0.0, 0.8, -0.5, 0.2])
    pair_labels = torch.tensor([2, 5])
    random_fills = set()
    for seed in range(8):
        torch.manual_seed(seed)
        pool = build_hep_pool(
            pair_labels, class_scores, num_hard=2, pool_size=6)
        # 2 and 5 are the pair's own labels, so 7 and 4 are the hardest.
        assert pool[:4].tolist() == [2, 5, 7, 4]
        assert pool.numel() == 6 and pool.unique().numel() == 6
        random_fill = frozenset(pool[4:].tolist())
        assert random_fill <= {0, 1, 3, 6, 8, 9}
        random_fills.add(random_fill)
    assert len(random_fills) > 1


def test_pool_without_room_and_with_too_few_classes():
    scores = torch.tensor([0.5, 0.1, 0.9, 0.3])
    pool = build_hep_pool(torch.tensor([0]), scores, num_hard=2, pool_size=2)
    assert pool.tolist() == [0, 2, 3]
    pool = build_hep_pool(torch.tensor([1]), scores, num_hard=9, pool_size=10)
    assert pool.tolist() == [1, 2, 0, 3]


def test_hep_with_every_class_in_pool_is_full_cosine_softmax():
    rng = np.random.default_rng(0)
    weights = rng.normal(size=(5, 4))
    feats_np = np.stack([_unit(row) for row in rng.normal(size=(5, 4))])
    person_ids = np.array([0, 3, -1, 3, 1])
    hep = HEPLoss(
        num_person_ids=5,
        num_hard=1,
        pool_size=5,
        scale=8.0,
        feat_dim=4,
        loss_weight=0.5)
    hep.weight.data = torch.tensor(weights, dtype=torch.float32)
    feats = torch.tensor(feats_np, dtype=torch.float32, requires_grad=True)

    loss = hep(feats, torch.tensor(person_ids), torch.tensor([0, 0, 1, 1, 2]))

    unit_weights = weights / np.linalg.norm(weights, axis=1, keepdims=True)
    logits = 8.0 * feats_np @ unit_weights.T
    expected = np.mean(
        [_numpy_cross_entropy(logits[i], person_ids[i]) for i in (0, 1, 3, 4)])
    assert abs(loss.item() - 0.5 * expected) < 1e-5
    loss.backward()
    assert torch.count_nonzero(feats.grad[[0, 1, 3, 4]].abs().sum(1)) == 4
    assert torch.count_nonzero(feats.grad[2]) == 0
    assert hep.weight.grad is not None
    assert torch.count_nonzero(hep.weight.grad) > 0


def test_hep_hard_classes_come_from_both_images_of_the_pair():
    # Classifier weights are the axes e0..e5; the pair holds ids 0 and 1.
    hep = HEPLoss(
        num_person_ids=6, num_hard=1, pool_size=3, scale=4.0, feat_dim=6)
    hep.weight.data = torch.eye(6)
    anchor0 = _unit([1, 0, 0, 0, 0.5, 0])  # close to class 4
    anchor1 = _unit([0, 1, 0, 0.2, 0, 0])  # less close to class 3
    feats = torch.tensor(np.stack([anchor0, anchor1]), dtype=torch.float32)

    loss = hep(feats, torch.tensor([0, 1]), torch.tensor([0, 1]))

    pool = [0, 1, 4]  # pair labels + the single hardest class (4)
    expected = np.mean([
        _numpy_cross_entropy(4.0 * anchor0[pool], 0),
        _numpy_cross_entropy(4.0 * anchor1[pool], 1)
    ])
    assert abs(loss.item() - expected) < 1e-5


def test_hep_without_labelled_rois_is_connected_zero():
    hep = HEPLoss(num_person_ids=3, feat_dim=2)
    feats = torch.randn(2, 2, requires_grad=True)
    loss = hep(feats, torch.tensor([-1, -1]), torch.tensor([0, 1]))
    assert loss.item() == 0.0
    loss.backward()
    assert torch.count_nonzero(feats.grad) == 0
    assert hep.weight.grad is not None
