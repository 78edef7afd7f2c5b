"""Synthetic person-search data in the raw CUHK-SYSU / PRW layouts."""
from .generator import FORMATS, make_synthetic_dataset, plan_dataset
from .plan import PRESETS, SyntheticConfig, preset_config

__all__ = [
    'FORMATS', 'PRESETS', 'SyntheticConfig', 'make_synthetic_dataset',
    'plan_dataset', 'preset_config'
]
