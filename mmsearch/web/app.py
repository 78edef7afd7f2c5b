"""The search page: a Gradio app over a gallery index.

Pick or upload a query image, click the person (or type a box), set top-k,
one-best-per-image/window ranking and filters, and see the ranked people
with their image or video, frame, time and similarity; select one to see
its full frame with the box drawn.

Nothing is fetched from the network: Gradio's analytics are off, the page
uses local fonts and no share link is made.
"""
import atexit
import os
import shutil
import tempfile
import time
import traceback
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import gradio as gr
import numpy as np

from mmsearch.apis import (check_index_model, clip_query_box, init_searcher,
                           load_index, search_index)
from mmsearch.index import GalleryIndex
from mmsearch.visualization import read_image
from .query import (detect_people, format_box, parse_box, parse_time_range,
                    person_at)
from .results import (CHOSEN_COLOUR, PERSON_COLOUR, draw_boxes, example_images,
                      result_caption, result_crop, result_details,
                      result_frame, to_rgb)

DEDUP_CHOICES = ('none', 'image', 'window')
# Errors of bad input, shown on the page as messages (others too, with the
# traceback on the server's console).
INPUT_ERRORS = (ValueError, OSError, IndexError)


class SearchPage:
    """The state and the actions of the page, independent of the widgets.

    Args:
        index (GalleryIndex): The index searched.
        model (nn.Module): A model embedding as the index's model.
    """
    # Query images whose detections are kept.
    CACHED_IMAGES = 64

    def __init__(self, index: GalleryIndex, model) -> None:
        self.index = index
        self.model = model
        self.score_thr = float(index.model_signature['score_thr'])
        self._people: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}

    def people(self, image: str) -> Tuple[np.ndarray, np.ndarray]:
        """Detected (boxes, scores) of a query image file, computed once."""
        if image not in self._people:
            while len(self._people) >= self.CACHED_IMAGES:
                self._people.pop(next(iter(self._people)))  # the oldest
            self._people[image] = detect_people(self.model, image,
                                                self.score_thr)
        return self._people[image]

    def show_people(self,
                    image: Optional[str],
                    chosen: Optional[Sequence[float]] = None) -> np.ndarray:
        """RGB query image with its people (and the chosen box) drawn."""
        canvas = draw_boxes(
            read_image(image),
            self.people(image)[0], PERSON_COLOUR, 1)
        if chosen is not None:
            canvas = draw_boxes(canvas, [chosen], CHOSEN_COLOUR, 2)
        return to_rgb(canvas)

    def pick(self, image: str, x: float, y: float) -> np.ndarray:
        """The detected person box under a click (ValueError if none)."""
        boxes, scores = self.people(image)
        row = person_at(boxes, x, y)
        if row is None:
            raise ValueError(
                f'no detected person at ({x:.0f}, {y:.0f}): the model found '
                f'{len(boxes)} people scoring >= {self.score_thr:g} in this '
                'image (drawn in orange); click inside one, or type a box')
        return boxes[row]

    def search(self,
               image: Optional[str],
               box_text: str,
               topk: int = 10,
               dedup: str = 'none',
               window: float = 1.0,
               cameras: Optional[Sequence[str]] = None,
               videos: Optional[Sequence[str]] = None,
               time_text: str = '') -> Tuple[List[Dict], np.ndarray, str]:
        """Search the index with a person box of a query image.

        Returns:
            tuple[list[dict], np.ndarray, str]: The results of
            :func:`mmsearch.apis.search_index`, the (4,) query box searched
            and a note (the box was clipped to the image, or '').
        """
        if not image:
            raise ValueError('no query image: upload one or pick an example')
        box = parse_box(box_text)
        height, width = read_image(image).shape[:2]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            box = clip_query_box(box, (height, width), 'query image')
        note = str(caught[0].message) if caught else ''
        time_range = parse_time_range(time_text)
        results = search_index(
            self.index,
            model=self.model,
            image=image,
            box=box.tolist(),
            topk=int(topk),
            dedup=None if dedup == 'none' else dedup,
            window=float(window),
            cameras=list(cameras) if cameras else None,
            videos=list(videos) if videos else None,
            time_range=time_range)
        return results, box, note

    def summary(self) -> str:
        """Markdown: what the index holds."""
        kinds = self.index.unit_kinds
        videos = len(set(self.index.unit_sources[kinds == 'video']))
        images = int((kinds == 'image').sum())
        return (f'**{len(self.index)}** people from {images} images and '
                f'{videos} videos in `{self.index.index_dir}`')


