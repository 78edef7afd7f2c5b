from .amp import enable_amp
from .checkpoint import (CheckpointMismatchError, StateDictMismatch,
                         checkpoint_safe_globals, compare_state_dicts,
                         load_model_checkpoint,
                         register_checkpoint_safe_globals)
from .config import check_cfg_options, set_data_root
from .dist import setup_cpu_distributed
from .setup_env import register_all_modules

register_checkpoint_safe_globals()

__all__ = [
    'register_all_modules', 'register_checkpoint_safe_globals',
    'checkpoint_safe_globals', 'setup_cpu_distributed', 'enable_amp',
    'CheckpointMismatchError', 'StateDictMismatch', 'compare_state_dicts',
    'load_model_checkpoint', 'check_cfg_options', 'set_data_root'
]
