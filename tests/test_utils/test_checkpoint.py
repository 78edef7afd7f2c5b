"""mmengine's training checkpoints load under torch's weights_only default."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

from mmsearch.utils import (checkpoint_safe_globals,
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
