"""A lean reader for MATLAB 5 (``-v6`` / ``-v7``) files.

``scipy.io.loadmat`` turns every struct field and cell of a file into its own
numpy array; the CUHK-SYSU protocol files hold millions of them (a
``TestG4000.mat`` gallery lists 2,900 x 4,000 images), so most of its time is
spent making small Python objects. This module reads the same bytes without
building them:

- :func:`read_variable` finds one top-level variable and returns its
  uncompressed bytes (only the variable's own ``miCOMPRESSED`` block is
  inflated; other variables are skipped by their tags),
- :func:`parse_matrix` and :func:`struct_elements` walk the ``miMATRIX``
  headers of a struct array and return where each field value starts,
- :func:`read_strings` and :func:`read_numbers` decode many char / numeric
  leaf matrices at once with numpy, given their offsets.

Layout (MATLAB "MAT-File Format", level 5): a 128-byte header (text, version
``0x0100``, endianness ``IM``), then data elements ``[type uint32, nbytes
uint32, data padded to 8 bytes]`` or, when ``nbytes <= 4``, the small form
``[type | nbytes << 16 uint32, 4 data bytes]``. A matrix (``miMATRIX``) holds
array flags (class, logical / complex bits), dimensions, a name, then per
class: numeric data (stored in any numeric type, converted to the class),
chars (``miUINT16`` / ``miUTF8`` / ...), cells (one matrix per element,
column-major) or structs (field-name length, field names, then one matrix
per element and field). Only little-endian files are read; anything else
raises :class:`MatFormatError`, so a caller can fall back to ``scipy``.
"""
import struct
import zlib
from typing import List, NamedTuple, Tuple

import numpy as np

MI_INT8, MI_INT32, MI_UINT32 = 1, 5, 6
MI_MATRIX, MI_COMPRESSED = 14, 15
# data type -> numpy dtype of the stored values
MI_DTYPES = {
    1: '<i1',
    2: '<u1',
    3: '<i2',
    4: '<u2',
    5: '<i4',
    6: '<u4',
    7: '<f4',
    9: '<f8',
    12: '<i8',
    13: '<u8',
    16: '<u1',  # miUTF8
    17: '<u2',  # miUTF16
    18: '<u4',  # miUTF32
}
MX_CELL, MX_STRUCT, MX_CHAR = 1, 2, 4
# numeric class -> numpy dtype of the values MATLAB shows
MX_DTYPES = {
    6: np.float64,
    7: np.float32,
    8: np.int8,
    9: np.uint8,
    10: np.int16,
    11: np.uint16,
    12: np.int32,
    13: np.uint32,
    14: np.int64,
    15: np.uint64,
}
FLAG_COMPLEX, FLAG_LOGICAL = 0x0800, 0x0200

_U32 = struct.Struct('<I')
_TAG = struct.Struct('<II')


class MatFormatError(ValueError):
    """The bytes are not a MATLAB 5 file this reader understands."""


class Matrix(NamedTuple):
    """Header of one ``miMATRIX`` element.

    Attributes:
        mx_class (int): Array class (1 cell, 2 struct, 4 char, 6 double...).
        flags (int): The flags word (``FLAG_COMPLEX``, ``FLAG_LOGICAL``).
        dims (tuple[int, ...]): MATLAB dimensions.
        name (str): Variable name ('' inside structs and cells).
        body (int): Offset of what follows the name (the data).
        end (int): Offset just after the element.
    """
    mx_class: int
    flags: int
    dims: Tuple[int, ...]
    name: str
    body: int
    end: int

    @property
    def numel(self) -> int:
        """Number of elements (product of ``dims``)."""
        return int(np.prod(self.dims)) if self.dims else 0


def _element(buf: bytes, pos: int, what: str) -> Tuple[int, int, int, int]:
    """``(type, nbytes, data offset, next offset)`` of the element at
    ``pos``, in the normal or the small form."""
    if pos + 8 > len(buf):
        raise MatFormatError(f'{what}: element at byte {pos} runs past the '
                             f'end ({len(buf)} bytes).')
    word, nbytes = _TAG.unpack_from(buf, pos)
    if word >> 16:  # small data element: up to 4 data bytes in the tag
        if word >> 16 > 4:
            raise MatFormatError(f'{what}: small element at byte {pos} '
                                 f'claims {word >> 16} bytes.')
        return word & 0xFFFF, word >> 16, pos + 4, pos + 8
    end = pos + 8 + nbytes + (-nbytes % 8)
    if end > len(buf):
        raise MatFormatError(f'{what}: element at byte {pos} claims '
                             f'{nbytes} bytes, past the end.')
    return word, nbytes, pos + 8, end


