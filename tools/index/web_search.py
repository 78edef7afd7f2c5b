"""Serve a search page over a gallery index (built by
tools/index/build_index.py) in the browser.

Pick or upload a query image, click the person (or type a box), and see
the ranked people of the index with their image or video, frame, time and
similarity; select one to see its full frame. The model defaults to the
config and checkpoint stored in the index. Needs the web extra:
``pip install -r requirements/web.txt``. Nothing is downloaded at run time.

Example:
    python tools/index/web_search.py gallery.idx --port 7860
    # then open http://127.0.0.1:7860
"""
import argparse
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import DictAction

from mmsearch.cli import run_cli
from mmsearch.utils import register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Search page over a gallery index')
    parser.add_argument('index', help='index folder')
    parser.add_argument(
        '--config', help='model config (default: the index\'s)')
    parser.add_argument(
        '--checkpoint', help='model checkpoint (default: the index\'s)')
    parser.add_argument('--device', default='cpu', help='e.g. cpu, cuda:0')
    parser.add_argument(
        '--host',
        default='127.0.0.1',
        help='address to listen on (0.0.0.0: every interface; the page has '
        'no login, so only on a trusted network)')
    parser.add_argument('--port', type=int, default=7860)
    parser.add_argument(
        '--topk-max', type=int, default=100, help='largest top-k offered')
    parser.add_argument(
        '--no-verify',
        action='store_true',
        help='skip the shard checksums when loading')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, xxx=yyy pairs')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if not osp.isdir(args.index):
        raise FileNotFoundError(
            f'index folder "{args.index}" not found (build one with '
            'tools/index/build_index.py)')
    for name in ('config', 'checkpoint'):
        path = getattr(args, name)
        if path is not None and not osp.isfile(path):
            raise FileNotFoundError(f'--{name} file "{path}" not found')
    if not 1 <= args.port <= 65535:
        raise ValueError(f'--port must be 1..65535, got {args.port}')
    # the first use of mmsearch.web's app names imports gradio (an optional
    # extra): a missing gradio is an ImportError that says how to install it
    from mmsearch.web import build_search_app, launch_search_app
    register_all_modules()
    app = build_search_app(
        args.index,
        config=args.config,
        checkpoint=args.checkpoint,
        device=args.device,
        cfg_options=args.cfg_options,
        verify=not args.no_verify,
        max_topk=args.topk_max)
    try:
        launch_search_app(app, host=args.host, port=args.port)
    except OSError as error:
        raise OSError(f'cannot serve on {args.host}:{args.port} ({error}); '
                      'choose another --port or --host') from error


if __name__ == '__main__':
    run_cli(main)
