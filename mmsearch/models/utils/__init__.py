from .precision import autocast_disabled, to_fp32

__all__ = ['autocast_disabled', 'to_fp32']
