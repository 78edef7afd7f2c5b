"""Tests of C2HEPLoss: nearest-centre hard classes, value and update."""
import numpy as np
import torch

from mmsearch.models.losses import C2HEPLoss, nearest_centre_classes

ANGLES = [0.0, 10.0, 30.0, 90.0, 180.0]


def _at(degrees):
    radians = np.deg2rad(degrees)
    return np.array([np.cos(radians), np.sin(radians)])


def cos(degrees_a, degrees_b):
    return np.cos(np.deg2rad(degrees_a - degrees_b))


def _numpy_cross_entropy(logits, target):
    logits = logits - logits.max()
    return -(logits[target] - np.log(np.exp(logits).sum()))


def _centres():
    return torch.tensor(
        np.stack([_at(a) for a in ANGLES]), dtype=torch.float32)


def test_hard_classes_are_nearest_initialised_centres():
    centres = _centres()
    everyone = torch.ones(5, dtype=torch.bool)
    hard = nearest_centre_classes(centres[[0, 3]], centres,
                                  torch.tensor([0, 3]), everyone, 2)
    assert hard.tolist() == [[1, 2], [2, 1]]

    without_1 = everyone.clone()
    without_1[1] = False
    hard = nearest_centre_classes(centres[[0]], centres, torch.tensor([0]),
                                  without_1, 4)
    # Uninitialised class 1 only fills the last slot.
    assert hard.tolist() == [[2, 3, 4, 1]]


def test_c2hep_value_and_momentum_update():
    c2hep = C2HEPLoss(
        num_person_ids=5, num_hard=2, scale=10.0, feat_dim=2, loss_weight=0.5)
    c2hep.centres.update(_centres(), torch.arange(5))
    feats_np = np.stack([_at(5.0), _at(80.0), _at(45.0)])
    feats = torch.tensor(feats_np, dtype=torch.float32, requires_grad=True)

    loss = c2hep(feats, torch.tensor([0, 3, -1]), torch.tensor([0, 1, 1]))

    # id 0 (centre 0 deg): hard classes 10 and 30 deg.
    logits0 = 10.0 * np.array([cos(5, 0), cos(5, 10), cos(5, 30)])
    # id 3 (centre 90 deg): hard classes 30 and 10 deg.
    logits1 = 10.0 * np.array([cos(80, 90), cos(80, 30), cos(80, 10)])
    expected = 0.5 * np.mean(
        [_numpy_cross_entropy(logits0, 0),
         _numpy_cross_entropy(logits1, 0)])
    assert abs(loss.item() - expected) < 1e-5
    loss.backward()
    assert torch.count_nonzero(feats.grad[2]) == 0
    assert torch.count_nonzero(feats.grad[:2]) > 0
    assert not c2hep.centres.table.requires_grad

    centre3 = 0.5 * _at(90.0) + 0.5 * _at(80.0)
    np.testing.assert_allclose(
        c2hep.centres.table[3].numpy(),
        centre3 / np.linalg.norm(centre3),
        atol=1e-6)
    np.testing.assert_allclose(
        c2hep.centres.table[4].numpy(), _at(180.0), atol=1e-6)


def test_c2hep_uninitialised_own_centre_uses_the_feature():
    c2hep = C2HEPLoss(num_person_ids=3, num_hard=2, scale=5.0, feat_dim=2)
    c2hep.centres.update(
        torch.tensor(_at(60.0)[None], dtype=torch.float32), torch.tensor([1]))
    feat = _at(20.0)
    loss = c2hep(
        torch.tensor(feat[None], dtype=torch.float32), torch.tensor([0]),
        torch.tensor([0]))
    # Own stand-in centre = the feature (logit 5); class 1 is the only
    # initialised other centre; class 2 fills in with a zero centre.
    logits = np.array([5.0, 5.0 * np.cos(np.deg2rad(40.0)), 0.0])
    assert abs(loss.item() - _numpy_cross_entropy(logits, 0)) < 1e-5
    assert c2hep.centres.initialised.tolist() == [True, True, False]
    np.testing.assert_allclose(c2hep.centres.table[0].numpy(), feat, atol=1e-6)


def test_c2hep_without_labelled_rois_is_connected_zero():
    c2hep = C2HEPLoss(num_person_ids=3, feat_dim=2)
    feats = torch.randn(1, 2, requires_grad=True)
    loss = c2hep(feats, torch.tensor([-1]), torch.tensor([0]))
    assert loss.item() == 0.0 and loss.grad_fn is not None
    assert not c2hep.centres.initialised.any()
