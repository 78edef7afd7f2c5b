"""The build's progress line: images/s and an ETA that is '?' until a rate
is known (never 0:00:00 before the end)."""
import io

from mmsearch.apis import build_index
from mmsearch.index.builder import Progress


class FakeClock:

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def lines(stream):
    return [line for line in stream.getvalue().split('\r') if line]


def test_eta_from_the_finished_units():
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(4, stream=out, interval=0.0, clock=clock)
    clock.now += 5
    progress.update(0, 3)  # a first batch, no unit finished
    assert 'ETA ?' in lines(out)[-1]
    clock.now += 5
    progress.update(1, 4)  # 1 of 4 units in 10 s: 30 s left
    assert '1/4 units, 4 images, 0.40 images/s' in lines(out)[-1]
    assert lines(out)[-1].rstrip().endswith('ETA 0:00:30')
    clock.now += 30
    progress.update(4, 16)
    progress.close()
    assert lines(out)[-1].rstrip().endswith('ETA 0:00:00')


def test_no_eta_from_units_queued_but_not_embedded():
    """An image folder in batches of 4: the first image's unit counts as
    finished when the image is queued, before any is embedded; that is no
    rate (it showed 'ETA 0:00:00' on the first line of a 1000-image
    build)."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(1000, stream=out, interval=0.0, clock=clock)
    clock.now += 0.01
    progress.update(1, 0)
    assert lines(out)[-1].rstrip().endswith('ETA ?')
    clock.now += 1.0
    progress.update(4, 4)  # 4 of 1000 in 1.01 s: 996 x 1.01 / 4 s left
    assert lines(out)[-1].rstrip().endswith('ETA 0:04:11')


def test_eta_of_a_distributed_build_uses_this_process_share():
    """Rank 0 of 2 with 3 of the 5 units: after its first unit (10 s) the
    line shows 2 units by all, and 2 of its own units left (20 s)."""
    clock, out = FakeClock(), io.StringIO()
    progress = Progress(
        5, stream=out, interval=0.0, share=3, world_size=2, clock=clock)
    clock.now += 10
    progress.update(1, 2)
    assert '2/5 units, 4 images' in lines(out)[-1]
    assert lines(out)[-1].rstrip().endswith('ETA 0:00:20')
    clock.now += 20
    progress.update(3, 6)  # at most the total
    assert '5/5 units' in lines(out)[-1]


def test_a_one_video_build_shows_no_zero_eta_before_the_end(
        model, videos, tmp_path, capsys):
    """A video of 8 frames is one unit: the line moves per batch of 3
    frames with ETA '?', and reads 0:00:00 only when it is done (it read
    0:00:00 on its first and only line before)."""
    build_index(
        model,
        str(tmp_path / 'video.idx'),
        videos=[videos['good']],
        score_thr=0.0,
        batch_size=3,
        show_progress=True)
    shown = [
        line for line in capsys.readouterr().err.replace('\n', '\r').split(
            '\r') if line.startswith('[index]')
    ]
    assert len(shown) >= 2
    assert '0/1 units, 3 images' in shown[0]
    assert shown[0].rstrip().endswith('ETA ?')
    assert all('1/1 units' in line for line in shown
               if 'ETA 0:00:00' in line)
    assert '1/1 units, 8 images' in shown[-1]
    assert shown[-1].rstrip().endswith('ETA 0:00:00')
