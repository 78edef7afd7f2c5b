"""tools/model_converters/publish_model.py on a hand-made checkpoint."""
import hashlib
import os.path as osp
import re
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import MessageHub

sys.path.insert(
    0,
    osp.join(osp.dirname(__file__), '..', '..', 'tools', 'model_converters'))
from publish_model import publish_checkpoint  # noqa: E402


def _training_checkpoint(path):
    hub = MessageHub.get_instance('test_publish_hub')
    hub.update_scalar('train/loss', np.float64(1.0))
    torch.save(
        dict(
            meta=dict(iter=3, dataset_meta=dict(classes=('person', ))),
            state_dict=dict(w=torch.ones(2, 2)),
            optimizer=dict(state={}, param_groups=[]),
            message_hub=hub.state_dict(),
            param_schedulers=[]), path)


def test_publish_keeps_meta_and_weights_and_names_by_hash(tmp_path):
    in_file = str(tmp_path / 'iter_3.pth')
    _training_checkpoint(in_file)
    final = publish_checkpoint(in_file, str(tmp_path / 'out' / 'model.pth'))
    match = re.fullmatch(r'model-([0-9a-f]{8})\.pth', osp.basename(final))
    assert match is not None
    with open(final, 'rb') as f:
        assert hashlib.sha256(f.read()).hexdigest()[:8] == match.group(1)
    published = torch.load(final, weights_only=True)
    assert set(published) == {'meta', 'state_dict'}
    assert torch.equal(published['state_dict']['w'], torch.ones(2, 2))
    assert published['meta']['iter'] == 3
    assert not osp.exists(str(tmp_path / 'out' / 'model.tmp.pth'))


def test_publish_rejects_non_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothing.pth'):
        publish_checkpoint(str(tmp_path / 'nothing.pth'), 'x.pth')
    torch.save([1, 2], tmp_path / 'list.pth')
    with pytest.raises(ValueError, match='state_dict'):
        publish_checkpoint(str(tmp_path / 'list.pth'), 'x.pth')
