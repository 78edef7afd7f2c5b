"""Fixtures of the index tests: a tiny R-18 model, images and videos."""
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

from mmsearch.testing.configs import write_small_test_config

ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))
IMAGE_SHAPE = (96, 128, 3)
VIDEO_FPS = 4.0
VIDEO_FRAMES = 8


@pytest.fixture(scope='session')
def tiny_config(tmp_path_factory):
    # Few proposals, at most 3 people per image, every score kept.
    return write_small_test_config(
        str(tmp_path_factory.mktemp('cfg') / 'oim_tiny.py'),
        scale=(160, 96),
        proposals=20,
        score_thr=0.0,
        max_per_img=3)


def make_model(config, seed):
    from mmsearch.apis import init_searcher
    torch.manual_seed(seed)
    return init_searcher(config, device='cpu')


@pytest.fixture(scope='session')
def model(tiny_config):
    return make_model(tiny_config, 0)


@pytest.fixture(scope='session')
def checkpoint(model, tmp_path_factory):
    """``model``'s weights as a checkpoint file (for the tools)."""
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), str(path))
    return str(path)


def scene(rng):
    """A random scene with a few person-like blocks (HxWx3 uint8)."""
    image = rng.integers(0, 256, IMAGE_SHAPE, dtype=np.uint8)
    for _ in range(2):
        x, y = rng.integers(0, 90), rng.integers(0, 30)
        image[y:y + 60, x:x + 25] = rng.integers(0, 256, 3)
    return image


@pytest.fixture(scope='session')
def gallery(tmp_path_factory):
    """cam1/{a,b}.jpg, cam2/c.png, top.jpg, and two bad files in cam2."""
    root = tmp_path_factory.mktemp('gallery')
    rng = np.random.default_rng(0)
    (root / 'cam1').mkdir()
    (root / 'cam2').mkdir()
    good = ['cam1/a.jpg', 'cam1/b.jpg', 'cam2/c.png', 'top.jpg']
    for name in good:
        cv2.imwrite(str(root / name), scene(rng))
    data = (root / 'cam1' / 'a.jpg').read_bytes()
    (root / 'cam2' / 'truncated.jpg').write_bytes(data[:len(data) // 2])
    (root / 'cam2' / 'broken.jpg').write_text('not an image')
    (root / 'notes.txt').write_text('ignored: not an image name')
    return dict(
        root=str(root),
        good=[str(root / name) for name in good],
        bad=[str(root / 'cam2' / n) for n in ('broken.jpg', 'truncated.jpg')])


def write_video(path, num_frames=VIDEO_FRAMES, seed=1):
    rng = np.random.default_rng(seed)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'MJPG'), VIDEO_FPS,
        (IMAGE_SHAPE[1], IMAGE_SHAPE[0]))
    assert writer.isOpened()
    frames = [scene(rng) for _ in range(num_frames)]
    for frame in frames:
        writer.write(frame)
    writer.release()
    return frames


@pytest.fixture(scope='session')
def videos(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    write_video(root / 'street.avi')
    (root / 'broken.avi').write_bytes(
        np.random.default_rng(2).integers(0, 256, 4000,
                                          dtype=np.uint8).tobytes())
    return dict(good=str(root / 'street.avi'), bad=str(root / 'broken.avi'))
