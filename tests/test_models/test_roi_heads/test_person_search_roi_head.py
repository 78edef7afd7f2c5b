"""I-Net vs DC-I-Net weight sharing and the Siamese batch checks."""
import pytest
import torch
from utils import build_model, make_pair_batch, synthetic_model_cfg

from mmsearch.models.roi_heads.person_search_roi_head import check_pair_batch


def _reid_grads(method: str):
    """Back-propagate only the re-ID losses of one batch.

    Returns:
        tuple: (model, dict of module name -> whether any parameter got a
        non-zero gradient).
    """
    model = build_model(synthetic_model_cfg(method))
    model.train()
    data = model.data_preprocessor(make_pair_batch(), training=True)
    with torch.no_grad():  # fill the memories: empty ones give zero losses
        model.loss(data['inputs'], data['data_samples'])
    losses = model.loss(data['inputs'], data['data_samples'])
    reid_names = [loss.loss_name for loss in model.roi_head.reid_losses]
    assert reid_names and all(name in losses for name in reid_names)
    sum(losses[name] for name in reid_names).backward()

    def got_grad(module):
        return any(p.grad is not None and p.grad.abs().sum() > 0
                   for p in module.parameters() if p.requires_grad)

    roi_head = model.roi_head
    reached = dict(
        trunk=got_grad(model.backbone),
        det_res5=got_grad(roi_head.shared_head),
        bbox_head=got_grad(roi_head.bbox_head),
        reid_head=got_grad(roi_head.reid_head))
    if roi_head.with_separate_reid_module:
        reached['reid_res5'] = got_grad(roi_head.reid_shared_head)
    return model, reached


def test_dcinet_retrieval_module_has_its_own_res5():
    model, reached = _reid_grads('dcinet')
    roi_head = model.roi_head
    assert roi_head.with_separate_reid_module
    det_params = {id(p) for p in roi_head.shared_head.parameters()}
    assert not det_params & {
        id(p)
        for p in roi_head.reid_shared_head.parameters()
    }
    assert reached == dict(
        trunk=True,
        det_res5=False,
        bbox_head=False,
        reid_head=True,
        reid_res5=True)


def test_inet_retrieval_shares_the_detection_res5():
    model, reached = _reid_grads('inet')
    assert not model.roi_head.with_separate_reid_module
    assert reached == dict(
        trunk=True, det_res5=True, bbox_head=False, reid_head=True)


def test_check_pair_batch_accepts_pairs_and_names_the_problem():
    samples = make_pair_batch()['data_samples']
    check_pair_batch(samples)  # 2 well-formed pairs: no error
    with pytest.raises(ValueError, match='odd batch of 3 images'):
        check_pair_batch(samples[:3])
    swapped = [samples[1], samples[0]] + samples[2:]
    with pytest.raises(ValueError, match='Sample 0 should have'):
        check_pair_batch(swapped)
    del samples[3].pair_index
    with pytest.raises(ValueError, match='Sample 3 .* no `pair_index`'):
        check_pair_batch(samples)


def test_paired_losses_refuse_an_unpaired_batch():
    model = build_model(synthetic_model_cfg('inet'))
    batch = make_pair_batch()
    batch = dict(
        inputs=batch['inputs'][:3], data_samples=batch['data_samples'][:3])
    data = model.data_preprocessor(batch, training=True)
    with pytest.raises(ValueError, match='pair'):
        model.loss(data['inputs'], data['data_samples'])


def test_missing_person_ids_is_a_clear_error():
    model = build_model(synthetic_model_cfg('oim'))
    batch = make_pair_batch()
    del batch['data_samples'][1].gt_instances.person_ids
    data = model.data_preprocessor(batch, training=True)
    with pytest.raises(KeyError, match='sample 1 has no'):
        model.loss(data['inputs'], data['data_samples'])


def test_a_detection_loss_in_reid_losses_is_refused_at_build_time():
    """mmdet.CrossEntropyLoss would build, then fail at iteration 1."""
    cfg = synthetic_model_cfg('oim')
    cfg.roi_head.reid_losses = [
        cfg.roi_head.reid_losses[0],
        dict(type='mmdet.CrossEntropyLoss', loss_weight=1.0)
    ]
    with pytest.raises(TypeError) as error:
        build_model(cfg)
    message = str(error.value)
    assert "reid_losses[1] has type 'mmdet.CrossEntropyLoss'" in message
    assert 'BaseReIDLoss' in message and 'OIMLoss' in message


def _head_losses(roi_head_cfg):
    head = build_model(dict(roi_head_cfg, train_cfg=None, test_cfg=None))
    return [(type(loss).__name__, loss.feat_dim, loss.num_person_ids)
            for loss in head.reid_losses]


def test_losses_take_feat_dim_and_num_person_ids_from_the_head():
    cfg = synthetic_model_cfg('dcinet').roi_head
    cfg.num_person_ids = 9
    cfg.reid_head.embed_dim = 32
    # OLPLoss has no num_person_ids: it is given only feat_dim
    assert _head_losses(cfg) == [('OLPLoss', 32, None), ('C2HEPLoss', 32, 9)]
    # a value written in the loss config wins
    cfg.reid_losses[1].num_person_ids = 12
    assert _head_losses(cfg) == [('OLPLoss', 32, None), ('C2HEPLoss', 32, 12)]


def test_missing_num_person_ids_or_a_wrong_feat_dim_is_refused():
    cfg = synthetic_model_cfg('inet').roi_head
    cfg.num_person_ids = None
    with pytest.raises(
            ValueError,
            match=r'reid_losses\[1\] \(HEPLoss\) needs `num_person_ids`.*'
            r'model\.roi_head\.num_person_ids'):
        _head_losses(cfg)
    cfg.num_person_ids = 5
    cfg.reid_losses[0].feat_dim = 128
    with pytest.raises(
            ValueError,
            match=r'reid_losses\[0\] \(OLPLoss\) has feat_dim=128 but '
            r'reid_head embeds to embed_dim=256'):
        _head_losses(cfg)