def _message(error: BaseException) -> str:
    if not isinstance(error, INPUT_ERRORS):
        traceback.print_exception(error)
    return f'**Error:** {error}'


def build_search_app(index_dir: str,
                     config: Optional[str] = None,
                     checkpoint: Optional[str] = None,
                     device: str = 'cpu',
                     cfg_options: Optional[dict] = None,
                     verify: bool = True,
                     max_topk: int = 100,
                     num_examples: int = 8,
                     model=None) -> gr.Blocks:
    """Build the search page over a gallery index.

    The model defaults to the config and checkpoint stored in the index;
    it is checked against the index before the page is built, so a foreign
    model fails here, not at the first query.

    Args:
        index_dir (str): The index folder.
        config (str, optional): Model config (default: the index's).
        checkpoint (str, optional): Model checkpoint (default: the index's;
            None when the index was built with initialised weights).
        device (str): Device of the model, e.g. ``'cpu'``, ``'cuda:0'``.
        cfg_options (dict, optional): Overrides merged into the config.
        verify (bool): Check the shards' checksums when loading.
        max_topk (int): Largest top-k offered.
        num_examples (int): Example query images taken from the index.
        model (nn.Module, optional): An already built model (then config,
            checkpoint, device and cfg_options are not used).

    Returns:
        gr.Blocks: The app; start it with :func:`launch_search_app`.

    Raises:
        IndexNotFoundError: No index at ``index_dir``.
        IndexFormatError: Not a readable index of this format version.
        ModelMismatchError: The model embeds differently from the index's.
        FileNotFoundError: The config (given or stored) does not exist.
    """
    # Gradio reads this when it would send usage data (the Blocks below
    # also turn off its version check and Hugging Face telemetry).
    os.environ['GRADIO_ANALYTICS_ENABLED'] = 'False'
    index = load_index(index_dir, verify=verify)
    if model is None:
        signature = index.model_signature
        config = config or signature.get('config')
        if not config:
            raise ValueError(f'the index "{index_dir}" records no config '
                             'file: give the model config (--config)')
        if not os.path.isfile(config):
            raise FileNotFoundError(
                f'model config "{config}" not found (the index '
                f'"{index_dir}" was built with it): give the config '
                '(--config) and checkpoint (--checkpoint) of the index\'s '
                'model')
        checkpoint = checkpoint or signature.get('checkpoint')
        if checkpoint and not os.path.isfile(checkpoint):
            raise FileNotFoundError(
                f'checkpoint "{checkpoint}" not found (the index '
                f'"{index_dir}" was built with it): give it with '
                '--checkpoint')
        model = init_searcher(config, checkpoint, device, cfg_options)
    check_index_model(index, model)
    page = SearchPage(index, model)
    frames_dir = tempfile.mkdtemp(prefix='mmsearch_web_')
    atexit.register(shutil.rmtree, frames_dir, ignore_errors=True)
    examples = example_images(index, frames_dir, num_examples)
    return _layout(page, examples, max_topk)


