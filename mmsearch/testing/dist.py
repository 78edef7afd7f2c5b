"""Environments for tests that start several processes."""
import os
from typing import Dict, Optional

import torch


def multiprocess_env(num_processes: int,
                     env: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """An environment in which ``num_processes`` ranks can run on one node.

    Each rank of a CUDA run takes its own GPU. With fewer visible GPUs than
    processes the GPUs are hidden (``CUDA_VISIBLE_DEVICES=''``), so the
    ranks run on the CPU with gloo instead of failing on a device ordinal
    that does not exist; with enough GPUs the environment is unchanged.

    Args:
        num_processes (int): Ranks to start.
        env (dict, optional): Base environment. Defaults to a copy of
            ``os.environ``.

    Returns:
        dict: The environment for the launcher's subprocess.
    """
    env = dict(os.environ if env is None else env)
    if torch.cuda.device_count() < num_processes:
        env['CUDA_VISIBLE_DEVICES'] = ''
    return env
