"""Prepare a trained checkpoint for release.

Keeps only ``meta`` and ``state_dict`` (drops optimizer, schedulers and the
message hub) and names the file ``NAME-HASH8.pth``, HASH8 being the first 8
hex digits of the file's sha256.

Example:
    python tools/model_converters/publish_model.py \
        work_dirs/dcinet/epoch_20.pth dcinet_r50_cuhk.pth
    # -> dcinet_r50_cuhk-1a2b3c4d.pth
"""
import argparse
import os
import os.path as osp
from typing import Sequence

import torch

from mmsearch.fileio import sha256_file
from mmsearch.utils import register_checkpoint_safe_globals

PUBLISHED_KEYS = ('meta', 'state_dict')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Strip a checkpoint to meta + state_dict and hash it')
    parser.add_argument('in_file', help='input checkpoint file')
    parser.add_argument(
        'out_file', help='output name; the hash is added before .pth')
    parser.add_argument(
        '--save-keys',
        nargs='+',
        default=list(PUBLISHED_KEYS),
        help='top-level checkpoint keys to keep')
    return parser.parse_args()


def publish_checkpoint(in_file: str,
                       out_file: str,
                       save_keys: Sequence[str] = PUBLISHED_KEYS) -> str:
    """Write the stripped checkpoint and return its final path.

    Args:
        in_file (str): A checkpoint saved by mmengine's Runner.
        out_file (str): Output path; ``.pth`` is appended if missing and
            ``-HASH8`` inserted before it.
        save_keys (Sequence[str]): Keys to keep. Defaults to
            ``('meta', 'state_dict')``.

    Returns:
        str: ``<out_file stem>-<sha256[:8]>.pth``.
    """
    if not osp.isfile(in_file):
        raise FileNotFoundError(f'in_file "{in_file}" not found')
    register_checkpoint_safe_globals()
    checkpoint = torch.load(in_file, map_location='cpu')
    if not isinstance(checkpoint, dict) or 'state_dict' not in checkpoint:
        raise ValueError(f'"{in_file}" is not an mmengine checkpoint: '
                         'expected a dict with a "state_dict" key')
    published = {k: checkpoint[k] for k in save_keys if k in checkpoint}
    dropped = sorted(set(checkpoint) - set(published))
    if dropped:
        print(f'dropping checkpoint keys: {", ".join(dropped)}')
    stem = out_file[:-4] if out_file.endswith('.pth') else out_file
    out_dir = osp.dirname(osp.abspath(stem))
    os.makedirs(out_dir, exist_ok=True)
    tmp_file = stem + '.tmp.pth'
    torch.save(published, tmp_file)
    final_file = f'{stem}-{sha256_file(tmp_file)[:8]}.pth'
    os.replace(tmp_file, final_file)
    return final_file


def main() -> None:
    args = parse_args()
    final_file = publish_checkpoint(args.in_file, args.out_file,
                                    args.save_keys)
    print(f'The published model is saved at {final_file}')


if __name__ == '__main__':
    main()
