from .backbone_last_stage import BackboneLastStage

__all__ = ['BackboneLastStage']
