"""Write MATLAB 5 files directly, fast and in MATLAB's own encodings.

``scipy.io.savemat`` needs every struct field as its own Python object and
always stores doubles as doubles and chars as UTF-8; MATLAB stores chars as
``miUINT16``, integer-valued doubles in the smallest integer type that holds
them, and compresses each variable. This writer can do either, so tests can
check a reader on both encodings, and it builds big files (a full-size
``TestG4000.mat``: 11.6 million gallery rows) from reusable encoded pieces:
:func:`matrix` returns the bytes of one matrix, :func:`struct_matrix` joins
already encoded field values into a struct array.

Values accepted by :func:`encode`: ``str`` (1 x L char), numeric arrays and
Python numbers (double unless the array has another dtype; 1-D becomes
1 x N), :class:`Struct`, object arrays (cells) and bytes already encoded.
"""
import struct
import zlib
from typing import Dict, List, NamedTuple, Sequence, Tuple, Union

import numpy as np

from .mat_file import HEADER_TEXT, HEADER_TEXT_BYTES

MI = dict(
    int8=1,
    uint8=2,
    int16=3,
    uint16=4,
    int32=5,
    uint32=6,
    single=7,
    double=9,
    int64=12,
    uint64=13,
    matrix=14,
    compressed=15,
    utf8=16)
CLASS = dict(
    cell=1,
    struct=2,
    char=4,
    double=6,
    single=7,
    int8=8,
    uint8=9,
    int16=10,
    uint16=11,
    int32=12,
    uint32=13,
    int64=14,
    uint64=15)
NUMPY_CLASS = {
    np.dtype(np.float64): ('double', 'double'),
    np.dtype(np.float32): ('single', 'single'),
    np.dtype(np.int8): ('int8', 'int8'),
    np.dtype(np.uint8): ('uint8', 'uint8'),
    np.dtype(np.int16): ('int16', 'int16'),
    np.dtype(np.uint16): ('uint16', 'uint16'),
    np.dtype(np.int32): ('int32', 'int32'),
    np.dtype(np.uint32): ('uint32', 'uint32'),
    np.dtype(np.int64): ('int64', 'int64'),
    np.dtype(np.uint64): ('uint64', 'uint64'),
}
LOGICAL = 0x0200


class Struct(NamedTuple):
    """A struct array: ``rows[i]`` = element i's field values (column-major
    order of ``shape``, default 1 x len(rows))."""
    fields: Sequence[str]
    rows: Sequence[Sequence[object]]
    shape: Tuple[int, ...] = None


class Style(NamedTuple):
    """Encoding choices.

    Attributes:
        chars (str): ``'uint16'`` (MATLAB) or ``'utf8'`` (scipy).
        compact (bool): Store integer-valued doubles in the smallest
            integer type that holds them (MATLAB does).
        small (bool): Use the 8-byte small element form for data of at most
            4 bytes (both MATLAB and scipy do).
    """
    chars: str = 'uint16'
    compact: bool = True
    small: bool = True


def element(mi_type: int, data: bytes, small: bool = True) -> bytes:
    """A data element ``[type, nbytes, data padded to 8]``."""
    if small and len(data) <= 4:
        return struct.pack('<HH', mi_type, len(data)) + data.ljust(4, b'\0')
    return struct.pack('<II', mi_type,
                       len(data)) + data + b'\0' * (-len(data) % 8)


def matrix_parts(mx_class: str,
                 dims: Sequence[int],
                 body: Sequence[bytes],
                 name: str = '',
                 flags: int = 0,
                 small: bool = True) -> List[bytes]:
    """One ``miMATRIX`` element as a list of byte strings (``body`` = the
    pieces after the name), so that big matrices are never joined."""
    head = (
        element(MI['uint32'], struct.pack('<II', CLASS[mx_class] | flags, 0),
                small) +
        element(MI['int32'], struct.pack(f'<{len(dims)}i', *dims), small) +
        element(MI['int8'], name.encode('latin-1'), small))
    size = len(head) + sum(len(part) for part in body)
    return [struct.pack('<II', MI['matrix'], size) + head] + list(body)


def matrix(mx_class: str,
           dims: Sequence[int],
           body: bytes,
           name: str = '',
           flags: int = 0,
           small: bool = True) -> bytes:
    """One ``miMATRIX`` element (``body`` = what follows the name)."""
    return b''.join(matrix_parts(mx_class, dims, [body], name, flags, small))


