"""Fixtures of the search-page tests: a tiny detecting R-18 model, an index
of three images and a short video, the page served on a free port, and a
headless chromium on it."""
import os
import os.path as osp

import cv2
import pytest
import torch

from mmsearch.deployment.calibration import draw_person_scene, make_detecting
from mmsearch.testing.configs import write_small_test_config
from mmsearch.testing.web import free_port, launch_chromium, require_browser

HEIGHT, WIDTH = 120, 160
SCORE_THR = 0.5
VIDEO_FPS = 4.0


@pytest.fixture(scope='session')
def web_index(tmp_path_factory):
    """An index (with its model, config and checkpoint stored) of
    cam1/a.png, cam1/b.png, cam2/c.png and street.avi (6 frames)."""
    from mmsearch.apis import build_index, init_searcher
    root = tmp_path_factory.mktemp('web')
    # Small inputs; up to 5 people per image above the index's threshold.
    config = write_small_test_config(
        str(root / 'oim_web.py'),
        scale=(200, 150),
        proposals=30,
        score_thr=0.3,
        max_per_img=5)
    torch.manual_seed(0)
    model = init_searcher(str(config), device='cpu')
    make_detecting(model, seed=1, size=(HEIGHT, WIDTH))
    checkpoint = str(root / 'web.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    images = {}
    for seed, name in enumerate(('cam1/a.png', 'cam1/b.png', 'cam2/c.png')):
        path = root / 'gallery' / name
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), draw_person_scene(HEIGHT, WIDTH, 20 + seed))
        images[osp.basename(name)] = str(path)
    video = str(root / 'street.avi')
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*'MJPG'), VIDEO_FPS,
                             (WIDTH, HEIGHT))
    assert writer.isOpened()
    for frame in range(6):
        writer.write(draw_person_scene(HEIGHT, WIDTH, 30 + frame))
    writer.release()
    index_dir = str(root / 'gallery.idx')
    build_index(
        model,
        index_dir,
        images=str(root / 'gallery'),
        videos=[video],
        checkpoint=checkpoint,
        score_thr=SCORE_THR,
        frame_step=1,
        feat_dtype='float32',
        show_progress=False)
    return dict(
        index_dir=index_dir,
        model=model,
        config=str(config),
        checkpoint=checkpoint,
        images=images,
        video=video)


@pytest.fixture(scope='module')
def chromium():
    return require_browser()


@pytest.fixture(scope='module')
def server(chromium, web_index, tmp_path_factory):
    """The page over ``web_index``, with the model the index names; Gradio
    keeps its files in a temporary folder while it runs."""
    from mmsearch.web import build_search_app, launch_search_app
    saved = os.environ.get('GRADIO_TEMP_DIR')
    os.environ['GRADIO_TEMP_DIR'] = str(tmp_path_factory.mktemp('gradio'))
    try:
        app = build_search_app(web_index['index_dir'])
        url = launch_search_app(app, port=free_port(), block=False, quiet=True)
        yield url
        app.close()
    finally:
        if saved is None:
            os.environ.pop('GRADIO_TEMP_DIR', None)
        else:
            os.environ['GRADIO_TEMP_DIR'] = saved


@pytest.fixture(scope='module')
def browser_page(chromium, server):
    """A chromium page on the app; ``page.outside_requests`` lists the URLs
    the page asked for beyond the local server."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, chromium)
        page = browser.new_page(viewport=dict(width=1280, height=1100))
        page.set_default_timeout(30_000)
        outside = []
        page.on(
            'request', lambda request: outside.append(request.url)
            if not request.url.startswith(server.rstrip('/')) and not request.
            url.startswith(('data:', 'blob:')) else None)
        page.outside_requests = outside
        try:
            yield page
        finally:
            browser.close()
