"""The lean MATLAB reader and the protocol reader against scipy.io.loadmat.

Files are written both by ``scipy.io.savemat`` and by the synthetic MAT
writer in MATLAB's encodings (chars as uint16, integer-valued doubles in
small integer types, small data elements, compression); the expected
values always come from ``scipy.io.loadmat``.
"""
import os.path as osp
import struct

import numpy as np
import pytest
import scipy.io

from mmsearch.datasets import DatasetLayoutError
from mmsearch.datasets.cuhk_protocol import (read_protocol, read_protocol_lean,
                                             read_protocol_scipy)
from mmsearch.datasets.mat5 import (MatFormatError, element_offsets,
                                    parse_matrix, read_numbers, read_strings,
                                    read_variable, region_offsets,
                                    struct_elements)
from mmsearch.datasets.raw_io import mat_box, mat_str
from mmsearch.datasets.synthetic.mat5_writer import Struct, Style, write_mat

STYLES = [
    Style(),  # MATLAB: uint16 chars, compact doubles, small elements
    Style('utf8', compact=False, small=False),
    Style('uint16', compact=True, small=False),
    Style('utf8', compact=False, small=True),
]
EMPTY = np.zeros((0, 0))
# imname, idlocate: empty names and boxes, 1-, 2- and long names (small
# elements), non-integer / large / int32 / column / 1-element boxes, and a
# box whose compact (uint16) bytes read 14, the miMATRIX tag value
LEAVES = [
    ('s1.jpg', np.array([1., 2, 3, 4])),
    ('a', EMPTY),
    ('ab', np.array([1.5, 2, 300, 4e5])),
    ('', np.array([7., 8, 9, 10])),
    ('s123456789012.jpg', np.array([14., 0, 300, 8])),
    ('x', np.array([[1.], [2], [3], [4]])),
    ('y', np.array([3.])),
    ('z', np.array([5, 6, 7, 8], dtype=np.int32)),
    ('s1.jpg', np.array([-3., 2, 70000, 1])),
]


def write_leaves(path, style, compress, leaves=LEAVES):
    rows = [(name, box, 0.0) for name, box in leaves]
    write_mat(
        path, {
            'before': np.arange(3.0),
            'V': Struct(('imname', 'idlocate', 'ishard'), rows),
            'after': 'text'
        },
        style,
        compress=compress)


def leaf_offsets(path, key='V'):
    """(buffer, imname offsets, idlocate offsets) of the struct ``key``."""
    buf, top = read_variable(path, key)
    fields, first = struct_elements(buf, top)
    offsets = element_offsets(buf, first, top.numel * len(fields))
    assert offsets[-1] == top.end
    table = offsets[:-1].reshape(top.numel, len(fields))
    return buf, table[:, fields.index('imname')], \
        table[:, fields.index('idlocate')]


@pytest.mark.parametrize('compress', [True, False])
@pytest.mark.parametrize('style', STYLES)
def test_leaves_equal_loadmat(tmp_path, style, compress):
    path = str(tmp_path / 'v.mat')
    write_leaves(path, style, compress)
    expected = scipy.io.loadmat(path)['V'].ravel()
    buf, names_at, boxes_at = leaf_offsets(path)
    names, index = read_strings(buf, names_at)
    assert names[index].tolist() == [mat_str(r['imname']) for r in expected]
    assert names.tolist() == sorted(set(names.tolist()))
    found, values = read_numbers(buf, boxes_at, 4)
    loaded = [mat_box(r['idlocate']) for r in expected]
    assert found.tolist() == [i for i, b in enumerate(loaded) if b.size == 4]
    np.testing.assert_array_equal(values, np.stack([loaded[i] for i in found]))
    assert values.dtype == np.float64


