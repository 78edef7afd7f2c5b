"""Byte-reproducible MATLAB 5 files for the synthetic generator."""
import io

import scipy.io

# The first 116 bytes of a MAT 5 file are free text; scipy writes its
# creation time there, which would make two runs with one seed differ.
HEADER_TEXT_BYTES = 116
HEADER_TEXT = (b'MATLAB 5.0 MAT-file, written by the mmsearch '
               b'synthetic generator')


def save_mat(path: str, variables: dict) -> None:
    """``scipy.io.savemat`` with a fixed header text instead of the time.

    Args:
        path (str): The ``.mat`` file to write.
        variables (dict): Variable name -> array, as for ``savemat``.
    """
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, variables)
    data = bytearray(buffer.getvalue())
    data[:HEADER_TEXT_BYTES] = HEADER_TEXT.ljust(HEADER_TEXT_BYTES)
    with open(path, 'wb') as file:
        file.write(data)
