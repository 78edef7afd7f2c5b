"""The CUHK-SYSU search protocol files (``TestG{N}.mat``, subsets).

Each file holds one struct array: per query a ``Query`` struct (``imname``,
``idlocate`` = (x, y, w, h), ...) and a ``Gallery`` struct array of N rows
(``imname``, ``idlocate``, empty where the query person is absent).
:func:`read_protocol` returns what the protocol needs from it as a few flat
arrays (:class:`CUHKProtocol`), read with the lean MATLAB reader of
:mod:`mmsearch.datasets.mat5` (a ``TestG4000.mat`` lists 11.6 million
gallery rows; ``scipy.io.loadmat`` makes a numpy array of each of their
fields). Files the lean reader does not understand (another nesting,
big-endian, ...) are read with ``scipy.io.loadmat`` instead, with the same
result.
"""
import struct
from typing import Dict, NamedTuple, Tuple

import numpy as np

from .mat5 import (MatFormatError, element_offsets, parse_matrix, read_numbers,
                   read_strings, read_variable, region_offsets,
                   struct_elements)
from .raw_io import DatasetLayoutError, load_mat_key, mat_box, mat_str, records

PROTOCOL_LAYOUT = ('structs with fields Query (imname, idlocate, ishard, '
                   'idname) and Gallery (N rows of imname, idlocate, ishard)')
READERS = ('lean', 'scipy')


class IndexedNames(np.ndarray):
    """An object array of image names that also carries ``name_table`` =
    (distinct names (K,) object, int index of the array's shape), so that a
    consumer can look up K names instead of every element (the metric's
    ``cuhk_galleries`` does). Views and slices have ``name_table = None``.
    """
    name_table = None


class CUHKProtocol(NamedTuple):
    """What a protocol file gives, Q queries with galleries of N images.

    Attributes:
        query_names (np.ndarray): (Q,) unicode image names of the queries.
        query_boxes (np.ndarray): (Q, 4) float64 query boxes (x, y, w, h).
        names (np.ndarray): (K,) unicode distinct gallery image names.
        gallery_index (np.ndarray): (Q, N) int32, ``names[gallery_index]``
            are the gallery images of each query.
        present (np.ndarray): (M,) int64 flat indices into (Q, N) of the
            gallery rows that give the query person's box.
        present_boxes (np.ndarray): (M, 4) float64 those boxes (x, y, w, h).
    """
    query_names: np.ndarray
    query_boxes: np.ndarray
    names: np.ndarray
    gallery_index: np.ndarray
    present: np.ndarray
    present_boxes: np.ndarray

    def gallery_names(self) -> IndexedNames:
        """(Q, N) object array of gallery image names (``str``), with
        ``name_table`` = (``names`` as objects, ``gallery_index``)."""
        names = self.names.astype(object)
        array = names[self.gallery_index].view(IndexedNames)
        array.name_table = (names, self.gallery_index)
        return array

    def gallery_boxes(self) -> np.ndarray:
        """(Q, N, 4) float64 gallery boxes (x, y, w, h), NaN rows where the
        query person is absent."""
        boxes = np.full(self.gallery_index.shape + (4, ), np.nan)
        boxes.reshape(-1, 4)[self.present] = self.present_boxes
        return boxes

    def to_arrays(self) -> Dict[str, np.ndarray]:
        """The fields as a dict of arrays (for ``np.savez``)."""
        return self._asdict()

    @classmethod
    def from_arrays(cls, arrays: Dict[str, np.ndarray]) -> 'CUHKProtocol':
        """Inverse of :meth:`to_arrays`; checks shapes and dtypes.

        Raises:
            ValueError: If an array is missing or malformed.
        """
        protocol = cls(
            **{name: np.asarray(arrays[name])
               for name in cls._fields})
        num_queries, num_gallery = protocol.gallery_index.shape
        checks = (
            protocol.query_names.shape == (num_queries, ),
            protocol.query_boxes.shape == (num_queries, 4),
            protocol.names.ndim == 1,
            protocol.present_boxes.shape == (len(protocol.present), 4),
            protocol.query_names.dtype.kind == protocol.names.dtype.kind ==
            'U',
            protocol.gallery_index.dtype == np.int32,
            protocol.present.dtype == np.int64,
            protocol.query_boxes.dtype == protocol.present_boxes.dtype ==
            np.float64,
        )
        if not all(checks):
            raise ValueError('malformed CUHK-SYSU protocol arrays.')
        index, present = protocol.gallery_index, protocol.present
        if index.size and (index.min() < 0 or index.max() >= len(
                protocol.names)) or present.size and (
                    present.min() < 0 or present.max() >= index.size):
            raise ValueError('CUHK-SYSU protocol indices out of range.')
        return protocol


