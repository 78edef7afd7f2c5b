"""mmengine's training checkpoints load under torch's weights_only default."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmsearch.utils import (CheckpointMismatchError, checkpoint_safe_globals,
                            compare_state_dicts, load_model_checkpoint,
                            register_checkpoint_safe_globals)
from mmsearch.utils.checkpoint import history_buffer_method


def _training_checkpoint() -> dict:
    hub = MessageHub.get_instance('test_checkpoint_hub')
    for loss in (1.0, 2.0, 4.5):
        hub.update_scalar('train/loss', loss)
    hub.update_scalar('train/lr', np.float64(0.01))
    hub.update_info('iter', 7)
    return dict(
        meta=dict(iter=7, seed=np.int64(3)),
        state_dict=dict(weight=torch.arange(4.)),
        message_hub=hub.state_dict())


def test_training_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'iter_7.pth'
    torch.save(_training_checkpoint(), path)
    register_checkpoint_safe_globals()
    loaded = torch.load(path, weights_only=True)
    scalars = loaded['message_hub']['log_scalars']
    assert isinstance(scalars['train/loss'], HistoryBuffer)
    assert scalars['train/loss'].mean() == pytest.approx(7.5 / 3)
    assert scalars['train/loss'].current() == 4.5
    assert scalars['train/lr'].current() == pytest.approx(0.01)
    assert loaded['meta']['seed'] == 3
    assert torch.equal(loaded['state_dict']['weight'], torch.arange(4.))


def test_registration_is_idempotent():
    register_checkpoint_safe_globals()
    count = len(torch.serialization.get_safe_globals())
    register_checkpoint_safe_globals()
    assert len(torch.serialization.get_safe_globals()) == count
    for obj in checkpoint_safe_globals():
        assert obj in torch.serialization.get_safe_globals()


def test_getattr_stand_in_only_gives_history_buffer_methods():
    assert history_buffer_method(HistoryBuffer, 'mean') is HistoryBuffer.mean
    with pytest.raises(pickle.UnpicklingError, match='HistoryBuffer'):
        history_buffer_method(HistoryBuffer, '__init_subclass__')
    with pytest.raises(pickle.UnpicklingError, match='only'):
        history_buffer_method(torch, 'load')


class _Payload:
    """An arbitrary class: must stay refused under weights_only."""


def test_unlisted_classes_stay_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'x': _Payload()}, path)
    register_checkpoint_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)


class _Net(torch.nn.Module):
    """Two layers and a lazily sized feature queue (size from the
    checkpoint)."""

    def __init__(self, hidden=4):
        super().__init__()
        from mmsearch.models.memories import FeatureQueue
        self.fc1 = torch.nn.Linear(3, hidden)
        self.bn = torch.nn.BatchNorm1d(hidden)
        self.fc2 = torch.nn.Linear(hidden, 2)
        self.queue = FeatureQueue(queue_size=None, feat_dim=2)


def _save(state_dict, path, wrap=False):
    if wrap:  # as saved from a DDP model
        state_dict = {f'module.{k}': v for k, v in state_dict.items()}
    torch.save(dict(meta=dict(iter=1), state_dict=state_dict), path)
    return str(path)


def _trained_state():
    torch.manual_seed(1)
    net = _Net()
    net.queue._allocate(5)  # a trained lazily sized queue holds 5 slots
    net.queue.feats.normal_()
    return net.state_dict()


def test_compare_state_dicts_counts_by_hand():
    model = dict(
        a=torch.zeros(2, 3),
        b=torch.zeros(4),
        c=torch.zeros(1),
        **{'bn.num_batches_tracked': torch.zeros(())})
    ckpt = dict(a=torch.zeros(3, 3), c=torch.zeros(1), d=torch.zeros(5))
    report = compare_state_dicts(model, ckpt)
    assert report.num_model_tensors == 4
    assert report.missing == ['b']  # num_batches_tracked is not counted
    assert report.unexpected == ['d']
    assert report.mismatched == [('a', (3, 3), (2, 3))]
    assert not report.matches
    assert report.describe() == (
        "1 of the model's 4 tensors are missing from the checkpoint (e.g. "
        'b); 1 have another shape (e.g. a: (3, 3) in the checkpoint, (2, 3) '
        'in the model); 1 checkpoint tensors are not in the model (e.g. d)')
    assert compare_state_dicts(ckpt, dict(ckpt)).matches


def test_matching_checkpoint_loads_exactly(tmp_path):
    state = _trained_state()
    path = _save(state, tmp_path / 'net.pth', wrap=True)
    net = _Net()
    checkpoint = load_model_checkpoint(net, path)
    assert checkpoint['meta'] == dict(iter=1)
    # the lazily sized queue took the checkpoint's size: not a mismatch
    assert net.queue.capacity == 5
    for key, value in net.state_dict().items():
        assert torch.equal(value, state[key]), key


def test_checkpoint_of_another_model_is_refused(tmp_path):
    other = _trained_state()
    other['fc1.weight'] = torch.zeros(8, 3)  # another width
    del other['fc2.bias']
    other['head.weight'] = torch.zeros(1)
    path = _save(other, tmp_path / 'other.pth')
    with pytest.raises(
            CheckpointMismatchError,
            match=r"other\.pth\" does not fit the model built from the config"
            r": 1 of the model's 13 tensors are missing from the checkpoint "
            r'\(e\.g\. fc2\.bias\); 1 have another shape '
            r'\(e\.g\. fc1\.weight: '
            r'\(8, 3\) in the checkpoint, \(4, 3\) in the model\); 1 '
            r'checkpoint tensors are not in the model \(e\.g\. head\.weight\)'
            r'.*or pass --partial to load'):
        load_model_checkpoint(_Net(), path, partial_hint='--partial')
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_model_checkpoint(_Net(), str(tmp_path / 'nope.pth'))


def test_partial_load_when_asked_keeps_the_rest(tmp_path):
    state = _trained_state()
    partial = {k: v for k, v in state.items() if k.startswith('fc1.')}
    path = _save(partial, tmp_path / 'backbone.pth')
    torch.manual_seed(5)
    net = _Net()
    fc2_before = net.fc2.weight.clone()
    load_model_checkpoint(net, path, strict=False)
    assert torch.equal(net.fc1.weight, state['fc1.weight'])
    assert torch.equal(net.fc2.weight, fc2_before)
