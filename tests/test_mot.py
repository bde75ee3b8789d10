"""`load_reid('mot', …)` beyond the notebook: a read-only root, and training on tracklets without query/gallery.

Everything runs in this process (no console script, no subprocess); the scene is written once for the module (`scene`) and copied
without its crops by the tests that change it (`fresh`)."""
import os, shutil, stat
from pathlib import Path
import numpy as np, pytest
from PIL import Image
from uga_fast.core import ReIDDataError
from uga_fast.synthetic import write_mot_scene
from uga_fast.datasets import load_reid, read_mot

OFF = dict(min_len=1, min_height=0, min_conf=None, max_frames=None)

@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    root = tmp_path_factory.mktemp('mot')/'scene'
    return root, write_mot_scene(root)

def test_read_only_root_caches_under_uga_home(scene, tmp_path, monkeypatch):
    root, boxes = scene
    home = tmp_path/'home'; monkeypatch.setenv('UGA_FAST_HOME', str(home))
    real = os.access
    monkeypatch.setattr(os, 'access', lambda p, m, *a, **k: False if Path(p) == root and m == os.W_OK else real(p, m, *a, **k))
    d = load_reid('mot', root, **OFF)
    assert all(Path(p).is_relative_to(home/'mot_crops') for p in d.train.path)
    assert len(d.train) == len(boxes)
    assert not (root/'.uga_crops').exists() or not any((root/'.uga_crops').iterdir())

def test_trains_without_query_gallery_and_evaluate_says_so(scene):
    from uga_fast.sampler import ReIDDataLoaders
    from uga_fast.learner import UGALearner
    import fastai.callback.progress
    data = read_mot(scene[0], min_height=20)
    assert data.query.empty and 'no query/gallery: nothing to evaluate on' in data.summary()
    dls = ReIDDataLoaders.from_reid(data, bs=12, size=(32, 16), device='cpu')
    learn = UGALearner(dls, arch='resnet10t', pretrained=False, emb_dim=32, seed=0)
    with learn.no_bar(), learn.no_logging(): learn.fit_intra(1, lr=1e-3)
    with pytest.raises(ValueError, match='mot: no query/gallery to evaluate on'): learn.evaluate()

def fresh(scene, tmp_path)->Path:
    "A copy of the scene without crops, to change"
    root = tmp_path/'scene'
    shutil.copytree(scene[0], root, ignore=shutil.ignore_patterns('.uga_crops'))
    return root

def copies(root)->list:
    "The complete crop copies in `root`'s cache"
    return sorted(p.name for p in (root/'.uga_crops').iterdir() if (p/'mot.json').exists())

def cache_of(d)->Path: return Path(d.train.path[0]).parents[2]

def test_frames_rewritten_in_place_are_cut_anew(scene, tmp_path):
    root, boxes = fresh(scene, tmp_path), scene[1].set_index(['cam', 'track', 'frame'])
    before = read_mot(root, **OFF)
    fr = root/'c0'/'img1'/'000006.png'; st = fr.stat()
    new = 255 - np.asarray(Image.open(fr))
    Image.fromarray(new).save(fr)                                  # same name, new pixels
    os.utime(fr, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))      # a new mtime even where clocks are coarse
    after = read_mot(root, **OFF)
    assert cache_of(after) != cache_of(before)
    crops = [Path(p) for p in after.train.path if p.endswith('/000006.png') and Path(p).parents[1].name == 'c0']
    assert crops
    for p in crops:
        b = boxes.loc[('c0', int(p.parent.name), 6)]
        assert (np.asarray(Image.open(p)) == new[b.y0c:b.y1c, b.x0c:b.x1c]).all()
    os.utime(fr, ns=(st.st_atime_ns, st.st_mtime_ns + 2*10**9))    # only the mtime changes: a new key too
    assert cache_of(read_mot(root, **OFF)) != cache_of(after)

def test_a_new_copy_removes_the_copies_of_older_files(scene, tmp_path):
    root = fresh(scene, tmp_path)
    read_mot(root, **OFF); read_mot(root, **{**OFF, 'max_frames': 6})
    old = copies(root)
    assert len(old) == 2                                            # other options, same files: both kept
    f = root/'c0'/'c0.txt'; f.write_text(''.join(f.read_text().splitlines(True)[:-1]))   # the tracks file edited
    (root/'.uga_crops'/'.writing-other').mkdir()                    # another load writing meanwhile: left alone
    d = read_mot(root, **OFF)
    assert copies(root) == [cache_of(d).name] and cache_of(d).name not in old
    assert (root/'.uga_crops'/'.writing-other').is_dir()
    assert all(os.path.exists(p) for p in d.train.path)
    read_mot(root, **{**OFF, 'max_frames': 6})
    assert len(copies(root)) == 2