def read_protocol(path: str, key: str, reader: str = 'lean') -> CUHKProtocol:
    """Read a CUHK-SYSU protocol file.

    Args:
        path (str): ``TestG{N}.mat``, ``Occlusion.mat`` or ``Resolution.mat``.
        key (str): Its variable (``TestG{N}``, ``Occlusion1``,
            ``Test_Size``).
        reader (str): ``'lean'`` (:mod:`mmsearch.datasets.mat5`, falling
            back to scipy for layouts it does not know) or ``'scipy'``
            (``scipy.io.loadmat``). Both give the same result.

    Returns:
        CUHKProtocol: The queries and their galleries.

    Raises:
        DatasetLayoutError: If the file is missing or not a protocol file.
    """
    if reader not in READERS:
        raise ValueError(f'read_protocol: reader must be one of {READERS}, '
                         f'got {reader!r}.')
    if reader == 'lean':
        try:
            return read_protocol_lean(path, key)
        except (MatFormatError, OSError, struct.error, IndexError):
            pass  # scipy reads it or raises a clear error
    return read_protocol_scipy(path, key)


def read_protocol_scipy(path: str, key: str) -> CUHKProtocol:
    """:func:`read_protocol` with ``scipy.io.loadmat``."""
    layout = f'key "{key}": {PROTOCOL_LAYOUT}'
    items = records(
        load_mat_key(path, key, layout), ('Query', 'Gallery'), path, layout)
    query_names, query_boxes, gallery_names, gallery_boxes = [], [], [], []
    for item in items:
        query = records(item['Query'], ('imname', 'idlocate'), path, layout)[0]
        query_names.append(mat_str(query['imname']))
        query_boxes.append(mat_box(query['idlocate']))
        gallery = records(item['Gallery'], ('imname', 'idlocate'), path,
                          layout)
        gallery_names.append([mat_str(g['imname']) for g in gallery])
        gallery_boxes.append([
            box if box.size == 4 else np.full(4, np.nan)
            for box in (mat_box(g['idlocate']) for g in gallery)
        ])
    _check_lengths(path, [len(names) for names in gallery_names])
    num_gallery = len(gallery_names[0]) if gallery_names else 0
    flat_names = [name for names in gallery_names for name in names]
    names, index = np.unique(
        np.array(flat_names, dtype=str), return_inverse=True)
    boxes = np.array(gallery_boxes, dtype=np.float64).reshape(-1, 4)
    present = np.flatnonzero(~np.isnan(boxes).any(axis=1))
    return _protocol(path, query_names, query_boxes, names,
                     index.reshape(len(items), num_gallery), present,
                     boxes[present])


