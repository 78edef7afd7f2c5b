"""Tests of MomentumLookupTable: momentum rule, initialisation, dtype."""
import numpy as np
import pytest
import torch

from mmsearch.models.memories import (MomentumLookupTable,
                                      momentum_update_rows_loop)
from mmsearch.models.memories.lookup_table import occurrence_index
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


def _random_update(seed, num_entries=9, feat_dim=5, num_rows=60):
    """A non-zero table and a batch where most labels repeat."""
    generator = torch.Generator().manual_seed(seed)
    table = torch.nn.functional.normalize(
        torch.randn(num_entries, feat_dim, generator=generator), dim=1)
    table[::3] = 0  # never-updated rows
    feats = torch.randn(num_rows, feat_dim, generator=generator)
    labels = torch.randint(0, num_entries, (num_rows, ), generator=generator)
    return table, feats, labels


def test_occurrence_index_hand_worked():
    labels = torch.tensor([5, 2, 5, 5, 2, 0])
    assert occurrence_index(labels).tolist() == [0, 0, 1, 2, 1, 0]
    assert occurrence_index(torch.zeros(0, dtype=torch.long)).numel() == 0


@pytest.mark.parametrize('seed', range(5))
def test_vectorised_update_equals_row_by_row_rule(seed):
    table, feats, labels = _random_update(seed)
    assert torch.bincount(labels).max() >= 5  # labels repeat many times
    expected = table.clone()
    momentum_update_rows_loop(expected, feats, labels, 0.7)
    memory = MomentumLookupTable(table.shape[0], table.shape[1], 0.7)
    memory.table.copy_(table)
    with_unlabelled = torch.cat([labels, torch.tensor([-1, -1])])
    memory.update(torch.cat([feats, torch.randn(2, 5)]), with_unlabelled)
    torch.testing.assert_close(memory.table, expected, atol=1e-6, rtol=0)
    assert memory.initialised.tolist() == [
        i in labels.tolist() for i in range(table.shape[0])
    ]


def _count_ops(fn, op_names):
    with torch.profiler.profile(
            activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    counts = {event.key: event.count for event in prof.key_averages()}
    return {name: counts.get(name, 0) for name in op_names}


def test_update_is_vectorised_not_row_by_row():
    """Indexed writes grow with the largest multiplicity, not the rows."""
    table, feats, labels = _random_update(0, num_entries=50, num_rows=200)
    max_multiplicity = int(torch.bincount(labels).max())
    assert max_multiplicity < 15
    memory = MomentumLookupTable(50, 5)
    counts = _count_ops(lambda: memory.update(feats, labels),
                        ('aten::index_put_', 'aten::_local_scalar_dense'))
    # one write per round, plus the occurrence ranks and `initialised`
    assert counts['aten::index_put_'] <= max_multiplicity + 2, counts
    # device-to-host reads (`.item()`, `int()`, `.tolist()`): a constant few
    assert counts['aten::_local_scalar_dense'] <= 4, counts
