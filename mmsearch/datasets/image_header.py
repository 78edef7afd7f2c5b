"""Image sizes from file headers, without an image library.

Building a dataset needs the (height, width) of every image (18,184 for
CUHK-SYSU). For a JPEG they are in its start-of-frame (SOF) segment, a few
hundred bytes into the file after the APPn (EXIF, JFIF) segments:
:func:`jpeg_size` walks the marker segments of the file's first bytes to
it. Like ``PIL.Image.open(path).size``, the size is the stored one (EXIF
orientation is not applied).
"""
import struct
from typing import Optional, Tuple

# SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC)
SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
# markers without a length field: TEM, RST0..7, SOI
NO_LENGTH = frozenset([0x01] + list(range(0xD0, 0xD9)))
_FIRST, _MORE = 4096, 64 * 1024  # bytes read first, then at a time


def jpeg_size(path: str) -> Optional[Tuple[int, int]]:
    """(height, width) of a JPEG file from its SOF segment.

    Args:
        path (str): The file.

    Returns:
        tuple[int, int] | None: The size, or ``None`` when the file is not
        a JPEG or its header cannot be walked (e.g. truncated, or a height
        of 0 given later by a DNL segment); the caller should then ask an
        image library.

    Raises:
        OSError: If the file cannot be opened.
    """
    with open(path, 'rb') as file:
        data = file.read(_FIRST)
        if data[:2] != b'\xff\xd8':
            return None
        pos = 2
        while True:
            if pos + 4 > len(data):  # a big APPn segment: read on
                more = file.read(max(_MORE, pos + 4 - len(data)))
                if not more:
                    return None
                data += more
                continue
            if data[pos] != 0xFF:
                return None
            marker = data[pos + 1]
            if marker == 0xFF:  # fill byte
                pos += 1
                continue
            if marker in NO_LENGTH:
                pos += 2
                continue
            if marker == 0xD9 or marker == 0xDA:  # EOI / SOS before a SOF
                return None
            length = struct.unpack_from('>H', data, pos + 2)[0]
            if marker in SOF_MARKERS:
                while pos + 9 > len(data):
                    more = file.read(_MORE)
                    if not more:
                        return None
                    data += more
                height, width = struct.unpack_from('>HH', data, pos + 5)
                return (height, width) if height and width else None
            if length < 2:
                return None
            pos += 2 + length
