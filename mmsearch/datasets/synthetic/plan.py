"""Which identities appear where: the layout of a synthetic dataset.

Pure numpy and deterministic for a seed; no drawing happens here.
"""
from dataclasses import dataclass, field
from typing import List, Tuple

import numpy as np


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

    def __post_init__(self) -> None:
        checks = [
            (self.num_train_ids >= 1, 'num_train_ids >= 1'),
            (self.num_test_ids >= 1, 'num_test_ids >= 1'),
            (self.num_train_images >= 2, 'num_train_images >= 2'),
            (self.num_test_images
             >= 51, 'num_test_images >= 51 (TestG50 needs 50 gallery images)'),
            (2 * self.num_train_ids
             <= self.max_labelled * self.num_train_images,
             'room for every train identity twice (2 x num_train_ids <= '
             'max_labelled x num_train_images)'),
            (2 * self.num_test_ids <= self.max_labelled * self.num_test_images,
             'room for every test identity twice'),
            (min(self.image_size) >= 48, 'image_size sides >= 48 px'),
        ]
        for ok, rule in checks:
            if not ok:
                raise ValueError(f'SyntheticConfig: expected {rule}; got '
                                 f'{self}.')


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
class ImagePlan:
    """A scene image: its split and its persons (drawing order)."""
    split: str
    persons: List[PersonPlacement] = field(default_factory=list)


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


def place_boxes(rng: np.random.Generator, count: int, image_size: Tuple[int,
                                                                        int],
                aspects: List[float]) -> List[np.ndarray]:
    """Draw ``count`` standing-person boxes (x, y, w, h) inside the image.

    Heights are 35-80 % of the image height; a box overlapping an earlier
    one by IoU > 0.3 is redrawn (up to 20 times).
    """
    width, height = image_size
    boxes: List[np.ndarray] = []
    for aspect in aspects[:count]:
        for _ in range(20):
            box_h = int(rng.uniform(0.35, 0.8) * height)
            box_w = max(8, int(box_h * aspect))
            x = int(rng.integers(0, max(1, width - box_w)))
            y = int(
                rng.integers(
                    max(0,
                        int(0.9 * height) - box_h),
                    max(1, height - box_h) + 1))
            y = min(y, height - box_h)
            box = np.array([x, y, box_w, box_h])
            if all(_iou_xywh(box, other) <= 0.3 for other in boxes):
                break
        boxes.append(box)
    return boxes


def _iou_xywh(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two (x, y, w, h) boxes."""
    inter_w = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    return inter / float(a[2] * a[3] + b[2] * b[3] - inter)


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
                            [aspects[identities[i]] for i in order])
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
        plans.append(plan)
    return plans, next_distractor
