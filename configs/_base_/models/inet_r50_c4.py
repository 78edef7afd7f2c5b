# I-Net (He, Zhang, Jia, ACCV 2018) in the C4 frame: Siamese image pairs,
# one res5 shared by detection and re-ID, OLP + HEP losses.
_base_ = './oim_r50_c4.py'

model = dict(
    roi_head=dict(
        reid_losses=[
            dict(
                type='OLPLoss',
                queue_size=None,  # 4 x labelled RoIs per batch
                scale=1.0,
                loss_weight=1.0),
            dict(
                type='HEPLoss',
                num_hard=20,
                pool_size=100,
                scale=30.0,
                loss_weight=1.0)
        ],
        require_pairs=True))
