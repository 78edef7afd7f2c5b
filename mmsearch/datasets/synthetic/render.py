"""Drawing of synthetic scenes and persons with OpenCV."""
from dataclasses import dataclass
from typing import List, Tuple

import cv2
import numpy as np

from .plan import CameraLook, ImagePlan

PATTERNS = ('plain', 'hstripes', 'vstripes', 'checks', 'twotone')


@dataclass
class Appearance:
    """The fixed look of one identity (colours are BGR uint8 triples).

    Attributes:
        top, bottom, pattern_colour, skin, hair, shoes: colours.
        pattern (str): Torso pattern, one of :data:`PATTERNS`.
        aspect (float): Box width / height (body build).
        torso_ratio (float): Torso length as a fraction of the body.
        bag (bool): Whether the person carries a bag (``pattern_colour``).
    """
    top: Tuple[int, int, int]
    bottom: Tuple[int, int, int]
    pattern_colour: Tuple[int, int, int]
    skin: Tuple[int, int, int]
    hair: Tuple[int, int, int]
    shoes: Tuple[int, int, int]
    pattern: str
    aspect: float
    torso_ratio: float
    bag: bool


def _colour(rng: np.random.Generator) -> Tuple[int, int, int]:
    """A saturated random colour (BGR) drawn in HSV."""
    hsv = np.array(
        [[[rng.integers(0, 180),
           rng.integers(90, 256),
           rng.integers(70, 256)]]],
        dtype=np.uint8)
    return tuple(int(v) for v in cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0, 0])


def sample_appearances(rng: np.random.Generator,
                       count: int) -> List[Appearance]:
    """``count`` random identity looks."""
    looks = []
    for _ in range(count):
        skin_tone = rng.uniform(0.45, 1.0)
        looks.append(
            Appearance(
                top=_colour(rng),
                bottom=_colour(rng),
                pattern_colour=_colour(rng),
                skin=tuple(int(v * skin_tone) for v in (150, 180, 230)),
                hair=tuple(int(v) for v in rng.integers(10, 120, 3)),
                shoes=tuple(int(v) for v in rng.integers(0, 90, 3)),
                pattern=str(rng.choice(PATTERNS)),
                aspect=float(rng.uniform(0.3, 0.45)),
                torso_ratio=float(rng.uniform(0.3, 0.4)),
                bag=bool(rng.random() < 0.4)))
    return looks


