"""Optimizer wrapper constructors of mmsearch."""
from .layer_decay_optim_wrapper_constructor import \
    StageRouteLayerDecayOptimWrapperConstructor

__all__ = ['StageRouteLayerDecayOptimWrapperConstructor']
