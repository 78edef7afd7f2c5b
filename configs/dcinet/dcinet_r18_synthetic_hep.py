# Ablation of the method study (docs/en/method_study.md): DC-I-Net with
# I-Net's HEP (hard classes from the learnt classifier) instead of C2HEP
# (hard classes from the stored class centres); everything else as
# dcinet_r18_synthetic.py, HEP as in inet_r18_synthetic.py.
_base_ = ['./dcinet_r18_synthetic.py']

model = dict(
    roi_head=dict(reid_losses=[
        dict(type='OLPLoss', queue_size=None, scale=10.0, loss_weight=1.0),
        dict(
            type='HEPLoss',
            num_hard=10,
            pool_size=20,
            scale=30.0,
            loss_weight=1.0)
    ]))
