"""Mixed precision: training step, prediction and query path under autocast.

mmcv's box operators (NMS, RoIAlign) accept fp32 only (RoIAlign also fp16);
mmdet hands them boxes in the autocast dtype. Each R-18 synthetic model must
train one step and predict (gallery and query) inside an autocast region:
finite losses and gradients, fp32 memories, fp32 boxes, scores and unit-norm
embeddings close to the fp32 ones. bf16 on the CPU always; fp16 and bf16 on
CUDA when present.
"""
import math

import pytest
import torch
from mmdet.structures import DetDataSample
from utils import (PAIR_LAYOUTS, build_model, draw_scene, make_pair_batch,
                   synthetic_model_cfg)

HEIGHT, WIDTH = 128, 192
METHODS = ['oim', 'inet', 'dcinet']
PRECISIONS = [
    pytest.param('cpu', torch.bfloat16, id='cpu-bf16'),
    pytest.param(
        'cuda',
        torch.float16,
        id='cuda-fp16',
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(
                not torch.cuda.is_available(), reason='needs CUDA')
        ]),
    pytest.param(
        'cuda',
        torch.bfloat16,
        id='cuda-bf16',
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(
                not torch.cuda.is_available(), reason='needs CUDA')
        ]),
]


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread: much faster on a shared 2-core machine."""
    num_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(num_threads)


def _model(method, device):
    cfg = synthetic_model_cfg(method)
    # an untrained net scores persons around 0.5: keep every detection
    cfg.test_cfg.rcnn.score_thr = 0.0
    cfg.test_cfg.rpn.max_per_img = 30
    return build_model(cfg).to(device)


def _memory_buffers(model):
    return {
        name: buffer
        for name, buffer in model.roi_head.reid_losses.named_buffers()
        if buffer.is_floating_point()
    }


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('device,dtype', PRECISIONS)
def test_training_step_under_autocast(method, device, dtype):
    model = _model(method, device).train()
    memories_before = {
        name: buffer.clone()
        for name, buffer in _memory_buffers(model).items()
    }
    data = model.data_preprocessor(make_pair_batch(HEIGHT, WIDTH), True)
    torch.manual_seed(0)
    with torch.autocast(device, dtype=dtype):
        losses = model.loss(data['inputs'], data['data_samples'])
        loss, log_vars = model.parse_losses(losses)
    assert torch.isfinite(loss), log_vars
    for name, value in log_vars.items():
        value = float(torch.as_tensor(value).detach())
        assert math.isfinite(value), (name, value)
    for name in ('loss_rpn_cls', 'loss_cls', 'loss_bbox'):
        assert name in log_vars, sorted(log_vars)
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    memories = _memory_buffers(model)
    assert memories
    for name, buffer in memories.items():
        assert buffer.dtype == torch.float32, name
        assert torch.isfinite(buffer).all(), name
    assert any(not torch.equal(memories[name], before)
               for name, before in memories_before.items()), \
        'no memory was updated'


def _predict(model, device, dtype, **metainfo):
    img = draw_scene(PAIR_LAYOUTS[0][0], HEIGHT, WIDTH)
    sample = DetDataSample(
        metainfo=dict(
            img_shape=(HEIGHT, WIDTH),
            ori_shape=(HEIGHT * 2, WIDTH * 2),
            scale_factor=(0.5, 0.5),
            **metainfo))
    data = model.data_preprocessor(
        dict(inputs=[img], data_samples=[sample]), training=False)
    with torch.no_grad(), torch.autocast(
            device, dtype=dtype, enabled=dtype != torch.float32):
        return model.predict(data['inputs'], data['data_samples'])[0]


@pytest.mark.parametrize('method', METHODS)
@pytest.mark.parametrize('device,dtype', PRECISIONS)
def test_predict_and_query_path_under_autocast(method, device, dtype):
    model = _model(method, device).eval()
    # persons 0 and 1 of the scene, in original (2x) coordinates
    query_bbox = [2.0 * v for v in PAIR_LAYOUTS[0][0][1][1:]]
    result = _predict(
        model, device, dtype, query_bbox=query_bbox, query_person_id=1)
    pred = result.pred_instances
    assert 0 < len(pred) <= 30
    for name in ('bboxes', 'scores', 'reid_feats'):
        assert pred[name].dtype == torch.float32, name
        assert torch.isfinite(pred[name]).all(), name
    ones = torch.ones(len(pred), device=device)
    torch.testing.assert_close(
        pred.reid_feats.norm(dim=1), ones, atol=1e-4, rtol=0)
    query_feat = result.pred_query_feat
    assert query_feat.dtype == torch.float32 and query_feat.shape == (256, )
    torch.testing.assert_close(
        query_feat.norm(), torch.tensor(1.0, device=device), atol=1e-4, rtol=0)

    # the same box in fp32: the query path's boxes are not rounded
    reference = _predict(
        model, device, torch.float32, query_bbox=query_bbox,
        query_person_id=1).pred_query_feat
    cosine = float(query_feat @ reference)
    assert cosine > 0.98, cosine
