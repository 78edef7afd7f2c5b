"""An on-disk cache of numpy arrays derived from source files.

Parsing the raw annotation files of a big dataset can take seconds; what
they give is a few arrays. :class:`ArrayCache` keeps such arrays in
``.npz`` files, one per (kind, source files), and returns them only while
every source file is unchanged: the entry stores each source's absolute
path, size, modification time (ns) and a SHA-1 of its first and last 64 KiB,
and a mismatch means "re-read the sources" (and the entry is rewritten).
A file rewritten with the same size, time and first / last bytes is not
noticed; ``touch`` it or delete the cache folder.

Entries are written to a temporary file in the cache folder and renamed into
place, so a killed process never leaves a half-written entry under the
final name; an entry that cannot be read (truncated, corrupt, other
version, wrong arrays) is ignored and rewritten, never trusted. A cache
folder that cannot be created or written is skipped with one warning: the
arrays are then computed every time.

Where entries go (``cache_dir`` of :class:`ArrayCache` and of the datasets):

- ``'auto'`` (default): ``$MMSEARCH_CACHE_DIR`` if set, else
  ``$XDG_CACHE_HOME/mmsearch`` (``~/.cache/mmsearch``); the data folder is
  never written to, so it may be read-only;
- a path: that folder (created if needed);
- ``None``: no on-disk cache.
"""
import hashlib
import json
import os
import os.path as osp
import warnings
from typing import Callable, Dict, Optional, Sequence

import numpy as np

from mmsearch.fileio import atomic_write

CACHE_VERSION = 1
_EDGE_BYTES = 64 * 1024
_STAMP_KEY = '__stamp__'


def default_cache_dir() -> str:
    """``$MMSEARCH_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmsearch``, else
    ``~/.cache/mmsearch``."""
    if os.environ.get('MMSEARCH_CACHE_DIR'):
        return os.environ['MMSEARCH_CACHE_DIR']
    base = os.environ.get('XDG_CACHE_HOME') or osp.join(
        osp.expanduser('~'), '.cache')
    return osp.join(base, 'mmsearch')


def source_stamp(paths: Sequence[str]) -> str:
    """What identifies the current content of ``paths`` (JSON text).

    Per file: absolute path, size, mtime in ns and the SHA-1 of its first
    and last 64 KiB.
    """
    stamps = []
    for path in paths:
        path = osp.abspath(path)
        stat = os.stat(path)
        digest = hashlib.sha1()
        with open(path, 'rb') as file:
            digest.update(file.read(_EDGE_BYTES))
            if stat.st_size > _EDGE_BYTES:
                file.seek(max(stat.st_size - _EDGE_BYTES, _EDGE_BYTES))
                digest.update(file.read())
        stamps.append(
            [path, stat.st_size, stat.st_mtime_ns,
             digest.hexdigest()])
    return json.dumps(dict(version=CACHE_VERSION, sources=stamps))


class ArrayCache:
    """Arrays computed from source files, cached on disk (see module
    docstring).

    Args:
        cache_dir (str, optional): ``'auto'``, a folder, or ``None`` for no
            on-disk cache.
    """

    def __init__(self, cache_dir: Optional[str] = 'auto') -> None:
        if cache_dir == 'auto':
            cache_dir = default_cache_dir()
        self.cache_dir = cache_dir
        self._warned = False

    def entry_path(self, kind: str, sources: Sequence[str]) -> str:
        """The ``.npz`` file of ``kind`` computed from ``sources``."""
        key = hashlib.sha1('\n'.join([kind] +
                                     [osp.abspath(p)
                                      for p in sources]).encode()).hexdigest()
        safe_kind = ''.join(c if c.isalnum() or c in '-_' else '_'
                            for c in kind)
        return osp.join(self.cache_dir, f'{safe_kind}-{key[:16]}.npz')

    def get(
        self,
        kind: str,
        sources: Sequence[str],
        build: Callable[[], Dict[str, np.ndarray]],
        check: Optional[Callable[[Dict[str, np.ndarray]], object]] = None
    ) -> Dict[str, np.ndarray]:
        """The arrays of ``kind``: from the cache if its entry matches the
        sources, else from ``build()`` (then stored).

        Args:
            kind (str): What the arrays are (part of the entry's name).
            sources (Sequence[str]): The files they are computed from.
            build (Callable): Computes the arrays from the sources.
            check (Callable, optional): Called on loaded arrays; an
                exception means the entry is bad (it is rebuilt).

        Returns:
            dict[str, np.ndarray]: The arrays.
        """
        if self.cache_dir is None:
            return build()
        stamp = source_stamp(sources)  # before reading: changes later win
        path = self.entry_path(kind, sources)
        arrays = self._load(path, stamp)
        if arrays is not None and check is not None:
            try:
                check(arrays)
            except Exception:  # a bad entry is rebuilt, never trusted
                arrays = None
        if arrays is None:
            arrays = build()
            self._store(path, stamp, arrays)
        return arrays

    @staticmethod
    def _load(path: str, stamp: str) -> Optional[Dict[str, np.ndarray]]:
        if not osp.isfile(path):
            return None
        try:
            with np.load(path, allow_pickle=False) as content:
                if str(content[_STAMP_KEY]) != stamp:
                    return None
                return {
                    name: content[name]
                    for name in content.files if name != _STAMP_KEY
                }
        except Exception:  # truncated / corrupt / foreign: never trusted
            return None

    def _store(self, path: str, stamp: str, arrays: Dict[str,
                                                         np.ndarray]) -> None:
        try:
            atomic_write(
                path, lambda file: np.savez(
                    file, **{_STAMP_KEY: np.array(stamp)}, **arrays))
        except OSError as error:
            if not self._warned:
                self._warned = True
                warnings.warn(
                    f'mmsearch: cannot write the annotation cache in '
                    f'"{self.cache_dir}" ({error}); annotations are re-read '
                    f'every time. Set cache_dir (dataset option) or '
                    f'MMSEARCH_CACHE_DIR to a writable folder, or None.')