def char_matrix(text: str, style: Style = Style(), name: str = '') -> bytes:
    """A 1 x L char array (0 x 0 when empty, as MATLAB's '')."""
    dims = (1, len(text)) if text else (0, 0)
    if style.chars == 'utf8':
        data = element(MI['utf8'], text.encode('utf-8'), style.small)
    else:
        data = element(MI['uint16'], text.encode('utf-16-le'), style.small)
    return matrix('char', dims, data, name=name, small=style.small)


def numeric_matrix(value, style: Style = Style(), name: str = '') -> bytes:
    """A numeric matrix; 1-D arrays and scalars become rows."""
    array = np.asarray(value)
    if array.dtype == bool:
        array, flags = array.astype(np.uint8), LOGICAL
    else:
        flags = 0
    if array.dtype.kind in 'iu' and array.dtype not in NUMPY_CLASS:
        array = array.astype(np.int64)
    array = array.astype(np.float64) if array.dtype not in NUMPY_CLASS \
        else array
    if array.ndim < 2:
        array = array.reshape(1, -1)
    mx_class, stored = NUMPY_CLASS[array.dtype]
    flat = array.ravel(order='F')
    if style.compact and array.dtype == np.float64 and flat.size and \
            np.all(flat == np.round(flat)) and np.isfinite(flat).all():
        for candidate in ('uint8', 'int8', 'uint16', 'int16', 'uint32',
                          'int32'):
            info = np.iinfo(candidate)
            if info.min <= flat.min() and flat.max() <= info.max:
                stored, flat = candidate, flat.astype(candidate)
                break
    data = element(MI[stored],
                   flat.astype(f'<{flat.dtype.str[1:]}').tobytes(),
                   style.small)
    return matrix(
        mx_class, array.shape, data, name=name, flags=flags, small=style.small)


def struct_matrix(fields: Sequence[str],
                  values: List[bytes],
                  shape: Tuple[int, ...],
                  name: str = '',
                  small: bool = True,
                  join: bool = True) -> Union[bytes, List[bytes]]:
    """A struct array from encoded field values (element-major: element
    0's fields in order, then element 1's, ...); with ``join=False`` a list
    of byte strings (for :func:`write_mat`)."""
    length = max([len(f) for f in fields] + [0]) + 1
    names = b''.join(f.encode('latin-1').ljust(length, b'\0') for f in fields)
    prefix = element(MI['int32'], struct.pack('<i', length), small) + element(
        MI['int8'], names, small)
    parts = matrix_parts(
        'struct', shape, [prefix] + list(values), name, small=small)
    return b''.join(parts) if join else parts


def encode(value, style: Style = Style(), name: str = '') -> bytes:
    """Encode a value (see module docstring) as one matrix."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, Struct):
        shape = value.shape or (1, len(value.rows))
        values = [encode(v, style) for row in value.rows for v in row]
        return struct_matrix(value.fields, values, shape, name, style.small)
    if isinstance(value, str):
        return char_matrix(value, style, name)
    if isinstance(value, np.ndarray) and value.dtype == object:
        shape = value.shape if value.ndim >= 2 else (1, value.size)
        body = b''.join(encode(v, style) for v in value.ravel(order='F'))
        return matrix('cell', shape, body, name=name, small=style.small)
    return numeric_matrix(value, style, name)


def write_mat(path: str,
              variables: Dict[str, object],
              style: Style = Style(),
              compress: bool = True,
              level: int = 1) -> None:
    """Write a MAT 5 file (fixed header text, so bytes are reproducible).

    Args:
        path (str): The ``.mat`` file.
        variables (dict): Name -> value (see :func:`encode`), or the bytes
            of an already encoded matrix, or a list of byte strings that
            joined make one (both named when encoded).
        style (Style): Encoding of chars and numbers.
        compress (bool): Store each variable in an ``miCOMPRESSED``
            element, as MATLAB's default ``-v7`` does.
        level (int): zlib level.
    """
    header = HEADER_TEXT.ljust(HEADER_TEXT_BYTES) + b'\0' * 8 + struct.pack(
        '<H', 0x0100) + b'IM'
    with open(path, 'wb') as file:
        file.write(header)
        for name, value in variables.items():
            if isinstance(value, bytes):
                parts = [value]
            elif isinstance(value, list):
                parts = value
            else:
                parts = [encode(value, style, name)]
            if not compress:
                for part in parts:
                    file.write(part)
                continue
            packer = zlib.compressobj(level)
            packed = [packer.compress(part) for part in parts]
            packed.append(packer.flush())
            file.write(
                struct.pack('<II', MI['compressed'],
                            sum(len(p) for p in packed)))
            for part in packed:
                file.write(part)
