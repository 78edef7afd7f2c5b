"""Siamese pairing: pair wrapper, pair sampler and collate function."""
from .pair_collate import pair_collate
from .pair_dataset import PersonSearchPairDataset, build_partner_table
from .pair_sampler import PairSampler

__all__ = [
    'PersonSearchPairDataset', 'PairSampler', 'pair_collate',
    'build_partner_table'
]