def read_protocol_lean(path: str, key: str) -> CUHKProtocol:
    """:func:`read_protocol` with the lean reader.

    Raises:
        MatFormatError: If the file's encoding is one the lean reader does
            not handle (the caller may use :func:`read_protocol_scipy`).
        DatasetLayoutError: If the file is readable but is not a protocol.
    """
    layout = f'key "{key}": {PROTOCOL_LAYOUT}'
    buf, top = read_variable(path, key)
    item_fields, first = _fields(buf, top, ('Query', 'Gallery'), path, layout)
    num_items, num_fields = top.numel, len(item_fields)
    items = element_offsets(buf, first, num_items * num_fields)
    if items[-1] != top.end:
        raise MatFormatError(f'"{path}": {key} does not end where its '
                             'header says.')
    items = items[:-1].reshape(num_items, num_fields)
    query_leaves = _leaves(buf, items[:, item_fields.index('Query')], path,
                           layout)
    if (query_leaves[1] < 1).any():
        row = int(np.flatnonzero(query_leaves[1] < 1)[0])
        raise DatasetLayoutError(f'"{path}": query {row} is an empty '
                                 f'struct; expected {layout}.')
    gallery_leaves = _leaves(buf, items[:, item_fields.index('Gallery')], path,
                             layout)
    lengths = gallery_leaves[1]
    _check_lengths(path, lengths.tolist())
    num_gallery = int(lengths[0]) if num_items else 0
    first_query = np.r_[0, np.cumsum(query_leaves[1])[:-1]]
    query_names, query_index = read_strings(buf, query_leaves[0][first_query,
                                                                 0])
    found, query_boxes = read_numbers(buf, query_leaves[0][first_query, 1], 4)
    if len(found) < num_items:
        row = int(np.setdiff1d(np.arange(num_items), found)[0])
        raise DatasetLayoutError(
            f'"{path}": query {row} has no (x, y, w, h) idlocate; expected '
            f'{layout}.')
    names, index = read_strings(buf, gallery_leaves[0][:, 0])
    present, boxes = read_numbers(buf, gallery_leaves[0][:, 1], 4)
    return _protocol(path, query_names[query_index], query_boxes, names,
                     index.reshape(num_items, num_gallery), present, boxes)


def _fields(buf, matrix, required, path, layout):
    """Field names and first value offset of a struct, checking
    ``required``."""
    fields, first = struct_elements(buf, matrix)
    missing = [field for field in required if field not in fields]
    if missing:
        raise DatasetLayoutError(
            f'"{path}": records lack field(s) {missing} (found {fields}); '
            f'expected {layout}.')
    return fields, first


def _leaves(buf, offsets, path, layout) -> Tuple[np.ndarray, np.ndarray]:
    """The imname and idlocate offsets of every element of the struct
    arrays at ``offsets`` (all with the same fields).

    Returns:
        tuple[np.ndarray, np.ndarray]: (sum(numel), 2) int64 offsets, struct
        after struct, and (len(offsets),) int64 numel of each struct.
    """
    starts, ends, counts, fields = [], [], [], None
    for offset in offsets.tolist():
        matrix = parse_matrix(buf, offset)
        these, first = _fields(buf, matrix, ('imname', 'idlocate'), path,
                               layout)
        if fields is None:
            fields = these
        elif these != fields:
            raise MatFormatError('structs with different fields.')
        starts.append(first)
        ends.append(matrix.end)
        counts.append(matrix.numel)
    counts = np.array(counts, dtype=np.int64)
    if fields is None:
        return np.zeros((0, 2), dtype=np.int64), counts
    leaves = region_offsets(buf, starts, ends, counts * len(fields))
    leaves = leaves.reshape(-1, len(fields))
    return leaves[:, [fields.index('imname'),
                      fields.index('idlocate')]], counts


def _check_lengths(path, lengths):
    if len(set(lengths)) > 1:
        raise DatasetLayoutError(
            f'"{path}": galleries of different lengths; expected every '
            f'query to list the same number of gallery images.')


def _protocol(path, query_names, query_boxes, names, index, present,
              present_boxes) -> CUHKProtocol:
    return CUHKProtocol(
        query_names=np.asarray(query_names, dtype=str).reshape(-1),
        query_boxes=np.asarray(query_boxes, dtype=np.float64).reshape(-1, 4),
        names=np.asarray(names, dtype=str).reshape(-1),
        gallery_index=np.asarray(index, dtype=np.int32),
        present=np.asarray(present, dtype=np.int64),
        present_boxes=np.asarray(present_boxes,
                                 dtype=np.float64).reshape(-1, 4))
