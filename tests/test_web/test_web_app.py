"""The search page in a real headless chromium: a query by a clicked
person and by a typed box, each checked against ``search_index`` called
directly; bad input gives messages on the page."""
import re
from pathlib import Path

import numpy as np
import pytest

from mmsearch.apis import detect_images, search_index
from mmsearch.testing.web import (gallery_captions, image_pixel_position,
                                  input_value, parse_caption)
from .conftest import HEIGHT, SCORE_THR, WIDTH


def open_page(page, url):
    page.goto(url)
    page.locator('#status').get_by_text('Pick or upload').wait_for()


def pick_example(page, name):
    """Click the example image whose file name contains ``name``; wait
    until the page has detected its people."""
    page.locator(f'button.gallery-item img[src*="/{name}"]').click()
    page.locator('#query-people img').wait_for()
    page.locator('#status').get_by_text('people detected').wait_for()
    src = page.locator('#query-image img').get_attribute('src')
    assert src.split('/')[-1].startswith(name), src


def query_file(page, tmp_path):
    """The query image the page holds, downloaded to a file."""
    src = page.locator('#query-image img').get_attribute('src')
    response = page.request.get(src)
    assert response.ok, src
    path = tmp_path / src.split('/')[-1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(response.body())
    return str(path)


def status_text(page):
    return page.locator('#status [data-testid="markdown"]').inner_text()


def run_search(page, expect=re.compile(r'results in|Error')):
    """Press Search; wait for a status matching ``expect`` (which the
    status before must not match) and return it."""
    page.locator('#search-button').click()
    page.locator('#status [data-testid="markdown"]').get_by_text(
        expect).wait_for()
    return status_text(page)


def detections(model, image):
    """Reference people of an image: the model's detections scoring at
    least the index's threshold."""
    out = detect_images(model, [image])[0]
    return out['bboxes'][out['scores'] >= SCORE_THR]


def overlap_click(boxes, margin=3):
    """A pixel inside two or more boxes (``margin`` pixels from every box
    edge, so that rounding of the click cannot change which boxes hold it)
    and the smallest of those boxes."""
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for y in range(margin, HEIGHT - margin):
        for x in range(margin, WIDTH - margin):
            holding = []
            for i, (x1, y1, x2, y2) in enumerate(boxes):
                edge = min(abs(x - x1), abs(x - x2), abs(y - y1), abs(y - y2))
                if edge < margin:
                    break
                if x1 < x < x2 and y1 < y < y2:
                    holding.append(i)
            else:
                if len(holding) >= 2:
                    return x, y, boxes[min(holding, key=lambda i: areas[i])]
    raise AssertionError(f'the test needs overlapping people: {boxes}')


def check_shown_results(page, expected):
    """The page's captions against ``search_index``'s results."""
    shown = [parse_caption(c) for c in gallery_captions(page)]
    assert len(shown) == len(expected) > 0
    for rank, (got, ref) in enumerate(zip(shown, expected), 1):
        assert got['rank'] == rank == ref['rank']
        assert got['similarity'] == pytest.approx(ref['similarity'], abs=6e-5)
        assert got['name'] == ref['source'].replace('\\', '/').split('/')[-1]
        assert got['frame'] == ref['frame']  # None for images
        if ref['timestamp'] is not None:
            minutes, seconds = got['time'].split(':')
            assert int(minutes) * 60 + float(seconds) == pytest.approx(
                ref['timestamp'], abs=0.051)
    sims = [got['similarity'] for got in shown]
    assert sims == sorted(sims, reverse=True)


def test_click_a_person_then_search(browser_page, server, web_index, tmp_path):
    page, model = browser_page, web_index['model']
    open_page(page, server)
    pick_example(page, 'a.png')
    image = web_index['images']['a.png']
    # the page searches the gallery file itself (not a re-encoded copy)
    assert Path(query_file(page,
                           tmp_path)).read_bytes() == Path(image).read_bytes()
    # Click where detections overlap: the page must choose the smallest
    # box holding the click (a plain loop here).
    boxes = detections(model, image)
    x, y, target = overlap_click(boxes)
    page.mouse.click(*image_pixel_position(page, '#query-people img', x, y))
    page.locator('#status').get_by_text('chosen').wait_for()
    box_text = input_value(page, 'query-box')
    box = [float(v) for v in box_text.split(',')]
    np.testing.assert_allclose(box, target, atol=0.051)

    topk = page.locator('#topk input[type="number"]')
    topk.fill('6')
    topk.press('Enter')
    assert run_search(page).startswith('6 results')
    expected = search_index(
        web_index['index_dir'], model=model, image=image, box=box, topk=6)
    check_shown_results(page, expected)

    # The second hit's full frame, with its source and box.
    page.locator('#results .thumbnail-item').nth(1).click()
    details = page.locator('#result-details')
    details.get_by_text('#2').wait_for()
    assert expected[1]['source'] in details.inner_text()
    frame = page.locator('#full-frame img')
    frame.wait_for()
    assert frame.evaluate('e => [e.naturalWidth, e.naturalHeight]') == [
        WIDTH, HEIGHT
    ]
    assert page.outside_requests == []


def test_typed_box_on_a_video_frame_with_filters(browser_page, server,
                                                 web_index, tmp_path):
    page, model = browser_page, web_index['model']
    open_page(page, server)
    pick_example(page, 'street_frame')
    image = query_file(page, tmp_path)
    page.locator('#query-box textarea, #query-box input').first.fill(
        '30, 20, 90, 110')
    page.locator('#dedup label').filter(has_text='image').click()
    page.locator('#time-range textarea, #time-range input').first.fill(
        '0.4, 1.2')
    status = run_search(page)
    expected = search_index(
        web_index['index_dir'],
        model=model,
        image=image,
        box=[30, 20, 90, 110],
        topk=10,
        dedup='image',
        time_range=(0.4, 1.2))
    assert status.startswith(f'{len(expected)} results')
    check_shown_results(page, expected)
    # frames 2, 3, 4 (0.5, 0.75, 1.0 s) pass; one person per frame
    frames = [parse_caption(c)['frame'] for c in gallery_captions(page)]
    assert sorted(frames) == [2, 3, 4]
    assert page.outside_requests == []


def test_upload_then_bad_input_gives_messages(browser_page, server, web_index,
                                              tmp_path):
    page = browser_page
    open_page(page, server)
    # an upload (a copy under another name) instead of an example
    upload = tmp_path / 'uploaded.png'
    upload.write_bytes(Path(web_index['images']['b.png']).read_bytes())
    page.locator('#query-image input[type="file"]').set_input_files(
        str(upload))
    page.locator('#status').get_by_text('people detected').wait_for()
    served = query_file(page, tmp_path / 'served')
    assert Path(served).read_bytes() == upload.read_bytes()
    box_field = page.locator('#query-box textarea, #query-box input').first
    for text, message in (('500, 500, 600, 700', 'lies outside'),
                          ('10, 20, 30', 'four numbers'), ('50, 50, 20, 90',
                                                           'is empty')):
        box_field.fill(text)
        # (the message before this search's never holds ``message``)
        shown = run_search(page, message)
        assert shown.startswith('Error:') and message in shown, shown
        assert 'Traceback' not in shown
        assert gallery_captions(page) == []
    # A click on no detected person.
    boxes = detections(web_index['model'], web_index['images']['b.png'])
    free = [(x, y) for y in range(2, HEIGHT - 2, 4)
            for x in range(2, WIDTH - 2, 4)
            if not any(b[0] - 2 <= x <= b[2] + 2 and b[1] - 2 <= y <= b[3] + 2
                       for b in boxes)]
    assert free, 'the test needs a pixel outside every detection'
    box_field.fill('')
    page.mouse.click(
        *image_pixel_position(page, '#query-people img', *free[0]))
    page.locator('#status').get_by_text('no detected person').wait_for()
    assert input_value(page, 'query-box') == ''
    assert page.outside_requests == []
