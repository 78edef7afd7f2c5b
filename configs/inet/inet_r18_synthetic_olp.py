# Ablation of the method study (docs/en/method_study.md): I-Net without HEP,
# trained with OLP alone (the same OLP as inet_r18_synthetic.py).
_base_ = ['./inet_r18_synthetic.py']

model = dict(
    roi_head=dict(reid_losses=[
        dict(type='OLPLoss', queue_size=None, scale=10.0, loss_weight=1.0)
    ]))
