"""Distributed set-up on machines without CUDA.

mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``, which a
CPU-only torch lacks. When CUDA is absent, the training and test tools start
the process group themselves with the ``gloo`` backend before the Runner is
built (the Runner then skips its own initialisation) and wrap the model in
``MMDistributedDataParallel`` without ``device_ids`` (DDP refuses device ids
for a CPU module).
"""
import os

import torch
import torch.distributed as torch_dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> bool:
    """Prepare ``cfg`` and the process group for CPU distributed runs.

    Does nothing when ``cfg.launcher`` is ``'none'`` or CUDA is available
    (mmengine's own set-up then applies).

    Args:
        cfg (Config): The run's config; ``cfg.launcher`` must be set. On the
            CPU path ``cfg.model_wrapper_cfg`` gets ``device_ids=None`` and
            ``env_cfg.dist_cfg.backend`` becomes ``'gloo'``.

    Returns:
        bool: True if the gloo process group was initialised here.

    Raises:
        RuntimeError: For a launcher other than ``'pytorch'`` (torchrun)
            without CUDA, or when torchrun's environment variables are
            missing.
    """
    launcher = cfg.get('launcher', 'none')
    if launcher == 'none' or torch.cuda.is_available():
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
