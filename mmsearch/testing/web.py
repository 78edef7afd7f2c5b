"""Helpers of the browser tests of the search page: the system's chromium
driven by Playwright, a free local port, and reading the page.

The browser is Debian's ``chromium`` (``apt-get install chromium``), never
one downloaded by ``playwright install``; it is started with the network
features that call home switched off.
"""
import os
import os.path as osp
import re
import shutil
import socket
from typing import Dict, List, Optional, Tuple

CHROMIUM_CANDIDATES = ('/usr/bin/chromium', '/usr/bin/chromium-browser')
CHROMIUM_ARGS = ('--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync')
# "#3 · 0.9123 · street.avi · frame 12 · 0:03.0" (frame and time: videos)
CAPTION_RE = re.compile(r'^#(\d+) · (-?\d+\.\d+) · (.+?)'
                        r'(?: · frame (\d+)(?: · ([\d:.]+))?)?$')


def find_chromium() -> Optional[str]:
    """Path of the system's chromium (``MMSEARCH_CHROMIUM`` first)."""
    for path in (os.environ.get('MMSEARCH_CHROMIUM'), *CHROMIUM_CANDIDATES,
                 shutil.which('chromium')):
        if path and osp.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def require_browser(browser: bool = True) -> Optional[str]:
    """The chromium path, after checking that the web test can run.

    Skips the calling test when gradio, playwright or chromium is missing,
    except in CI (``CI=true``), where the browser test must run: there it
    fails naming what is missing.

    Args:
        browser (bool): Also need playwright and chromium (False: gradio
            only; returns None).
    """
    import pytest
    missing = []
    modules = ('gradio', 'playwright.sync_api') if browser else ('gradio', )
    for module in modules:
        try:
            __import__(module)
        except ImportError:
            missing.append(f'the Python package {module.split(".")[0]}')
    chromium = find_chromium() if browser else None
    if browser and chromium is None:
        missing.append('chromium (apt-get install chromium)')
    if missing:
        reason = ('the tests of the search page need ' + ', '.join(missing))
        if os.environ.get('CI', '').lower() == 'true':
            pytest.fail(f'{reason} (CI=true: the web test must run)')
        pytest.skip(reason)
    return chromium


def launch_chromium(playwright, executable: str):
    """A headless chromium browser from ``sync_playwright()``."""
    return playwright.chromium.launch(
        executable_path=executable, headless=True, args=list(CHROMIUM_ARGS))


def free_port(host: str = '127.0.0.1') -> int:
    """A TCP port nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def parse_caption(caption: str) -> Dict:
    """The fields of a result caption of the search page.

    Returns:
        dict: ``rank`` (int), ``similarity`` (float), ``name`` (file name),
        ``frame`` (int or None), ``time`` (str or None).
    """
    match = CAPTION_RE.match(caption.strip())
    if match is None:
        raise ValueError(f'not a result caption: {caption!r}')
    rank, sim, name, frame, stamp = match.groups()
    return dict(
        rank=int(rank),
        similarity=float(sim),
        name=name,
        frame=None if frame is None else int(frame),
        time=stamp)


def image_pixel_position(page, selector: str, x: float,
                         y: float) -> Tuple[float, float]:
    """Page coordinates of pixel (x, y) of the image shown by ``<img>``
    ``selector`` (object-fit contain / scale-down / none, centred)."""
    info = page.locator(selector).evaluate(
        'e => [e.naturalWidth, e.naturalHeight, '
        'e.getBoundingClientRect().toJSON(), getComputedStyle(e).objectFit]')
    width, height, rect, fit = info
    scale = min(rect['width'] / width, rect['height'] / height)
    if fit == 'none' or (fit == 'scale-down' and scale > 1):
        scale = 1.0
    left = rect['x'] + (rect['width'] - width * scale) / 2
    top = rect['y'] + (rect['height'] - height * scale) / 2
    return (float(left + (x + 0.5) * scale), float(top + (y + 0.5) * scale))


def input_value(page, elem_id: str) -> str:
    """The value of the text field of the Gradio component ``elem_id``."""
    return page.locator(f'#{elem_id} textarea, #{elem_id} input').first \
        .input_value()


def gallery_captions(page, elem_id: str = 'results') -> List[str]:
    """The captions of a Gradio gallery, in the order shown."""
    return page.locator(f'#{elem_id} .caption-label').all_inner_texts()
