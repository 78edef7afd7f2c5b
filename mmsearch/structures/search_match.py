"""The record of one gallery detection ranked against a query."""
from typing import NamedTuple, Sequence

import numpy as np


class SearchMatch(NamedTuple):
    """One gallery detection ranked against the query.

    Attributes:
        img_path (str): Gallery image path (``'array:<i>'`` for the i-th
            array given).
        bbox (np.ndarray): (4,) detection box [x1, y1, x2, y2] in the
            gallery image's original coordinates.
        score (float): Detection (person) score.
        similarity (float): Cosine similarity to the query feature.
    """
    img_path: str
    bbox: np.ndarray
    score: float
    similarity: float

    def to_dict(self) -> dict:
        """The match as JSON-ready Python numbers: ``img_path``, ``bbox``
        (list of 4 floats), ``score``, ``similarity``."""
        return dict(
            img_path=self.img_path,
            bbox=[float(v) for v in self.bbox],
            score=float(self.score),
            similarity=float(self.similarity))


def format_matches(matches: Sequence[SearchMatch]) -> str:
    """The ranked matches as a text table, one line per match and a header:
    ``rank  similarity  score  box (x1 y1 x2 y2)  image``."""
    lines = [
        f'{"rank":>4}  {"similarity":>10}  {"score":>6}  '
        f'{"box (x1 y1 x2 y2)":<23}  image'
    ]
    for rank, match in enumerate(matches, start=1):
        box = ' '.join(f'{float(v):.1f}' for v in match.bbox)
        lines.append(f'{rank:>4}  {match.similarity:>10.4f}  '
                     f'{match.score:>6.3f}  {box:<23}  {match.img_path}')
    return '\n'.join(lines)
