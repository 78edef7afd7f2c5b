"""Tests of MomentumLookupTable: momentum rule, initialisation, dtype."""
import numpy as np
import pytest
import torch

from mmsearch.models.memories import MomentumLookupTable
from mmsearch.registry import MODELS


def _unit(vector):
    vector = np.asarray(vector, dtype=np.float64)
    return vector / np.linalg.norm(vector)


def test_momentum_update_values():
    table = MomentumLookupTable(num_entries=4, feat_dim=3, momentum=0.7)
    first = torch.tensor([[3.0, 0.0, 4.0]])
    table.update(first, torch.tensor([2]))
    # A zero row takes the first feature, normalised.
    np.testing.assert_allclose(
        table.table[2].numpy(), [0.6, 0.0, 0.8], atol=1e-6)
    assert table.initialised.tolist() == [False, False, True, False]

    second = torch.tensor([[0.0, 1.0, 0.0]])
    table.update(second, torch.tensor([2]))
    expected = _unit(0.7 * np.array([0.6, 0.0, 0.8]) +
                     0.3 * np.array([0.0, 1.0, 0.0]))
    np.testing.assert_allclose(table.table[2].numpy(), expected, atol=1e-6)
    # Untouched rows stay zero.
    assert torch.count_nonzero(table.table[[0, 1, 3]]) == 0


def test_update_is_sequential_and_skips_unlabelled():
    table = MomentumLookupTable(num_entries=2, feat_dim=2, momentum=0.5)
    feats = torch.tensor([[1.0, 0.0], [5.0, 5.0], [0.0, 1.0]])
    table.update(feats, torch.tensor([0, -1, 0]))
    # Row 0: first (1, 0), then normalize(0.5 (1, 0) + 0.5 (0, 1)).
    np.testing.assert_allclose(
        table.table[0].numpy(), _unit([0.5, 0.5]), atol=1e-6)
    assert torch.count_nonzero(table.table[1]) == 0
    assert table.initialised.tolist() == [True, False]


def test_no_gradient_and_fp32_buffers():
    table = MODELS.build(
        dict(type='MomentumLookupTable', num_entries=3, feat_dim=2))
    assert isinstance(table, MomentumLookupTable)
    feats = torch.randn(2, 2, requires_grad=True)
    table.update(feats, torch.tensor([0, 1]))
    assert not table.table.requires_grad and table.table.grad_fn is None
    table.half()
    assert table.table.dtype == torch.float32
    table.to(torch.bfloat16)
    assert table.table.dtype == torch.float32
    table.update(feats.detach().half(), torch.tensor([2, 2]))
    assert table.table.dtype == torch.float32
    assert set(table.state_dict()) == {'table', 'initialised'}


def test_bad_inputs():
    table = MomentumLookupTable(num_entries=3, feat_dim=2)
    with pytest.raises(ValueError, match=r'feats must have shape \(N, 2\)'):
        table.update(torch.zeros(2, 5), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match='labels must have shape'):
        table.update(torch.zeros(2, 2), torch.tensor([0]))
    with pytest.raises(ValueError, match='num_entries=3'):
        table.update(torch.ones(1, 2), torch.tensor([3]))
    with pytest.raises(ValueError, match='momentum'):
        MomentumLookupTable(num_entries=3, momentum=1.0)