def test_a_late_load_of_older_files_removes_no_current_copy(scene, tmp_path, monkeypatch):
    "A load keyed on the files before an edit finishes after a load of the edited ones: both keep their crops"
    import uga_fast.datasets as ds
    root, real, cur = fresh(scene, tmp_path), ds._crop_cache, {}
    f = root/'c0'/'c0.txt'
    def meanwhile(*a, **k):
        out = real(*a, **k)                                          # this load's key: the files as they were
        monkeypatch.setattr(ds, '_crop_cache', real)
        os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))   # the tracks edited ...
        cur['d'] = read_mot(root, **OFF)                             # ... and loaded again, done first
        return out
    monkeypatch.setattr(ds, '_crop_cache', meanwhile)
    late = read_mot(root, **{**OFF, 'max_frames': 6})
    assert cache_of(late) != cache_of(cur['d'])
    assert all(os.path.exists(p) for p in late.train.path)           # its own copy, of the older files
    assert all(os.path.exists(p) for p in cur['d'].train.path)       # and the current one
    read_mot(root, **{**OFF, 'max_frames': 5})                       # the next copy written removes the stale one
    assert not cache_of(late).exists() and cache_of(cur['d']).exists()

def test_cache_folders_follow_the_umask(scene, tmp_path):
    root = fresh(scene, tmp_path)
    old = os.umask(0o002)
    try: d = read_mot(root, **OFF)
    finally: os.umask(old)
    for p in (cache_of(d), cache_of(d).parent, Path(d.train.path[0]).parent):
        assert stat.S_IMODE(p.stat().st_mode) == 0o775, (p, oct(p.stat().st_mode))

def _jpeg_frames(root, cam='c0'):
    "The camera's frames as JPEG files"
    for p in sorted((root/cam/'img1').glob('*.png')): Image.open(p).convert('RGB').save(p.with_suffix('.jpg'), quality=95); p.unlink()

def _cut(p): p.write_bytes(p.read_bytes()[:p.stat().st_size//2])

BROKEN = {  # how a frame of c0 is broken, the frame, what the error says
    'truncated jpeg': (lambda r: (_jpeg_frames(r), _cut(r/'c0'/'img1'/'000006.jpg')), '000006.jpg', ': image file is truncated'),
    'garbage first frame': (lambda r: (r/'c0'/'img1'/'000001.png').write_bytes(b'not an image'), '000001.png', ': not an image file PIL can identify'),
    'garbage frame': (lambda r: (r/'c0'/'img1'/'000006.png').write_bytes(b'not an image'), '000006.png', ': not an image file PIL can identify'),
    'other size': (lambda r: Image.new('RGB', (100, 50)).save(r/'c0'/'img1'/'000006.png'), '000006.png', ' is 100x50, its camera\'s first frame 224x128'),
}

@pytest.mark.parametrize('how', list(BROKEN))
def test_a_broken_frame_is_one_line_naming_it_and_leaves_no_half_copy(scene, tmp_path, how):
    root = fresh(scene, tmp_path)
    assert (scene[1][scene[1].cam == 'c0'].frame == 6).any()       # frame 6 of c0 holds boxes: it is read
    brk, name, says = BROKEN[how]; brk(root)
    with pytest.raises(ReIDDataError) as e: read_mot(root, **OFF)
    msg = str(e.value)
    assert f"mot: cannot read frame '{root/'c0'/'img1'/name}'" in msg or f"frame '{root/'c0'/'img1'/name}'" in msg
    assert says in msg and '\n' not in msg
    if how != 'other size': assert 'expected an image file PIL decodes whole' in msg
    assert e.value.__cause__ is None and e.value.__suppress_context__ or how == 'other size'
    assert not list((root/'.uga_crops').glob('.writing-*'))

def test_ids_beyond_2_53_are_exact(scene, tmp_path):
    "Ids 2**53 and 2**53+1 in disjoint frames of one camera are two tracklets, each in its own folder"
    root = fresh(scene, tmp_path); a = 2**53
    lines = [f"{fr},{a if fr <= 6 else a+1},20,10,40,90,0.9,-1,-1,-1" for fr in range(1, 13)]
    lines[2] = f"3.0,{a},20,10,40,90,0.9,-1,-1,-1"; lines[3] = f"004,+{a},20,10,40,90,0.9,-1,-1,-1"   # written forms of whole numbers
    (root/'c0'/'c0.txt').write_text('\n'.join(lines) + '\n')
    d = read_mot(root, **OFF)
    c0 = d.train[d.train.cam == d.cam_names.index('c0')]
    assert sorted(c0.path.map(lambda p: Path(p).parent.name).unique()) == [str(a), str(a+1)]
    assert c0.tracklet.nunique() == 2 and c0.groupby('tracklet').size().tolist() == [6, 6]
