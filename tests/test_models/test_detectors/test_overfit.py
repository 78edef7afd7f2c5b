"""Each method's R-18 synthetic config overfits one fixed batch."""
import copy

import pytest
import torch
from mmengine.optim import build_optim_wrapper
from utils import build_model, make_pair_batch, synthetic_model_cfg

NUM_STEPS = 30


@pytest.fixture(autouse=True)
def _one_thread():
    """Train on one thread: on a shared 2-core machine two OpenMP threads
    contend with other processes and run ~4x slower than one."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


def total_loss(model, batch) -> float:
    """The parsed total loss of a batch, without an optimiser step.

    RoI sampling is reseeded so that two calls draw alike. The re-ID memories
    update as in any training forward, after the loss is computed.
    """
    torch.manual_seed(0)
    data = model.data_preprocessor(batch, training=True)
    with torch.no_grad():
        losses = model.loss(data['inputs'], data['data_samples'])
    return float(model.parse_losses(losses)[0])


@pytest.mark.slow
@pytest.mark.parametrize('method', ['dcinet', 'inet', 'oim'])
def test_total_loss_halves_within_30_steps(method):
    cfg = synthetic_model_cfg(method)
    for loss_cfg in cfg.roi_head.reid_losses:
        if loss_cfg.type == 'OLPLoss':
            # With scale 1 the OLP loss of K queued negatives is at least
            # log(1 + K / e^2) (cosines in [-1, 1]), about 2 here, which
            # alone is over half the untrained total: a temperature lets
            # the test see whether the pairing actually fits.
            loss_cfg.scale = 10.0
    model = build_model(cfg).train()
    untrained_params = copy.deepcopy(dict(model.named_parameters()))
    optim_wrapper = build_optim_wrapper(
        model,
        dict(
            type='OptimWrapper',
            # the configs' SGD, with a learning rate for one tiny batch
            optimizer=dict(
                type='SGD', lr=0.01, momentum=0.9, weight_decay=5e-4),
            clip_grad=dict(max_norm=10, norm_type=2)))
    batch = make_pair_batch()
    for _ in range(NUM_STEPS):
        log_vars = model.train_step(batch, optim_wrapper)
        assert torch.isfinite(log_vars['loss'])
        for loss in model.roi_head.reid_losses:
            assert loss.loss_name in log_vars

    # Memories (queues, lookup tables, centres) lag the network, so a net
    # judged with its own fresh memories looks good untrained. Judge the
    # trained and the untrained weights with the same, trained memories.
    memories = copy.deepcopy(dict(model.named_buffers()))
    loss_after = total_loss(model, batch)
    with torch.no_grad():
        for name, param in model.named_parameters():
            param.copy_(untrained_params[name])
        for name, buffer in model.named_buffers():
            buffer.copy_(memories[name])
    loss_before = total_loss(model, batch)
    print(f'{method}: total loss {loss_before:.3f} -> {loss_after:.3f}')
    assert loss_after <= 0.5 * loss_before