def draw_background(rng: np.random.Generator, width: int,
                    height: int) -> np.ndarray:
    """A cluttered street-like background: sky/ground gradient, buildings
    with windows, poles and noise. Returns (height, width, 3) uint8."""
    top = np.array(_colour(rng), np.float32) * 0.6 + 80
    ground = np.array(_colour(rng), np.float32) * 0.4 + 40
    ramp = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    image = (top * (1 - ramp) + ground * ramp).repeat(width, axis=1)
    horizon = int(height * rng.uniform(0.35, 0.6))
    for _ in range(int(rng.integers(3, 8))):
        x = int(rng.integers(-20, width))
        w = int(rng.integers(width // 10, width // 3))
        h = int(rng.integers(height // 6, horizon + 1))
        colour = np.array(_colour(rng), np.float32) * 0.5 + 40
        cv2.rectangle(image, (x, horizon - h), (x + w, horizon),
                      colour.tolist(), -1)
        for wy in range(horizon - h + 6, horizon - 8, 14):
            for wx in range(x + 4, x + w - 8, 12):
                cv2.rectangle(image, (wx, wy), (wx + 5, wy + 7),
                              (colour * 0.6 + 60).tolist(), -1)
    for _ in range(int(rng.integers(2, 6))):
        x = int(rng.integers(0, width))
        cv2.line(image, (x, int(rng.integers(0, horizon))), (x, height),
                 _colour(rng), int(rng.integers(1, 4)))
    image += rng.normal(0, 6, image.shape).astype(np.float32)
    return image.clip(0, 255).astype(np.uint8)


def _shade(colour: Tuple[int, int, int], lighting: float) -> List[float]:
    return [min(255.0, c * lighting) for c in colour]


def draw_person(image: np.ndarray, look: Appearance, box: np.ndarray,
                lighting: float, mirrored: bool) -> None:
    """Draw a standing figure filling the (x, y, w, h) ``box`` in place."""
    x, y, w, h = (int(v) for v in box)
    canvas = np.zeros((h, w, 3), np.uint8)
    mask = np.zeros((h, w), np.uint8)
    head_h = max(3, int(0.14 * h))
    torso_top, torso_bottom = head_h, head_h + int(look.torso_ratio * h)
    cx = w // 2
    half = max(2, int(0.32 * w))

    def fill(draw, colour):
        draw(canvas, _shade(colour, lighting))
        draw(mask, 255)

    fill(
        lambda im, c: cv2.ellipse(im, (cx, head_h // 2 + 1), (max(
            2, w // 6), head_h // 2), 0, 0, 360, c, -1), look.skin)
    fill(
        lambda im, c: cv2.ellipse(im, (cx, head_h // 3 + 1), (max(
            2, w // 6), max(1, head_h // 3)), 0, 180, 360, c, -1), look.hair)
    fill(
        lambda im, c: cv2.rectangle(im, (cx - half, torso_top),
                                    (cx + half, torso_bottom), c, -1),
        look.top)
    _draw_pattern(canvas, look,
                  (cx - half, torso_top, cx + half, torso_bottom), lighting)
    for side in (-1, 1):  # arms and legs
        arm_x = cx + side * (half + max(1, w // 12))
        fill(
            lambda im, c: cv2.line(im, (arm_x, torso_top + 2),
                                   (arm_x, torso_bottom), c, max(1, w // 8)),
            look.top)
        leg_x = cx + side * max(1, half // 2)
        fill(
            lambda im, c: cv2.line(im, (leg_x, torso_bottom),
                                   (leg_x, h - 3), c, max(2, w // 5)),
            look.bottom)
        fill(
            lambda im, c: cv2.line(im, (leg_x, h - 3),
                                   (leg_x + side * 2, h - 1), c, max(
                                       2, w // 5)), look.shoes)
    if look.bag:
        fill(
            lambda im, c: cv2.rectangle(im, (cx + half - 2,
                                             (torso_top + torso_bottom) // 2),
                                        (min(w - 1, cx + half + w // 5),
                                         torso_bottom + h // 10), c, -1),
            look.pattern_colour)
    if mirrored:
        canvas, mask = canvas[:, ::-1], mask[:, ::-1]
    region = image[y:y + h, x:x + w]
    region[mask > 0] = canvas[mask > 0]


def _draw_pattern(canvas: np.ndarray, look: Appearance,
                  torso: Tuple[int, int, int, int], lighting: float) -> None:
    """Draw the torso pattern of ``look`` inside ``torso`` (x1, y1, x2, y2).
    """
    x1, y1, x2, y2 = torso
    colour = _shade(look.pattern_colour, lighting)
    step = max(3, (y2 - y1) // 5)
    if look.pattern == 'hstripes':
        for yy in range(y1, y2, 2 * step):
            cv2.rectangle(canvas, (x1, yy), (x2, yy + step - 1), colour, -1)
    elif look.pattern == 'vstripes':
        for xx in range(x1, x2, 2 * step):
            cv2.rectangle(canvas, (xx, y1), (xx + step - 1, y2), colour, -1)
    elif look.pattern == 'checks':
        for yy in range(y1, y2, step):
            for xx in range(x1 + ((yy - y1) // step % 2) * step, x2, 2 * step):
                cv2.rectangle(canvas, (xx, yy), (xx + step - 1, yy + step - 1),
                              colour, -1)
    elif look.pattern == 'twotone':
        cv2.rectangle(canvas, ((x1 + x2) // 2, y1), (x2, y2), colour, -1)


def draw_occluder(rng: np.random.Generator, image: np.ndarray,
                  box: np.ndarray) -> None:
    """Hide 20-45 % of the person in ``box`` behind a solid object."""
    x, y, w, h = (int(v) for v in box)
    colour = _colour(rng)
    if rng.random() < 0.5:  # something low in front: a car, a bench
        top = y + int(h * rng.uniform(0.55, 0.8))
        cv2.rectangle(image, (x - w // 3, top), (x + w + w // 3, y + h),
                      colour, -1)
    else:  # something at one side: a pole, a sign
        cover = int(w * rng.uniform(0.2, 0.45))
        left = x if rng.random() < 0.5 else x + w - cover
        cv2.rectangle(image, (left, y - 5), (left + cover, y + h), colour, -1)


def apply_camera(image: np.ndarray, camera: CameraLook) -> np.ndarray:
    """Render ``image`` (H, W, 3) uint8 BGR through ``camera``:
    ``out = 255 * clip(in * gains * brightness / 255, 0, 1) ** gamma``,
    then the camera's blur. Returns a new uint8 image."""
    scaled = image.astype(np.float32) * (
        np.asarray(camera.gains, np.float32) * camera.brightness / 255.0)
    out = 255.0 * np.power(np.clip(scaled, 0.0, 1.0), camera.gamma)
    out = out.round().astype(np.uint8)
    if camera.blur:
        out = cv2.GaussianBlur(out, (camera.blur, camera.blur), 0)
    return out


def render_image(rng: np.random.Generator, plan: ImagePlan,
                 looks: List[Appearance],
                 image_size: Tuple[int, int]) -> np.ndarray:
    """Render one planned scene: (height, width, 3) uint8 BGR."""
    width, height = image_size
    image = draw_background(rng, width, height)
    for person in sorted(plan.persons, key=lambda p: p.box[1] + p.box[3]):
        draw_person(image, looks[person.identity], person.box, person.lighting,
                    person.mirrored)
        if person.occluded:
            draw_occluder(rng, image, person.box)
    if plan.camera is not None:
        image = apply_camera(image, plan.camera)
    return image
