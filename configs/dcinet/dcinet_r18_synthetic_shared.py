# Ablation of the method study (docs/en/method_study.md): DC-I-Net's losses
# (OLP + C2HEP) on one module shared by detection and retrieval, as in
# I-Net: no separate retrieval res5.
_base_ = ['./dcinet_r18_synthetic.py']

model = dict(roi_head=dict(reid_shared_head=None))
