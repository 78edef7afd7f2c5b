"""Helpers shared by the dataset tests (imported by name: the tests
folder is not a package)."""
import cv2
import numpy as np

from mmsearch.datasets.synthetic import SyntheticConfig

TINY = SyntheticConfig(
    num_train_ids=10,
    num_test_ids=5,
    num_train_images=20,
    num_test_images=52,
    image_size=(96, 128),
    gallery_sizes=(50, ),
    seed=3)


def write_image(path: str, width: int = 64, height: int = 48) -> None:
    """Write a small grey JPEG."""
    assert cv2.imwrite(path, np.full((height, width, 3), 128, np.uint8))


def instance_table(dataset) -> list:
    """Per image, the sorted (x1, y1, x2, y2, person_id) of its instances;
    the images sorted too (comparison independent of file names)."""
    table = []
    for index in range(len(dataset)):
        table.append(
            sorted(
                tuple(inst['bbox']) + (inst['person_id'], )
                for inst in dataset.get_data_info(index)['instances']))
    return sorted(table)
