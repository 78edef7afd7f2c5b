"""Distributed set-up on machines without CUDA.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``, which a
CPU-only torch lacks. When CUDA is absent, the training and test tools start
the process group themselves with the ``gloo`` backend before the Runner is
built (the Runner then skips its own initialisation) and wrap the model in
``MMDistributedDataParallel`` without ``device_ids`` (DDP refuses device ids
for a CPU module).

With CUDA, every process of a node takes one GPU (mmengine calls
``torch.cuda.set_device(LOCAL_RANK)``): more processes than visible GPUs is
refused with a clear message instead of an "invalid device ordinal" on the
extra ranks.
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def check_processes_fit_gpus(num_processes: int, num_gpus: int) -> None:
    """Refuse more processes per node than visible GPUs (when GPUs exist).

    Without GPUs (``num_gpus == 0``) any number of CPU processes is fine.

    Args:
        num_processes (int): Processes started on this node (torchrun's
            ``LOCAL_WORLD_SIZE``, dist_train.sh's GPUS argument).
        num_gpus (int): Visible CUDA devices.

    Raises:
        RuntimeError: If ``0 < num_gpus < num_processes``.
    """
    if 0 < num_gpus < num_processes:
        raise RuntimeError(
            f'{num_processes} processes were started on this node but only '
            f'{num_gpus} CUDA device(s) are visible, and each process needs '
            f'its own GPU: start at most {num_gpus} processes (e.g. '
            f'`bash tools/dist_train.sh CONFIG {num_gpus}`), or hide the GPUs '
            '(CUDA_VISIBLE_DEVICES=) to run the processes on the CPU (gloo).')


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` and the process group for CPU distributed runs.

    Does nothing when ``cfg.launcher`` is ``'none'``. With CUDA, only checks
    that the node's processes (``LOCAL_WORLD_SIZE``) fit its GPUs
    (:func:`check_processes_fit_gpus`); mmengine's own set-up then applies.

    Args:
        cfg (Config): The run's config; ``cfg.launcher`` must be set. On the
            CPU path ``cfg.model_wrapper_cfg`` gets ``device_ids=None`` and
            ``env_cfg.dist_cfg.backend`` becomes ``'gloo'``.

    Returns:
        bool: True if the gloo process group was initialised here.

    Raises:
        RuntimeError: For a launcher other than ``'pytorch'`` (torchrun)
            without CUDA, when torchrun's environment variables are
            missing, or with more processes per node than GPUs.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none':
        return False
    if torch.cuda.is_available():
        local_world_size = os.environ.get('LOCAL_WORLD_SIZE')
        if local_world_size is not None:
            check_processes_fit_gpus(
                int(local_world_size), torch.cuda.device_count())
        return False
    if launcher != 'pytorch':
        raise RuntimeError(
            f'--launcher {launcher} needs CUDA; without GPUs use '
            '--launcher pytorch (tools/dist_train.sh / dist_test.sh).')
    required = ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')
    absent = [name for name in required if name not in os.environ]
    if absent:
        raise RuntimeError(
            f'--launcher pytorch expects torchrun\'s environment variables; '
            f'{", ".join(absent)} not set. Start with tools/dist_train.sh.')

    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel',
        broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    env_cfg = dict(cfg.get('env_cfg', None) or {})
    env_cfg['dist_cfg'] = dict(
        env_cfg.get('dist_cfg', None) or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
        return True
    return False