def parse_matrix(buf: bytes, pos: int, whole: bool = True) -> Matrix:
    """Header of the ``miMATRIX`` element at ``pos`` (see :class:`Matrix`).

    An element of 0 bytes (MATLAB writes unset struct fields so) is a 0 x 0
    double. With ``whole=False``, ``buf`` may hold only the element's first
    bytes.
    """
    if pos < 0 or pos + 8 > len(buf):
        raise MatFormatError(f'no matrix at byte {pos} of {len(buf)}.')
    mi_type, nbytes = _TAG.unpack_from(buf, pos)
    if mi_type != MI_MATRIX:
        raise MatFormatError(f'expected a matrix (type 14) at byte {pos}, '
                             f'found type {mi_type}.')
    end = pos + 8 + nbytes
    if whole and end > len(buf):
        raise MatFormatError(f'matrix at byte {pos} runs past the end.')
    if nbytes == 0:
        return Matrix(6, 6, (0, 0), '', end, end)
    _, _, at, after = _element(buf, pos + 8, 'array flags')
    flags = _U32.unpack_from(buf, at)[0]
    mi_type, size, at, after = _element(buf, after, 'dimensions')
    if mi_type != MI_INT32:
        raise MatFormatError(f'dimensions at byte {pos} are of type '
                             f'{mi_type}, expected miINT32.')
    dims = struct.unpack_from(f'<{size // 4}i', buf, at)
    if min(dims, default=0) < 0:
        raise MatFormatError(f'negative dimensions {dims} at byte {pos}.')
    mi_type, size, at, after = _element(buf, after, 'name')
    name = bytes(buf[at:at + size]).decode('latin-1')
    return Matrix(flags & 0xFF, flags, tuple(dims), name, after, end)


def struct_elements(buf: bytes, matrix: Matrix) -> Tuple[List[str], int]:
    """Field names of a struct matrix and the offset of its first value.

    The values follow as ``numel * len(fields)`` matrices: element 0's
    fields in order, then element 1's, ... (column-major element order).
    """
    if matrix.mx_class != MX_STRUCT:
        raise MatFormatError(f'expected a struct, found class '
                             f'{matrix.mx_class}.')
    _, _, at, after = _element(buf, matrix.body, 'field name length')
    length = _U32.unpack_from(buf, at)[0]
    _, size, at, after = _element(buf, after, 'field names')
    raw = bytes(buf[at:at + size])
    fields = [
        raw[i:i + length].split(b'\0', 1)[0].decode('latin-1')
        for i in range(0, size, length)
    ] if length else []
    return fields, after


def element_offsets(buf: bytes, pos: int, count: int) -> np.ndarray:
    """Offsets of ``count`` consecutive matrices starting at ``pos``.

    Returns:
        np.ndarray: int64 (count + 1,) offsets, the last one just after the
        final matrix.
    """
    if count < 0 or pos + 8 * count > len(buf):  # a matrix has >= 8 bytes
        raise MatFormatError(f'{count} matrices cannot fit after byte '
                             f'{pos} ({len(buf)} bytes).')
    unpack = _U32.unpack_from
    offsets = [pos] * (count + 1)
    try:
        for i in range(1, count + 1):
            pos += 8 + unpack(buf, pos + 4)[0]
            offsets[i] = pos
    except struct.error:
        pos = len(buf) + 1
    if pos > len(buf):
        raise MatFormatError(f'{count} matrices from byte {offsets[0]} run '
                             f'past the end ({len(buf)} bytes).')
    return np.array(offsets, dtype=np.int64)


