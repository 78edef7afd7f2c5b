"""Small derived configs that tests write next to their data."""
import os.path as osp

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
SYNTHETIC_OIM_CONFIG = osp.join(ROOT, 'configs', 'oim', 'oim_r18_synthetic.py')

SMALL_TEST_CONFIG = """
_base_ = [{base!r}]
small_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale={scale!r}, keep_ratio=True),
    dict(type='LoadPersonSearchAnnotations', with_bbox=True),
    dict(type='PackPersonSearchInputs')
]
test_dataloader = dict(dataset=dict(pipeline=small_test_pipeline))
model = dict(test_cfg=dict(rpn=dict(nms_pre=100, max_per_img={proposals}),
                           rcnn=dict(score_thr={score_thr},
                                     max_per_img={max_per_img})))
"""


def write_small_test_config(path: str,
                            scale: tuple,
                            proposals: int,
                            score_thr: float,
                            max_per_img: int,
                            base: str = SYNTHETIC_OIM_CONFIG) -> str:
    """Write a config that tests a ``base`` model on small inputs.

    The test images are resized into ``scale`` (w, h, keeping the ratio),
    the RPN keeps 100 boxes before NMS and ``proposals`` after, and the box
    head keeps ``max_per_img`` people scoring at least ``score_thr``.

    Args:
        path (str): The config file to write.
        scale (tuple): (w, h) of the test resize.
        proposals (int): Proposals per image.
        score_thr (float): Detection score threshold.
        max_per_img (int): People per image at most.
        base (str): The config it derives from. Defaults to the R-18 OIM
            synthetic config.

    Returns:
        str: ``path``.
    """
    with open(path, 'w') as f:
        f.write(
            SMALL_TEST_CONFIG.format(
                base=base,
                scale=tuple(scale),
                proposals=proposals,
                score_thr=score_thr,
                max_per_img=max_per_img))
    return str(path)