@pytest.mark.parametrize('compress', [True, False])
def test_savemat_files_equal_loadmat(tmp_path, compress):
    """Files written by scipy itself (UTF-8 chars, doubles, 0x0 '')."""
    rows = np.empty((1, 3), dtype=[('imname', object), ('idlocate', object)])
    rows[0, 0] = ('s1.jpg', np.array([[1., 2, 3, 4]]))
    rows[0, 1] = ('', EMPTY)
    rows[0, 2] = ('q', np.array([[9., 8, 7, 6]]))
    path = str(tmp_path / 's.mat')
    scipy.io.savemat(path, dict(V=rows, W=np.eye(2)), do_compression=compress)
    buf, names_at, boxes_at = leaf_offsets(path)
    names, index = read_strings(buf, names_at)
    assert names[index].tolist() == ['s1.jpg', '', 'q']
    found, values = read_numbers(buf, boxes_at, 4)
    assert found.tolist() == [0, 2]
    np.testing.assert_array_equal(values, [[1, 2, 3, 4], [9, 8, 7, 6]])


def test_region_offsets_walks_regions_with_decoy_words(tmp_path):
    """A data word reading 14 (x=14, y=0 stored as uint16) must not be
    taken for a matrix: the region falls back to the sequential walk."""
    path = str(tmp_path / 'v.mat')
    write_leaves(path, Style(), True)
    buf, top = read_variable(path, 'V')
    fields, first = struct_elements(buf, top)
    count = top.numel * len(fields)
    walked = element_offsets(buf, first, count)
    words = np.frombuffer(buf, dtype='<u4')
    assert (words[first // 4:top.end // 4:2] == 14).sum() > count  # decoy
    np.testing.assert_array_equal(
        region_offsets(buf, [first], [top.end], [count]), walked[:-1])
    # the first three leaves alone: no decoy, found from the words
    np.testing.assert_array_equal(
        region_offsets(buf, [first, walked[3]], [walked[3], walked[6]],
                       [3, 3]), walked[:6])


def protocol_rows(leaves):
    query = Struct(('imname', 'idlocate', 'ishard', 'idname'),
                   [('q.jpg', np.array([5., 6, 7, 8]), 0.0, 'p')])
    gallery = Struct(('imname', 'idlocate', 'ishard'),
                     [(n, b, 0.0) for n, b in leaves])
    return Struct(('Query', 'Gallery'), [(query, gallery)] * 2)


def assert_same_protocol(lean, scipy_read):
    for field in lean._fields:
        a, b = getattr(lean, field), getattr(scipy_read, field)
        assert a.dtype == b.dtype and a.shape == b.shape, field
        np.testing.assert_array_equal(a, b, err_msg=field)


@pytest.mark.parametrize('compress', [True, False])
@pytest.mark.parametrize('style', STYLES)
def test_protocol_lean_equals_scipy(tmp_path, style, compress):
    path = str(tmp_path / 'TestG9.mat')
    write_mat(path, dict(TestG9=protocol_rows(LEAVES)), style, compress)
    lean = read_protocol_lean(path, 'TestG9')
    assert_same_protocol(lean, read_protocol_scipy(path, 'TestG9'))
    # and the values by hand
    assert lean.query_names.tolist() == ['q.jpg', 'q.jpg']
    names = lean.gallery_names()
    assert names[1].tolist() == [n for n, _ in LEAVES]
    boxes = lean.gallery_boxes()
    np.testing.assert_array_equal(boxes[1, 2], [1.5, 2, 300, 4e5])
    np.testing.assert_array_equal(boxes[0, 5], [1, 2, 3, 4])
    assert np.isnan(boxes[:, [1, 6]]).all()  # empty and 1-element boxes


def test_layouts_the_lean_reader_leaves_to_scipy(tmp_path):
    """A cell-wrapped name, a non-ASCII UTF-8 name, a big-endian-less
    plain file: the lean reader refuses, read_protocol still equals
    scipy."""
    cell = np.empty((1, 1), dtype=object)
    cell[0, 0] = 'wrapped.jpg'
    for index, leaves in enumerate([
        [('s1.jpg', np.array([1., 2, 3, 4])), (cell, EMPTY)],
        [('caf\u00e9.jpg', np.array([1., 2, 3, 4]))],
    ]):
        path = str(tmp_path / f'TestG{index}.mat')
        write_mat(path, {'TestG1': protocol_rows(leaves)},
                  Style('utf8', False, False))
        with pytest.raises(MatFormatError):
            read_protocol_lean(path, 'TestG1')
        assert_same_protocol(
            read_protocol(path, 'TestG1'), read_protocol_scipy(path, 'TestG1'))
    assert read_protocol(path, 'TestG1').names.tolist() == ['caf\u00e9.jpg']


def test_bad_files_raise_clear_errors(tmp_path):
    path = str(tmp_path / 'TestG50.mat')
    with open(path, 'wb') as file:
        file.write(b'not a mat file' * 20)
    with pytest.raises(MatFormatError, match='little-endian'):
        read_variable(path, 'TestG50')
    with pytest.raises(DatasetLayoutError, match='TestG50.mat'):
        read_protocol(path, 'TestG50')
    write_mat(path, dict(Other=np.eye(2)))
    with pytest.raises(MatFormatError, match='no variable "TestG50"'):
        read_variable(path, 'TestG50')
    with pytest.raises(DatasetLayoutError, match='TestG50'):
        read_protocol(path, 'TestG50')
    # a truncated compressed variable
    write_mat(path, dict(TestG50=protocol_rows(LEAVES)))
    data = open(path, 'rb').read()
    with open(path, 'wb') as file:
        file.write(data[:len(data) - 40])
    with pytest.raises(MatFormatError):
        read_protocol_lean(path, 'TestG50')
    with pytest.raises(DatasetLayoutError):
        read_protocol(path, 'TestG50')
    # a protocol without a Gallery field
    write_mat(path, dict(TestG50=Struct(('Query', ), [(1.0, )])))
    with pytest.raises(DatasetLayoutError, match=r"lack field.*Gallery"):
        read_protocol_lean(path, 'TestG50')


def test_parse_matrix_reads_header(tmp_path):
    path = str(tmp_path / 'm.mat')
    write_mat(path, dict(M=np.zeros((2, 3, 4))), compress=False)
    buf, matrix = read_variable(path, 'M')
    assert (matrix.mx_class, matrix.dims, matrix.name) == (6, (2, 3, 4), 'M')
    assert matrix.numel == 24 and matrix.end == len(buf)
    assert struct.unpack_from('<I', buf, 0)[0] == 14
    assert parse_matrix(buf, 0) == matrix
    assert osp.getsize(path) == 128 + len(buf)


def damaged_copies(data, seed=0):
    """``data`` cut at many places and with single bytes changed."""
    rng = np.random.default_rng(seed)
    copies = [data[:cut] for cut in range(130, len(data), 37)]
    for _ in range(150):
        flipped = bytearray(data)
        flipped[int(rng.integers(0, len(data)))] = int(rng.integers(256))
        copies.append(bytes(flipped))
    return copies


@pytest.mark.parametrize('compress', [True, False])
def test_damaged_files_never_raise_raw_errors(tmp_path, compress):
    """The lean reader on cut or changed files: a result, or MatFormatError
    / DatasetLayoutError (never struct.error, IndexError, zlib.error...).
    scipy is not asked: it can crash the process on such files."""
    path = str(tmp_path / 'TestG9.mat')
    write_mat(path, dict(TestG9=protocol_rows(LEAVES)), Style(), compress)
    outcomes = set()
    for content in damaged_copies(open(path, 'rb').read()):
        with open(path, 'wb') as file:
            file.write(content)
        try:
            read_protocol_lean(path, 'TestG9')
            outcomes.add('read')
        except (MatFormatError, DatasetLayoutError):
            outcomes.add('error')
    assert outcomes == {'error', 'read'}
