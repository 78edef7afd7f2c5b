"""The command-line tools' shared flags and how they end on a user error
(torch-free).

A tool's ``main`` raises as the library does; :func:`run_cli` turns the
errors a user can fix (a missing or unreadable file, a bad value, a model
that does not fit, a missing optional package) into one line ``error:
...`` on stderr and exit status 2, as argparse does for bad arguments. Any
other exception is a bug and keeps its traceback.
"""
import argparse
import sys
from typing import Callable, Optional, Sequence

# OSError: missing files and folders, unreadable images (ImageReadError),
# a missing index; ValueError: bad values, a checkpoint or model that does
# not fit (CheckpointMismatchError, ModelMismatchError), malformed files;
# ImportError: an optional package not installed.
USER_ERRORS = (OSError, ValueError, ImportError)


def run_cli(main: Callable[[Optional[Sequence[str]]], object],
            argv: Optional[Sequence[str]] = None) -> None:
    """Run a tool's ``main(argv)``; exit 2 with one line on a user error.

    Args:
        main (callable): The tool's ``main``, taking ``argv`` (None: the
            process arguments).
        argv (Sequence[str], optional): Arguments for ``main``.
    """
    try:
        main(argv)
    except USER_ERRORS as error:
        message = ' '.join(str(error).split()) or type(error).__name__
        print(f'error: {message}', file=sys.stderr)
        sys.exit(2)


def add_query_args(parser: argparse.ArgumentParser,
                   required: bool = True) -> None:
    """The query flags of the search tools: ``--query-image`` and
    ``--query-box X1 Y1 X2 Y2`` (pixels of the query image).

    Args:
        parser (ArgumentParser): The tool's parser (or a group of it).
        required (bool): Whether the image is required (the index search
            also takes other kinds of query). Defaults to True.
    """
    parser.add_argument(
        '--query-image', required=required, help='image holding the query')
    parser.add_argument(
        '--query-box',
        required=required,
        nargs=4,
        type=float,
        metavar=('X1', 'Y1', 'X2', 'Y2'),
        help='query person box in the query image (pixels)')


def add_gallery_args(parser: argparse.ArgumentParser) -> None:
    """The gallery flags of the folder searches (PyTorch and ONNX):
    ``--gallery``, ``--topk``, ``--score-thr`` and ``--out-json``."""
    parser.add_argument(
        '--gallery', required=True, help='folder of gallery scene images')
    parser.add_argument(
        '--topk',
        type=int,
        default=10,
        help='matches to print and write (>= 1)')
    parser.add_argument(
        '--score-thr',
        type=float,
        default=0.5,
        help='drop gallery detections scoring below this')
    parser.add_argument(
        '--out-json',
        '--json',
        dest='out_json',
        help='also write the matches to this JSON file')
