"""What the search page shows of an index and its search results, free of
any web framework: captions, crops, the full frame with the hit's box, and
the example query images."""
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import mmcv
import numpy as np

from mmsearch.index import GalleryIndex, entry_image
from mmsearch.index.visualize import format_time
from mmsearch.visualization import crop_box
from .query import format_box

HIT_COLOUR = (0, 0, 255)  # BGR
PERSON_COLOUR = (0, 140, 255)  # orange
CHOSEN_COLOUR = (0, 200, 0)


def result_caption(result: Dict) -> str:
    """One line per search result: rank, similarity, source, frame, time.

    Example: ``#1 · 0.9123 · street.avi · frame 12 · 0:03.0`` for a video
    frame, ``#2 · 0.8810 · a.jpg`` for an image.

    Args:
        result (dict): A result of :func:`mmsearch.apis.search_index`.
    """
    parts = [
        f'#{result["rank"]}', f'{result["similarity"]:.4f}',
        osp.basename(result['source'])
    ]
    if result['kind'] == 'video':
        parts.append(f'frame {result["frame"]}')
        stamp = format_time(result['timestamp'])
        if stamp:
            parts.append(stamp)
    return ' · '.join(parts)


def result_details(result: Dict) -> str:
    """Markdown describing one result in full (for the full-frame view)."""
    lines = [
        f'**#{result["rank"]}**, similarity {result["similarity"]:.4f}',
        f'source: `{result["source"]}`'
    ]
    if result['camera']:
        lines.append(f'camera: {result["camera"]}')
    if result['kind'] == 'video':
        lines.append(f'frame {result["frame"]}, time '
                     f'{format_time(result["timestamp"])} '
                     f'({result["timestamp"]:.2f} s)')
    lines.append(f'box [{format_box(result["box"])}], '
                 f'detection score {result["score"]:.3f}, '
                 f'entry {result["entry_id"]}')
    return '  \n'.join(lines)


def draw_boxes(image: np.ndarray,
               boxes: Sequence[Sequence[float]],
               colour: Tuple[int, int, int],
               thickness: int = 2) -> np.ndarray:
    """A copy of a BGR image with rectangles drawn on it."""
    image = image.copy()
    for box in boxes:
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        cv2.rectangle(image, (x1, y1), (x2, y2), colour, thickness)
    return image


def to_rgb(image: np.ndarray) -> np.ndarray:
    """RGB copy of a BGR image (what web components display)."""
    return mmcv.bgr2rgb(image)


def result_crop(result: Dict) -> np.ndarray:
    """RGB crop of a result's person, read from its image or video frame.
    """
    return to_rgb(crop_box(entry_image(result), result['box']))


def result_frame(result: Dict) -> np.ndarray:
    """RGB full image or video frame of a result with its box drawn."""
    image = entry_image(result)
    thickness = max(2, round(max(image.shape[:2]) / 300))
    return to_rgb(draw_boxes(image, [result['box']], HIT_COLOUR, thickness))


def example_images(index: GalleryIndex,
                   cache_dir: str,
                   limit: int = 8) -> List[str]:
    """Query images to pick from: gallery images and video frames of the
    index.

    Images are used in place; a video frame holding a detected person is
    written to ``cache_dir`` as a lossless PNG (one per video, the frame
    of its first entry). Missing files are passed over.

    Args:
        index (GalleryIndex): The index.
        cache_dir (str): Folder for the extracted video frames.
        limit (int): At most this many examples.

    Returns:
        list[str]: Image files.
    """
    examples, seen = [], set()
    has_entries = np.zeros(len(index.unit_keys), bool)
    has_entries[index.entry_unit] = True
    for unit in np.flatnonzero(has_entries):
        source = str(index.unit_sources[unit])
        if len(examples) >= limit or source in seen:
            continue
        seen.add(source)
        if not osp.isfile(source):
            continue
        if index.unit_kinds[unit] != 'video':
            examples.append(source)
            continue
        entry = index.entry(int(np.argmax(index.entry_unit == unit)))
        try:
            frame = entry_image(entry)
        except (OSError, ValueError):
            continue
        name = osp.splitext(osp.basename(source))[0]
        path = osp.join(cache_dir, f'{name}_frame{entry["frame"]}.png')
        os.makedirs(cache_dir, exist_ok=True)
        if cv2.imwrite(path, frame):
            examples.append(path)
    return examples
