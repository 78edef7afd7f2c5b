"""Synthetic person-search data in the raw CUHK-SYSU / PRW layouts."""
from .generator import FORMATS, make_synthetic_dataset, plan_dataset
from .plan import SyntheticConfig

__all__ = [
    'FORMATS', 'SyntheticConfig', 'make_synthetic_dataset', 'plan_dataset'
]
