from .base_reid_loss import BaseReIDLoss
from .c2hep_loss import C2HEPLoss, nearest_centre_classes
from .hep_loss import HEPLoss, build_hep_pool
from .oim_loss import OIMLoss
from .olp_loss import OLPLoss, find_online_pairs, olp_pair_losses

__all__ = [
    'BaseReIDLoss', 'C2HEPLoss', 'nearest_centre_classes', 'HEPLoss',
    'build_hep_pool', 'OIMLoss', 'OLPLoss', 'find_online_pairs',
    'olp_pair_losses'
]
