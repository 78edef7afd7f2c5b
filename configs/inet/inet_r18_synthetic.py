# I-Net with a ResNet-18 C4 trunk on the synthetic data set (CPU quick
# start, trained from scratch). The R-18 sizes come from the OIM synthetic
# config; I-Net changes the losses (OLP + HEP) and needs image pairs.
_base_ = ['../oim/oim_r18_synthetic.py']

model = dict(
    roi_head=dict(
        reid_losses=[
            dict(
                type='OLPLoss',
                queue_size=None,
                # The paper's formula is scale 1 (the R-50 configs); from
                # scratch on CPU a temperature of 10 learns much faster
                # (quick start: mAP 55.6 vs 21.5 after 350 iterations).
                scale=10.0,
                loss_weight=1.0),
            dict(
                type='HEPLoss',
                num_hard=10,
                pool_size=20,
                scale=30.0,
                loss_weight=1.0)
        ],
        require_pairs=True))
