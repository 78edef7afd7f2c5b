"""jpeg_size reads the same size as PIL, without decoding or PIL."""
import numpy as np
import pytest
from PIL import Image

from mmsearch.datasets import DatasetLayoutError
from mmsearch.datasets.image_header import jpeg_size
from mmsearch.datasets.raw_io import read_image_size

VARIANTS = {
    'baseline': ((37, 53, 3), 'RGB', {}),
    'progressive': ((40, 30, 3), 'RGB', dict(progressive=True)),
    'exif': ((21, 64, 3), 'RGB', dict(exif=b'Exif\0\0' + bytes(300))),
    # an APPn segment longer than the first read (64 KiB)
    'big_icc': ((16, 24, 3), 'RGB', dict(icc_profile=bytes(150000))),
    'grey': ((9, 300, 1), 'L', {}),
    'cmyk': ((33, 17, 4), 'CMYK', {}),
    'restart': ((64, 64, 3), 'RGB', dict(restart_marker_blocks=1)),
}


def write_jpeg(path, shape, mode, options):
    pixels = np.random.default_rng(0).integers(0, 255, shape, np.uint8)
    Image.fromarray(pixels.squeeze(-1) if shape[-1] == 1 else pixels,
                    mode).save(path, 'JPEG', **options)


@pytest.mark.parametrize('variant', sorted(VARIANTS))
def test_jpeg_size_equals_pil(tmp_path, variant):
    path = str(tmp_path / f'{variant}.jpg')
    shape, mode, options = VARIANTS[variant]
    write_jpeg(path, shape, mode, options)
    with Image.open(path) as image:
        width, height = image.size
    assert (height, width) == shape[:2]
    assert jpeg_size(path) == (height, width)
    assert read_image_size(path) == (height, width)


def test_non_jpeg_and_broken_files(tmp_path):
    png = str(tmp_path / 'a.png')
    Image.new('RGB', (7, 5)).save(png)
    assert jpeg_size(png) is None
    assert read_image_size(png) == (5, 7)  # PIL reads it
    jpeg = str(tmp_path / 'b.jpg')
    write_jpeg(jpeg, (40, 50, 3), 'RGB', dict(exif=b'Exif\0\0' + bytes(900)))
    data = open(jpeg, 'rb').read()
    truncated = str(tmp_path / 'c.jpg')
    with open(truncated, 'wb') as file:
        file.write(data[:300])  # inside the EXIF segment, before the SOF
    assert jpeg_size(truncated) is None
    with pytest.raises(DatasetLayoutError, match='c.jpg'):
        read_image_size(truncated)
    with pytest.raises(DatasetLayoutError, match='missing.jpg'):
        read_image_size(str(tmp_path / 'missing.jpg'))
