"""Which identities appear where: the layout of a synthetic dataset.

Pure numpy and deterministic for a seed; no drawing happens here.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from mmsearch.structures import box_iou


@dataclass
class SyntheticConfig:
    """Size and look of a synthetic person-search dataset.

    Args:
        num_train_ids (int): Labelled identities of the train split.
        num_test_ids (int): Test identities; one query each.
        num_train_images (int): Train scene images.
        num_test_images (int): Test (gallery) scene images; at least
            ``min(gallery_sizes) + 1``.
        image_size (tuple[int, int]): (width, height) of every image.
        max_labelled (int): Most labelled persons in one image.
        max_distractors (int): Most unlabelled persons in one image.
        occlusion_prob (float): Chance that a person is partly hidden.
        gallery_sizes (tuple[int, ...]): CUHK-SYSU TestG{N} files to write;
            50 is always written. Sizes above ``num_test_images - 1`` are
            skipped.
        seed (int): Seed of every random draw.
        person_height (tuple[float, float]): Range of person heights as a
            fraction of the image height (drawn uniformly).
        confuser_prob (float): Chance that an unlabelled person wears the
            top and bottom colours of a labelled identity of its split
            (a look-alike distractor: only pattern, build, hair, bag and
            shoes tell them apart).
        camera_shift (float): Strength of the per-image camera: each image
            gets colour gains in ``1 +- camera_shift`` per channel, a
            brightness factor in ``1 +- camera_shift``, a gamma in
            ``1 +- camera_shift`` and, with chance ``camera_shift``, a blur.
            0 draws no camera (and leaves the random stream of the other
            draws as it was).
    """
    num_train_ids: int = 40
    num_test_ids: int = 20
    num_train_images: int = 240
    num_test_images: int = 120
    image_size: Tuple[int, int] = (320, 240)
    max_labelled: int = 3
    max_distractors: int = 2
    occlusion_prob: float = 0.25
    gallery_sizes: Tuple[int, ...] = (50, 100)
    seed: int = 0
    person_height: Tuple[float, float] = (0.35, 0.8)
    confuser_prob: float = 0.0
    camera_shift: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.num_train_ids >= 1, 'num_train_ids >= 1'),
            (self.num_test_ids >= 1, 'num_test_ids >= 1'),
            (self.num_train_images >= 2, 'num_train_images >= 2'),
            (self.num_test_images >= 51,
             'num_test_images >= 51 (TestG50 needs 50 gallery images)'),
            (2 * self.num_train_ids <=
             self.max_labelled * self.num_train_images,
             'room for every train identity twice (2 x num_train_ids <= '
             'max_labelled x num_train_images)'),
            (2 * self.num_test_ids <= self.max_labelled * self.num_test_images,
             'room for every test identity twice'),
            (min(self.image_size) >= 48, 'image_size sides >= 48 px'),
            (0.05 <= self.person_height[0] <= self.person_height[1] <= 0.95,
             'person_height (low, high) with 0.05 <= low <= high <= 0.95'),
            (0.0 <= self.confuser_prob <= 1.0, '0 <= confuser_prob <= 1'),
            (0.0 <= self.camera_shift < 0.9, '0 <= camera_shift < 0.9'),
        ]
        for ok, rule in checks:
            if not ok:
                raise ValueError(f'SyntheticConfig: expected {rule}; got '
                                 f'{self}.')


# Named generator settings. 'quickstart' is the default config (the quick
# start's data set); 'benchmark' is the method-study benchmark
# (docs/en/method_study.md): more identities, more queries (a 95 %
# bootstrap interval of about +-2 points of mAP), look-alike unlabelled
# persons, more occlusion, a wide range of person sizes and a camera of its
# own for every image.
PRESETS = {
    'quickstart':
    dict(),
    'benchmark':
    dict(
        num_train_ids=150,
        num_test_ids=450,
        num_train_images=450,
        num_test_images=500,
        max_labelled=3,
        max_distractors=3,
        occlusion_prob=0.35,
        person_height=(0.25, 0.85),
        confuser_prob=0.5,
        camera_shift=0.25,
        gallery_sizes=(50, 100)),
}


def preset_config(name: str, **overrides) -> SyntheticConfig:
    """The ``SyntheticConfig`` of preset ``name`` with ``overrides``.

    Args:
        name (str): A key of :data:`PRESETS`.
        **overrides: ``SyntheticConfig`` fields to change.

    Raises:
        ValueError: ``name`` is not a preset.
    """
    if name not in PRESETS:
        raise ValueError(f'unknown synthetic preset {name!r}; expected one '
                         f'of {sorted(PRESETS)}.')
    return SyntheticConfig(**{**PRESETS[name], **overrides})


@dataclass
class PersonPlacement:
    """One person in one image.

    Attributes:
        identity (int): Index into the appearance list (labelled ids first,
            then distractors).
        person_id (int): Split id (0-based within its split), -1 for an
            unlabelled distractor.
        box (np.ndarray): (x, y, w, h) int box.
        occluded (bool): Whether an occluder covers part of the person.
        lighting (float): Brightness factor of this appearance.
        mirrored (bool): Whether the figure is drawn mirrored.
    """
    identity: int
    person_id: int
    box: np.ndarray
    occluded: bool
    lighting: float
    mirrored: bool


@dataclass
class CameraLook:
    """How one image's camera renders the scene (applied after drawing).

    Attributes:
        gains (tuple[float, float, float]): Per-channel (BGR) colour gains:
            white balance.
        brightness (float): Overall exposure factor.
        gamma (float): Tone curve, ``out = 255 * (in / 255) ** gamma``.
        blur (int): Gaussian blur kernel size (odd), 0 for a sharp image.
    """
    gains: Tuple[float, float, float]
    brightness: float
    gamma: float
    blur: int


@dataclass
class ImagePlan:
    """A scene image: its split, its persons (drawing order) and its
    camera (None: the image is rendered as drawn)."""
    split: str
    persons: List[PersonPlacement] = field(default_factory=list)
    camera: Optional[CameraLook] = None


def draw_camera(rng: np.random.Generator, shift: float) -> CameraLook:
    """A random camera of strength ``shift`` (see ``SyntheticConfig``)."""
    gains = tuple(float(g) for g in rng.uniform(1 - shift, 1 + shift, 3))
    brightness = float(rng.uniform(1 - shift, 1 + shift))
    gamma = float(rng.uniform(1 - shift, 1 + shift))
    blur = 3 if rng.random() < shift else 0
    return CameraLook(gains, brightness, gamma, blur)


def assign_identities(rng: np.random.Generator, num_ids: int, num_images: int,
                      max_labelled: int) -> List[List[int]]:
    """Labelled ids of each image: every id in >= 2 distinct images.

    Each image first gets 1..``max_labelled`` slots; every id is dealt into
    two different images, then free slots take random ids not yet present.

    Returns:
        list[list[int]]: ids per image, no repeats within an image.
    """
    capacity = rng.integers(1, max_labelled + 1, size=num_images)
    images: List[List[int]] = [[] for _ in range(num_images)]
    for person_id in rng.permutation(num_ids):
        for _ in range(2):
            free = [
                i for i in range(num_images)
                if person_id not in images[i] and len(images[i]) < max_labelled
            ]
            # prefer images that still have slots of their drawn capacity
            preferred = [i for i in free if len(images[i]) < capacity[i]]
            images[int(rng.choice(preferred or free))].append(int(person_id))
    for index, ids in enumerate(images):
        while len(ids) < capacity[index]:
            ids.append(
                int(rng.choice([i for i in range(num_ids) if i not in ids])))
    return images


def _xyxy(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) (x, y, w, h) boxes as (x1, y1, x2, y2)."""
    return np.concatenate([boxes[:, :2], boxes[:, :2] + boxes[:, 2:]], 1)


