"""The build's progress: mmengine's ProgressBar over the units of this
process, on stderr, only when asked."""
import re

from mmsearch.apis import build_index


def test_build_shows_a_unit_progress_bar_when_asked(model, videos, gallery,
                                                    tmp_path, capsys):
    build_index(
        model,
        str(tmp_path / 'quiet.idx'),
        videos=[videos['good']],
        score_thr=0.0,
        show_progress=False)
    assert capsys.readouterr().err == ''
    build_index(
        model,
        str(tmp_path / 'shown.idx'),
        images=gallery['root'],
        videos=[videos['good']],
        score_thr=0.0,
        batch_size=3,
        show_progress=True)
    err = capsys.readouterr().err
    # 6 image units and one video unit; mmengine's bar shows done/total
    counts = re.findall(r'(\d+)/7\b', err)
    assert counts and counts[-1] == '7'
    assert 'ETA' in err and err.endswith('\n')