def _layout(page: SearchPage, examples: List[str], max_topk: int) -> gr.Blocks:
    """The widgets of the page and their events."""
    index = page.index
    cameras = sorted({str(c) for c in index.unit_cameras if c})
    videos = sorted({
        os.path.basename(str(s))
        for s, k in zip(index.unit_sources, index.unit_kinds) if k == 'video'
    })
    with gr.Blocks(
            title='mmsearch: person search', analytics_enabled=False) as app:
        gr.Markdown('## Person search\n' + page.summary())
        results_state = gr.State([])
        with gr.Row():
            with gr.Column(scale=1):
                query = gr.Image(
                    type='filepath',
                    image_mode=None,  # the file as given, not re-encoded
                    label='Query image (upload, or pick an example)',
                    sources=['upload', 'clipboard'],
                    elem_id='query-image')
                if examples:
                    gr.Examples(
                        examples=[[path] for path in examples],
                        inputs=[query],
                        label='Examples from the index',
                        examples_per_page=len(examples))
                people = gr.Image(
                    label='Click the person to search for',
                    interactive=False,
                    elem_id='query-people')
                box_text = gr.Textbox(
                    label='Query box: x1, y1, x2, y2 (pixels; set by a '
                    'click, or type it)',
                    elem_id='query-box')
                with gr.Accordion('Ranking and filters', open=True):
                    topk = gr.Slider(
                        1,
                        max_topk,
                        value=min(10, max_topk),
                        step=1,
                        label='top-k',
                        elem_id='topk')
                    dedup = gr.Radio(
                        list(DEDUP_CHOICES),
                        value='none',
                        label='one best box per',
                        info='none: every person; image: per image or '
                        'video frame; window: per video time window',
                        elem_id='dedup')
                    window = gr.Number(
                        value=1.0,
                        minimum=0.001,
                        label='window (seconds)',
                        elem_id='window')
                    camera_filter = gr.Dropdown(
                        cameras,
                        multiselect=True,
                        label='cameras',
                        visible=bool(cameras),
                        elem_id='cameras')
                    video_filter = gr.Dropdown(
                        videos,
                        multiselect=True,
                        label='videos',
                        visible=bool(videos),
                        elem_id='videos')
                    time_text = gr.Textbox(
                        label='video time range: start, end (seconds; '
                        'blank: all)',
                        visible=bool(videos),
                        elem_id='time-range')
                search = gr.Button(
                    'Search', variant='primary', elem_id='search-button')
                status = gr.Markdown(
                    'Pick or upload a query image.', elem_id='status')
            with gr.Column(scale=2):
                gallery = gr.Gallery(
                    label='Ranked people (select one for its full frame)',
                    columns=5,
                    allow_preview=False,
                    object_fit='contain',
                    elem_id='results')
                frame = gr.Image(
                    label='Full frame',
                    interactive=False,
                    elem_id='full-frame')
                details = gr.Markdown('', elem_id='result-details')

        def on_image(image):
            if not image:
                return None, '', 'Pick or upload a query image.'
            try:
                shown = page.show_people(image)
            except Exception as error:
                return None, '', _message(error)
            count = len(page.people(image)[0])
            return shown, '', (
                f'{count} people detected (orange): click one, or type a '
                'box.')

        def on_click(image, evt: gr.SelectData):
            if not image:
                return gr.update(), gr.update(), 'Pick a query image first.'
            try:
                x, y = evt.index[:2]
                box = page.pick(image, float(x), float(y))
            except Exception as error:
                return gr.update(), gr.update(), _message(error)
            return page.show_people(image, box), format_box(box), (
                f'Person [{format_box(box)}] chosen: press Search.')

        def on_search(image, text, k, mode, seconds, cams, vids, times):
            try:
                start_time = time.perf_counter()
                results, box, note = page.search(image, text, k, mode, seconds,
                                                 cams, vids, times)
                shown = page.show_people(image, box)
                items = [(result_crop(r), result_caption(r)) for r in results]
                took = time.perf_counter() - start_time
            except Exception as error:
                return [], [], None, '', gr.update(), _message(error)
            message = (f'{len(results)} results in {took:.2f} s.' +
                       (f' Note: {note}' if note else ''))
            return results, items, None, '', shown, message

        def on_select(results, evt: gr.SelectData):
            try:
                result = results[evt.index]
                return result_frame(result), result_details(result)
            except Exception as error:
                return None, _message(error)

        query.change(on_image, [query], [people, box_text, status])
        people.select(on_click, [query], [people, box_text, status])
        search_inputs = [
            query, box_text, topk, dedup, window, camera_filter, video_filter,
            time_text
        ]
        search_outputs = [
            results_state, gallery, frame, details, people, status
        ]
        search.click(on_search, search_inputs, search_outputs)
        box_text.submit(on_search, search_inputs, search_outputs)
        gallery.select(on_select, [results_state], [frame, details])
    return app


def launch_search_app(app: gr.Blocks,
                      host: str = '127.0.0.1',
                      port: int = 7860,
                      block: bool = True,
                      quiet: bool = False) -> str:
    """Serve the page without any network call beyond the local server.

    Args:
        app (gr.Blocks): From :func:`build_search_app`.
        host (str): Address to listen on (``'0.0.0.0'``: every interface).
        port (int): Port to listen on.
        block (bool): Serve until interrupted; False returns at once (stop
            with ``app.close()``).
        quiet (bool): Print no start-up lines.

    Returns:
        str: The page's local URL.
    """
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        share=False,
        inbrowser=False,
        prevent_thread_lock=True,
        quiet=True,
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        enable_monitoring=False,
        footer_links=[],
        show_error=True)
    if not quiet:
        print(f'Search page: {local_url} (Ctrl+C stops it)', flush=True)
    if block:
        app.block_thread()
    return local_url
