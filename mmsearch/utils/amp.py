"""Mixed-precision training switch for the training tool."""
import torch
from mmengine.config import Config


def enable_amp(cfg: Config) -> None:
    """Train ``cfg`` with :class:`mmengine.optim.AmpOptimWrapper`.

    The wrapper's dtype stays whatever the config sets (float16 by default;
    ``--cfg-options optim_wrapper.dtype=bfloat16`` for bf16) with a dynamic
    loss scale. Re-ID memories are fp32 buffers and stay so: autocast
    changes the dtype of activations, never of buffers.

    Args:
        cfg (Config): The training config; ``cfg.optim_wrapper`` is edited.

    Raises:
        RuntimeError: Without CUDA, where mmengine's AmpOptimWrapper cannot
            run.
    """
    if not torch.cuda.is_available():
        raise RuntimeError(
            '--amp needs a CUDA GPU (mmengine\'s AmpOptimWrapper runs on '
            'CUDA only) and this machine has none: train without --amp.')
    if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
        return
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