def place_boxes(
    rng: np.random.Generator,
    count: int,
    image_size: Tuple[int, int],
    aspects: List[float],
    height_range: Tuple[float, float] = (0.35, 0.8)
) -> List[np.ndarray]:
    """Draw ``count`` standing-person boxes (x, y, w, h) inside the image.

    Heights are ``height_range`` (fractions) of the image height; a box
    overlapping an earlier one by IoU > 0.3 is redrawn (up to 20 times).
    """
    width, height = image_size
    boxes: List[np.ndarray] = []
    for aspect in aspects[:count]:
        for _ in range(20):
            box_h = int(rng.uniform(*height_range) * height)
            box_w = max(8, int(box_h * aspect))
            x = int(rng.integers(0, max(1, width - box_w)))
            y = int(
                rng.integers(
                    max(0,
                        int(0.9 * height) - box_h),
                    max(1, height - box_h) + 1))
            y = min(y, height - box_h)
            box = np.array([x, y, box_w, box_h])
            if not boxes or box_iou(_xyxy(box[None]), _xyxy(
                    np.stack(boxes))).max() <= 0.3:
                break
        boxes.append(box)
    return boxes


def plan_split(rng: np.random.Generator, config: SyntheticConfig, split: str,
               first_identity: int, num_ids: int, num_images: int,
               aspects: List[float],
               next_distractor: int) -> Tuple[List[ImagePlan], int]:
    """Plan the images of one split.

    Args:
        first_identity (int): Appearance index of the split's id 0.
        aspects (list[float]): Width / height of every appearance.
        next_distractor (int): First free distractor appearance index.

    Returns:
        tuple[list[ImagePlan], int]: The images and the next free
        distractor index.
    """
    plans = []
    for ids in assign_identities(rng, num_ids, num_images,
                                 config.max_labelled):
        num_distractors = int(rng.integers(0, config.max_distractors + 1))
        identities = [first_identity + i for i in ids] + list(
            range(next_distractor, next_distractor + num_distractors))
        next_distractor += num_distractors
        person_ids = ids + [-1] * num_distractors
        order = rng.permutation(len(identities))
        boxes = place_boxes(rng, len(identities), config.image_size,
                            [aspects[identities[i]] for i in order],
                            config.person_height)
        plan = ImagePlan(split)
        for box, index in zip(boxes, order):
            plan.persons.append(
                PersonPlacement(
                    identity=identities[index],
                    person_id=person_ids[index],
                    box=box,
                    occluded=bool(rng.random() < config.occlusion_prob),
                    lighting=float(rng.uniform(0.7, 1.3)),
                    mirrored=bool(rng.random() < 0.5)))
        if config.camera_shift > 0:
            plan.camera = draw_camera(rng, config.camera_shift)
        plans.append(plan)
    return plans, next_distractor
