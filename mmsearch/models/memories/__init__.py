from .base_memory import BaseMemory
from .dist_utils import gather_rows_from_all_ranks
from .feature_queue import FeatureQueue
from .lookup_table import MomentumLookupTable
from .loop_reference import momentum_update_rows_loop

__all__ = [
    'BaseMemory', 'gather_rows_from_all_ranks', 'FeatureQueue',
    'MomentumLookupTable', 'momentum_update_rows_loop'
]