def read_variable(path: str, name: str) -> Tuple[memoryview, Matrix]:
    """Bytes and header of the top-level variable ``name`` of a MAT 5 file.

    Args:
        path (str): The ``.mat`` file.
        name (str): The variable.

    Returns:
        tuple[memoryview, Matrix]: A buffer holding the variable's
        ``miMATRIX`` element at offset 0 (inflated if it was compressed;
        offsets inside are then multiples of 8) and its header.

    Raises:
        MatFormatError: Not a little-endian MAT 5 file, or no such variable.
        OSError: The file cannot be read.
    """
    with open(path, 'rb') as file:
        data = memoryview(file.read())
    if len(data) < 128 or data[124:128] != b'\x00\x01IM':
        raise MatFormatError(f'"{path}" is not a little-endian MATLAB 5 '
                             f'file (no version 0x0100 and "IM" marker at '
                             f'byte 124).')
    pos = 128
    while pos + 8 <= len(data):
        mi_type, nbytes = _TAG.unpack_from(data, pos)
        start, pos = pos + 8, pos + 8 + nbytes
        if mi_type == MI_COMPRESSED:
            try:
                head = zlib.decompressobj().decompress(data[start:pos], 4096)
                if len(head) < 8 or _variable_name(head) != name:
                    continue
                buf = memoryview(zlib.decompress(data[start:pos]))
            except zlib.error as error:
                raise MatFormatError(f'"{path}": a compressed variable does '
                                     f'not inflate ({error}).') from error
        elif mi_type == MI_MATRIX:
            pos += -nbytes % 8
            if _variable_name(bytes(data[start - 8:start + 512])) != name:
                continue
            buf = data[start - 8:pos]
        else:
            pos += -nbytes % 8
            continue
        if len(buf) < 8 or len(buf) % 8:
            raise MatFormatError(f'"{path}": variable "{name}" is '
                                 f'truncated.')
        return buf, parse_matrix(buf, 0)
    raise MatFormatError(f'"{path}" has no variable "{name}".')


