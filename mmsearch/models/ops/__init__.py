from .roi_align import SeparableRoIAlign, axis_weights, roi_align_cpu

__all__ = ['SeparableRoIAlign', 'axis_weights', 'roi_align_cpu']
