from .vit_feature_pyramid import ViTFeaturePyramid

__all__ = ['ViTFeaturePyramid']