def region_offsets(buf: memoryview, starts: np.ndarray, ends: np.ndarray,
                   counts: np.ndarray) -> np.ndarray:
    """Offsets of the matrices that fill byte regions, many regions at once.

    Region ``r`` = ``[starts[r], ends[r])`` holds ``counts[r]`` consecutive
    matrices (e.g. the field values of a struct array). Every matrix starts
    at a multiple of 8 with the word 14 (``miMATRIX``), so the words equal
    to 14 at those positions are candidates; a region is taken from them
    only if its candidates form the chain ``start, start + 8 + nbytes, ...``
    ending exactly at ``end`` with ``counts[r]`` links, which proves they
    are its matrices. Regions where a data word also reads 14 are walked
    one matrix at a time (:func:`element_offsets`).

    Args:
        buf (memoryview): The variable's buffer.
        starts, ends, counts (np.ndarray): (R,) int64 region bounds and
            number of matrices; ``starts`` multiples of 8.

    Returns:
        np.ndarray: int64 (sum(counts),) offsets, region after region.
    """
    starts, ends, counts = (
        np.asarray(a, dtype=np.int64) for a in (starts, ends, counts))
    total = int(counts.sum())
    if len(starts) == 0:
        return np.zeros(0, dtype=np.int64)
    if (starts % 8).any() or ends.max() > len(buf) or (ends < starts).any() \
            or (counts < 0).any() or (8 * counts > ends - starts).any():
        raise MatFormatError('matrix regions outside the buffer or too '
                             'small for their matrices.')
    words = np.frombuffer(buf, dtype='<u4', count=len(buf) // 4)
    low, high = int(starts.min()), int(ends.max())
    cand = np.flatnonzero(words[low // 4:high // 4:2] == MI_MATRIX)
    cand = cand * 8 + low
    nxt = cand + 8 + words[(cand >> 2) + 1]
    first = np.searchsorted(cand, starts)
    last = np.searchsorted(cand, ends) - 1
    broken = np.r_[0, np.cumsum(nxt[:-1] != cand[1:])]
    has = counts > 0
    safe_first = np.minimum(first, max(len(cand) - 1, 0))
    safe_last = np.clip(last, 0, max(len(cand) - 1, 0))
    ok = np.where(has, (last - first + 1 == counts) & (len(cand) > 0),
                  starts == ends)
    if len(cand):
        ok &= ~has | ((cand[safe_first] == starts) & (nxt[safe_last] == ends) &
                      (broken[safe_last] == broken[safe_first]))
    offsets = np.empty(total, dtype=np.int64)
    out = np.r_[0, np.cumsum(counts)]
    take = np.flatnonzero(ok & has)
    if len(take):
        sizes = counts[take]
        dst = _ranges(out[take], sizes)
        offsets[dst] = cand[dst + np.repeat(first[take] - out[take], sizes)]
    for r in np.flatnonzero(~ok).tolist():
        walked = element_offsets(buf, int(starts[r]), int(counts[r]))
        if walked[-1] != ends[r]:
            raise MatFormatError(f'matrices from byte {starts[r]} do not end '
                                 f'at byte {ends[r]}.')
        offsets[out[r]:out[r + 1]] = walked[:-1]
    return offsets


def _ranges(begins: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(b, b + s)`` for each (b, s)."""
    shift = np.repeat(begins - np.r_[0, np.cumsum(sizes)[:-1]], sizes)
    return np.arange(int(sizes.sum())) + shift


def _variable_name(head: bytes) -> str:
    """Name of the matrix whose first bytes are ``head`` ('' if unsure)."""
    try:
        return parse_matrix(head, 0, whole=False).name
    except (MatFormatError, struct.error):
        return ''


def leaf_headers(buf: memoryview, offsets: np.ndarray) -> dict:
    """Headers of many 2-D, unnamed leaf matrices, decoded at once.

    Args:
        buf (memoryview): The variable's buffer.
        offsets (np.ndarray): (M,) offsets of the matrices (multiples of 8).

    Returns:
        dict: int64 (M,) arrays ``mx_class``, ``flags``, ``rows`` (first
        dimension), ``numel``, ``mi_type``, ``nbytes`` and ``data`` (offset
        of the first value). A 0-byte matrix reads as a 0 x 0 double.

    Raises:
        MatFormatError: If a matrix is not 2-D, has a name or its data runs
            past its element.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) and (offsets.min() < 0 or offsets.max() + 64 > len(buf) or
                         (offsets % 8).any()):
        raise MatFormatError('leaf matrices outside the buffer.')
    # uint32 words 0..15 of each matrix: tag, flags tag, flags, dims tag,
    # dims, name tag, data tag (normal or small form); gathered as 8 uint64
    longs = np.frombuffer(buf, dtype='<u8', count=len(buf) // 8)
    head = longs[(offsets >> 3)[:, None] + np.arange(8)].view('<u4')
    head = _Columns(head)
    empty = head[:, 1] == 0
    ok = (head[:, 0] == MI_MATRIX) & (head[:, 6] == MI_INT32) & (
        head[:, 7] == 8) & (head[:, 10] == MI_INT8) & (
            head[:, 11] == 0)
    if not (ok | empty).all():
        raise MatFormatError('leaf matrices are not all unnamed 2-D arrays.')
    small = (head[:, 12] >> 16) > 0
    mi_type = np.where(small, head[:, 12] & 0xFFFF, head[:, 12])
    nbytes = np.where(small, head[:, 12] >> 16, head[:, 13])
    data = offsets + np.where(small, 52, 56)
    ends = offsets + 8 + head[:, 1]
    if (ends > len(buf)).any() or (~empty & (data + nbytes > ends)).any():
        raise MatFormatError('leaf matrix data runs past its element.')
    return dict(
        mx_class=np.where(empty, 6, head[:, 4] & 0xFF),
        flags=np.where(empty, 6, head[:, 4]),
        rows=np.where(empty, 0, head[:, 8]),
        numel=np.where(empty, 0, head[:, 8] * head[:, 9]),
        mi_type=np.where(empty, 9, mi_type),
        nbytes=np.where(empty, 0, nbytes),
        data=data)


class _Columns:
    """Column access to a (M, 16) uint32 array, as int64 on demand."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = words

    def __getitem__(self, index: tuple) -> np.ndarray:
        return self.words[index].astype(np.int64)


def _chunks(num: int, size: int = 1 << 19):
    return [slice(lo, min(lo + size, num)) for lo in range(0, num, size)]


def _char_codes(buf: memoryview,
                offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """(M, L) uint32 character codes (0-padded) and (M,) lengths of char
    row vectors of ASCII characters (others raise :class:`MatFormatError`,
    so that a caller falls back to scipy, which decodes them its own
    way)."""
    head = leaf_headers(buf, offsets)
    if not (head['mx_class'] == MX_CHAR).all() or ((head['numel'] > 0) &
                                                   (head['rows'] != 1)).any():
        raise MatFormatError('expected char row vectors.')
    mi_type, lengths = head['mi_type'], head['numel']
    width = np.select([
        np.isin(mi_type, (1, 2, 16)),
        np.isin(mi_type, (3, 4, 17)),
        np.isin(mi_type, (5, 6, 18))
    ], [1, 2, 4], 0)
    if (width == 0).any() or (head['nbytes'] != width * lengths).any():
        raise MatFormatError('char data of an unexpected type (multi-byte '
                             'UTF-8?) or length.')
    max_len = int(lengths.max()) if len(lengths) else 0
    codes = np.zeros((len(offsets), max(max_len, 1)), dtype=np.uint32)
    cols = np.arange(max_len)
    for size in np.unique(width).tolist():
        view = np.frombuffer(buf, dtype=f'<u{size}', count=len(buf) // size)
        rows = np.flatnonzero(width == size)
        valid = cols < lengths[rows, None]
        index = np.minimum(head['data'][rows, None] // size + cols,
                           len(view) - 1)
        codes[rows, :max_len] = np.where(valid, view[index], 0)
    if codes.size and codes.max() > 127:
        # scipy decodes non-ASCII chars its own way; leave them to it
        raise MatFormatError('non-ASCII characters.')
    return codes, lengths


def _hash_rows(codes: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """A 64-bit FNV-style hash of each (code row, length)."""
    key = lengths.astype(np.uint64) ^ np.uint64(0xCBF29CE484222325)
    for col in range(codes.shape[1]):
        key = (key
               ^ codes[:, col].astype(np.uint64)) * np.uint64(0x100000001B3)
    return key


def read_strings(buf: memoryview,
                 offsets: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Decode many 1 x L char matrices into their distinct strings.

    Strings are told apart by a 64-bit hash of their characters, then every
    string is compared with the first one of its hash, so the result is
    exact (a collision raises :class:`MatFormatError`).

    Args:
        buf (memoryview): The variable's buffer.
        offsets (np.ndarray): (M,) offsets of char row vectors (or empty
            char arrays).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``names`` (K,) unicode array of the
        distinct strings, sorted (as ``np.unique``), and ``index`` int64
        (M,) with ``names[index[i]]`` = string ``i``.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    if len(offsets) == 0:
        return np.array([], dtype='<U1'), np.zeros(0, dtype=np.int64)
    hashes = np.empty(len(offsets), dtype=np.uint64)
    parts = []
    for part in _chunks(len(offsets)):
        codes, lengths = _char_codes(buf, offsets[part])
        hashes[part] = _hash_rows(codes, lengths)
        parts.append((part, codes.astype(np.uint8), lengths))  # ASCII
    _, first, inverse = np.unique(
        hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    ref_codes, ref_lengths = _char_codes(buf, offsets[first])
    for part, codes, lengths in parts:  # exact, whatever the hash did
        ref = inverse[part]
        if not (np.array_equal(lengths, ref_lengths[ref])
                and np.array_equal(codes, ref_codes[ref, :codes.shape[1]])):
            raise MatFormatError('two strings share a hash.')
    strings = ref_codes.view(f'<U{ref_codes.shape[1]}').reshape(-1)
    order = np.argsort(strings, kind='stable')  # sorted, as np.unique
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return strings[order], rank[inverse]


def read_numbers(buf: memoryview, offsets: np.ndarray,
                 size: int) -> Tuple[np.ndarray, np.ndarray]:
    """Decode the real numeric matrices of ``size`` elements among many.

    Args:
        buf (memoryview): The variable's buffer.
        offsets (np.ndarray): (M,) offsets of numeric matrices.
        size (int): Number of elements wanted (matrices with another number
            are skipped, e.g. empty ones).

    Returns:
        tuple[np.ndarray, np.ndarray]: ``found`` int64 (P,) positions in
        ``offsets`` of the matrices with ``size`` elements (vectors), and
        their ``values`` float64 (P, size).

    Raises:
        MatFormatError: If a matrix is not a real numeric array.
    """
    offsets = np.asarray(offsets, dtype=np.int64)
    found, values = [np.zeros(0, dtype=np.int64)], [np.zeros((0, size))]
    raw = np.frombuffer(buf, dtype=np.uint8)
    for part in _chunks(len(offsets)):
        head = leaf_headers(buf, offsets[part])
        numeric = np.isin(head['mx_class'], list(MX_DTYPES))
        if not numeric.all() or (head['flags'] & FLAG_COMPLEX).any():
            raise MatFormatError('expected real numeric arrays.')
        has_size = head['numel'] == size
        if (has_size & (head['rows'] != 1) & (head['rows'] != size)).any():
            raise MatFormatError(f'expected vectors of {size} numbers.')
        for mi_type in np.unique(head['mi_type'][has_size]).tolist():
            if mi_type not in MI_DTYPES or mi_type in (16, 17, 18):
                raise MatFormatError(f'numeric data of type {mi_type}.')
            dtype = np.dtype(MI_DTYPES[mi_type])
            rows = np.flatnonzero(has_size & (head['mi_type'] == mi_type))
            if (head['nbytes'][rows] != size * dtype.itemsize).any():
                raise MatFormatError('numeric data of an unexpected length.')
            index = head['data'][rows, None] + np.arange(size * dtype.itemsize)
            found.append(rows + part.start)
            values.append(raw[index].view(dtype).reshape(
                len(rows), size).astype(np.float64))
    found = np.concatenate(found)
    order = np.argsort(found, kind='stable')
    return found[order], np.concatenate(values)[order]
