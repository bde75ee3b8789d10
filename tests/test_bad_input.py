"""Bad input for the data layer: what users really produce, thrown at the readers, `verify` and `open_image`.

Everything runs in this process (no console script, no subprocess) on files of a few pixels: the tests take about 3 s in all, the
rest of this file's time is importing the library."""
import shutil
from pathlib import Path

import numpy as np, pytest
from PIL import Image, ImageFile

from uga_fast.core import ReIDDataError
from uga_fast.data import ReIDData, open_image
from uga_fast.datasets import load_reid
from uga_fast.test_utils import make_mini

PX = (np.random.default_rng(0).random((24, 12, 3))*255).astype(np.uint8)


def _jpg(path, px=PX):
    path = Path(path); path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(px).save(path)
    return path

def _cut(path, keep=0.5):
    "Cut the file to `keep` of its bytes, as an interrupted copy does"
    b = path.read_bytes(); path.write_bytes(b[:int(len(b)*keep)])
    return path

def _market(root):
    "A Market-1501 miniature and its files per folder, junk (pid -1, dropped by the reader) left out"
    ex = make_mini('market1501', root)
    return ex, {s: sorted(p for p in (ex['root']/s).iterdir() if not p.name.startswith('-1_'))
                for s in ('bounding_box_train', 'query', 'bounding_box_test')}

def _n_images(d): return len(d.train) + len(d.query) + len(d.gallery)

def _folder(root, tracklets, name='0001.jpg'):
    "A `folder` layout: one image per tracklet, `tracklets` like ['cam1/a', 'cam2/a']"
    for t in tracklets: _jpg(Path(root)/t/name)
    return Path(root)


# 1. truncated images

def test_truncated_jpeg_passes_pil_verify_but_not_open_image(tmp_path):
    f = _cut(_jpg(tmp_path/'big.jpg', np.tile(PX, (4, 4, 1))))
    with Image.open(f) as im: im.verify()                        # PIL's header check does not see it
    with pytest.raises(ReIDDataError) as e: open_image(f)
    msg = str(e.value)
    assert f"cannot read image '{f}': image file is truncated (no JPEG end marker in its {f.stat().st_size} bytes" in msg
    assert "Remove or replace the file; `load_reid(..., verify=True)` lists every unreadable image" in msg

@pytest.mark.parametrize('keep', [0.05, 0.3, 0.5, 0.9, 0.99])
def test_truncated_anywhere_is_named_truncated(tmp_path, keep):
    f = _cut(_jpg(tmp_path/'img.jpg', np.tile(PX, (4, 4, 1))), keep)   # cut in the headers or in the scan: PIL's words differ
    with pytest.raises(ReIDDataError, match="image file is truncated"): open_image(f)

def test_truncated_png(tmp_path):
    f = tmp_path/'img.png'; Image.fromarray(PX).save(f); _cut(f)
    with pytest.raises(ReIDDataError, match=r"img\.png': image file is truncated \(no PNG end marker"): open_image(f)

def test_verify_names_the_truncated_file(tmp_path):
    ex, f = _market(tmp_path)
    bad = _cut(f['bounding_box_train'][3])
    d = load_reid('market1501', tmp_path)                        # the readers do not decode
    assert len(d.train) == ex['n_train']
    for check in (d.verify, lambda: load_reid('market1501', tmp_path, verify=True)):
        with pytest.raises(ReIDDataError) as e: check()
        msg = str(e.value)
        assert msg.startswith(f"market1501: 1 of {_n_images(d)} images cannot be read; remove or replace them:")
        assert f"cannot read train image '{bad}': image file is truncated" in msg

def test_verify_lists_every_unreadable_image(tmp_path):
    ex, f = _market(tmp_path)
    bad = [_cut(p) for p in f['bounding_box_test'][:6]]
    f['query'][0].write_bytes(b'not an image at all')
    with pytest.raises(ReIDDataError) as e: load_reid('market1501', tmp_path, verify=True)
    msg = str(e.value)
    assert '7 of ' in msg and msg.endswith('... and 2 more')
    assert f"cannot read query image '{f['query'][0]}': cannot identify image file" in msg
    assert all(f"cannot read gallery image '{p}'" in msg for p in bad[:4]) and str(bad[5]) not in msg

def test_truncated_found_even_when_pil_pads_cut_files(tmp_path, monkeypatch):
    monkeypatch.setattr(ImageFile, 'LOAD_TRUNCATED_IMAGES', True)   # many re-ID code bases set it
    f = _cut(_jpg(tmp_path/'img.jpg', np.tile(PX, (4, 4, 1))))
    with pytest.raises(ReIDDataError, match="no JPEG end marker .* PIL pads such files when `ImageFile.LOAD_TRUNCATED_IMAGES` is set"):
        open_image(f)
    assert open_image(_jpg(tmp_path/'whole.jpg')).size == (12, 24)


# 2. zero-byte files

def test_zero_byte_file_stops_the_reader(tmp_path):
    ex, f = _market(tmp_path)
    f['query'][1].write_bytes(b'')
    with pytest.raises(ReIDDataError) as e: load_reid('market1501', tmp_path)
    assert str(e.value) == (f"market1501: 1 image file is empty (0 bytes): '{f['query'][1]}'. "
                            "An interrupted copy or download leaves such files: remove or replace them")

def test_many_zero_byte_files_counted_first_three_named(tmp_path):
    ex, f = _market(tmp_path)
    for p in f['bounding_box_test'][:5]: p.write_bytes(b'')
    with pytest.raises(ReIDDataError) as e: load_reid('market1501', tmp_path)
    g = f['bounding_box_test']
    assert f"5 image files are empty (0 bytes): '{g[0]}', '{g[1]}', '{g[2]}' and 2 more." in str(e.value)

@pytest.mark.parametrize('name', ['folder', 'msmt17'])
def test_zero_byte_file_other_layouts(tmp_path, name):
    if name == 'folder': root = _folder(tmp_path/'own', ['c1/a', 'c1/b', 'c2/a']); empty = root/'c1'/'b'/'0001.jpg'
    else: root = make_mini('msmt17', tmp_path)['root']; empty = sorted((root/'test').rglob('*.jpg'))[0]
    empty.write_bytes(b'')
    with pytest.raises(ReIDDataError, match=f"{name}: 1 image file is empty \\(0 bytes\\): '{empty}'"): load_reid(name, root)

def test_zero_byte_file_at_verify_and_open_image(tmp_path):
    f = _jpg(tmp_path/'a.jpg'); d = load_reid('folder', _folder(tmp_path/'own', ['c1/a', 'c2/a']))
    p = Path(d.train.path[0]); p.write_bytes(b'')                 # emptied after loading
    with pytest.raises(ReIDDataError, match=f"cannot read train image '{p}': the file is empty \\(0 bytes\\)"): d.verify()
    f.write_bytes(b'')
    with pytest.raises(ReIDDataError, match=f"cannot read image '{f}': the file is empty \\(0 bytes\\)"): open_image(f)

def test_open_image_missing_or_not_an_image(tmp_path):
    with pytest.raises(ReIDDataError, match=r"nowhere\.jpg': \[Errno 2\] No such file or directory"): open_image(tmp_path/'nowhere.jpg')
    (tmp_path/'notes.jpg').write_text('a text file')
    with pytest.raises(ReIDDataError, match=r"cannot read image '.*notes\.jpg': cannot identify image file"): open_image(tmp_path/'notes.jpg')


# 3. image modes

def _png_mode(path, mode):
    im = Image.fromarray(PX)
    if mode == 'P+transparency': im = im.convert('P'); im.info['transparency'] = 0; im.save(path, transparency=0)
    elif mode == 'CMYK': im.convert('CMYK').save(path.with_suffix('.jpg')); return path.with_suffix('.jpg')
    else: im.convert(mode).save(path)
    return path

@pytest.mark.parametrize('mode', ['RGB', 'L', 'LA', 'RGBA', 'P', 'P+transparency', 'CMYK', '1'])
def test_open_image_gives_rgb(tmp_path, mode):
    f = _png_mode(tmp_path/'img.png', mode)
    im = open_image(f)
    assert type(im).__name__ == 'PILImage' and im.mode == 'RGB'
    assert np.asarray(im).shape == (24, 12, 3) and np.asarray(im).dtype == np.uint8

def test_open_image_pixels(tmp_path):
    assert (np.asarray(open_image(_png_mode(tmp_path/'rgb.png', 'RGB'))) == PX).all()
    grey = np.asarray(open_image(_png_mode(tmp_path/'l.png', 'L')))
    assert (grey == np.asarray(Image.fromarray(PX).convert('L'))[..., None]).all()       # three equal channels
    Image.fromarray(np.dstack([PX, np.zeros_like(PX[..., :1])])).save(tmp_path/'clear.png')
    assert (np.asarray(open_image(tmp_path/'clear.png')) == PX).all()                    # alpha dropped, stored colours kept


# 4. a camera with one tracklet

def test_folder_camera_with_one_tracklet(tmp_path):
    d = load_reid('folder', _folder(tmp_path/'own', ['cam1/a', 'cam1/b', 'cam1/c', 'cam2/a']))
    assert [d.n_cams, d.n_tracklets, d.cam_names] == [2, [3, 1], ['cam1', 'cam2']]
    assert d.train[d.train.cam == 1].label.tolist() == [0]
    assert d.notes[-1] == ("camera cam2 holds a single tracklet: the intra-camera loss is zero on its images "
                           "(a softmax over one class); the cross-camera loss still uses them")
    assert 'tracklets per camera: cam1:3, cam2:1' in d.summary()

def test_every_camera_with_one_tracklet(tmp_path):
    d = load_reid('folder', _folder(tmp_path/'own', ['cam1/a', 'cam2/a', 'cam3/a']))
    assert d.n_tracklets == [1, 1, 1] and sorted(d.train.tracklet) == [0, 1, 2]
    assert d.notes[-1].startswith('cameras cam1, cam2, cam3 hold a single tracklet: the intra-camera loss is zero on their images')


# 5. a camera only in query

def test_camera_only_in_query(tmp_path):
    ex, f = _market(tmp_path)
    q = f['query'][0]; extra = q.parent/f'{q.name[:4]}_c9s1_999999_01.jpg'
    shutil.copy(q, extra)
    d = load_reid('market1501', tmp_path)
    T = ex['n_cams']
    assert d.n_cams == T and sorted(d.train.cam.unique()) == list(range(T))   # training cameras stay 0..T-1
    assert d.query.cam[d.query.path == str(extra)].tolist() == [T] and d.cam_names[T] == '9'
    assert f"cameras 9 appear only in query/gallery (ids {T}..{T})" in d.notes
    assert len(d.query) == ex['n_query'] + 1
    assert len(d.n_tracklets) == T                                            # no classifier branch for it


# 6. duplicates

def test_same_file_name_in_two_tracklet_folders(tmp_path):
    d = load_reid('folder', _folder(tmp_path/'own', ['c1/a', 'c1/b', 'c2/a']))
    assert [len(d.train), d.train.path.nunique(), d.n_tracklets] == [3, 3, [2, 1]]
    assert {Path(p).name for p in d.train.path} == {'0001.jpg'}

def test_names_differing_only_in_case_market(tmp_path):
    ex, f = _market(tmp_path)
    x = f['bounding_box_train'][0]; shutil.copy(x, x.with_suffix('.JPG'))
    with pytest.raises(ReIDDataError) as e: load_reid('market1501', tmp_path)
    assert str(e.value) == (f"market1501: 2 image files have a name that differs from another only in letter case, e.g. "
                            f"'{x.with_suffix('.JPG')}' and '{x}': the same image saved twice? (Windows and macOS would see one file) Keep one of each")

def test_names_differing_only_in_case_folder(tmp_path):
    root = _folder(tmp_path/'own', ['c1/a', 'c2/a']); _jpg(root/'c2'/'a'/'0001.JPG')
    with pytest.raises(ReIDDataError, match=r"folder: 2 image files .* only in letter case, e\.g\. '.*c2/a/0001\.JPG' and '.*c2/a/0001\.jpg'"):
        load_reid('folder', root)

def test_double_extension_next_to_single_is_two_images(tmp_path):
    ex, f = _market(tmp_path)
    dbl = next(p for p in f['query'] if p.name.endswith('.jpg.jpg'))
    shutil.copy(dbl, dbl.with_suffix(''))                          # x.jpg next to x.jpg.jpg: two names, both read
    assert len(load_reid('market1501', tmp_path).query) == ex['n_query'] + 1

def test_msmt17_line_listed_twice(tmp_path):
    root = make_mini('msmt17', tmp_path)['root']
    lst = root/'list_train.txt'; lines = lst.read_text().splitlines()
    lst.write_text('\n'.join(lines + [lines[2]]) + '\n')
    with pytest.raises(ReIDDataError) as e: load_reid('msmt17', tmp_path)
    assert str(e.value) == (f"msmt17: '{lst}' line {len(lines)+1} lists '{lines[2].split()[0]}' again (first listed on line 3 of '{lst}'): "
                            "each image must be listed once, remove the repeated lines")

def test_msmt17_image_in_train_and_val(tmp_path):
    root = make_mini('msmt17', tmp_path)['root']
    tr, val = root/'list_train.txt', root/'list_val.txt'
    first = tr.read_text().splitlines()[0]
    val.write_text(val.read_text() + first + '\n' + first + '\n')
    n_val = len(val.read_text().splitlines())
    with pytest.raises(ReIDDataError) as e: load_reid('msmt17', tmp_path)
    assert f"'{val}' line {n_val-1} lists '{first.split()[0]}' again (first listed on line 1 of '{tr}'); 2 such lines in all" in str(e.value)

def test_msmt17_query_listed_twice_and_bad_line_number(tmp_path):
    root = make_mini('msmt17', tmp_path)['root']
    q = root/'list_query.txt'; lines = q.read_text().splitlines()
    q.write_text('\n'.join([lines[0], '', lines[0]]) + '\n')       # blank lines keep the file's line numbers
    with pytest.raises(ReIDDataError, match=f"'{q}' line 3 lists '{lines[0].split()[0]}' again \\(first listed on line 1"): load_reid('msmt17', tmp_path)
    q.write_text(lines[0] + '\n' + lines[1].split()[0] + '\n')
    with pytest.raises(ReIDDataError, match=f"'{q}': cannot read line 2, '{lines[1].split()[0]}' \\(expected 'relative/path.jpg pid'\\)"):
        load_reid('msmt17', tmp_path)


# 7. non-ASCII paths

def test_non_ascii_market(tmp_path):
    root = tmp_path/'données'/'市场'
    ex, f = _market(root)
    u = f['bounding_box_train'][0]; u = u.rename(u.with_name(u.stem + '_ü.jpg'))
    d = load_reid('market1501', root, verify=True)
    assert [len(d.train), len(d.query), len(d.gallery)] == [ex['n_train'], ex['n_query'], ex['n_gallery']]
    assert str(u) in set(d.train.path)
    assert np.asarray(open_image(u)).shape == (32, 16, 3)

def test_non_ascii_folder(tmp_path):
    root = _folder(tmp_path/'données'/'市场', ['Kamera_ü/spur_ß', 'Kamera_ü/spur_2', 'カメラ/軌跡'], name='bild_ü.jpg')
    d = load_reid('folder', root, verify=True)
    assert d.cam_names == ['Kamera_ü', 'カメラ'] and d.n_tracklets == [2, 1]
    assert all(np.asarray(open_image(p)).shape == (24, 12, 3) for p in d.train.path)
    Path(d.train.path[0]).write_bytes(b'')
    with pytest.raises(ReIDDataError, match="bild_ü.jpg'"): load_reid('folder', root)


# 8. nothing left out silently (issue 14)

def _tree(root, files):
    "Write `files` (relative to `root`): an image in the format its extension names, text for any other name"
    root = Path(root)
    for f in files:
        (root/f).parent.mkdir(parents=True, exist_ok=True)
        fmt = Image.registered_extensions().get(Path(f).suffix.lower())
        if fmt: Image.fromarray(PX).save(root/f, format=fmt)
        else: (root/f).write_text('not an image')
    return root

BASE = ['c1/t1/0001.jpg', 'c1/t2/0001.jpg', 'c2/t1/0001.jpg']

@pytest.mark.parametrize('ext', ['.webp', '.tif', '.tiff', '.gif', '.ppm', '.pgm', '.png', '.BMP'])
def test_folder_reads_every_pil_format(tmp_path, ext):
    d = load_reid('folder', _tree(tmp_path, BASE + [f'c1/t1/0002{ext}']), verify=True)
    assert len(d.train) == 4 and str(tmp_path/'c1'/'t1'/f'0002{ext}') in set(d.train.path)
    assert open_image(tmp_path/'c1'/'t1'/f'0002{ext}').size == (12, 24)

def test_non_image_files_are_counted(tmp_path):
    d = load_reid('folder', _tree(tmp_path, BASE + ['c1/t1/notes.txt', 'c1/t2/Thumbs.db', 'c2/.DS_Store', 'c2/t1/a.csv']))
    assert len(d.train) == 3 and len(d.skipped['non-image files']) == 4
    assert "  skipped: 4 non-image files, e.g. 'c1/t1/notes.txt'" in d.summary().splitlines()

def test_market_thumbs_db_is_counted(tmp_path):
    ex, f = _market(tmp_path)
    (ex['root']/'bounding_box_test'/'Thumbs.db').write_bytes(b'\xd0\xcf\x11\xe0')
    d = load_reid('market1501', tmp_path)
    assert len(d.gallery) == ex['n_gallery'] and d.skipped == {'non-image files': [str(ex['root']/'bounding_box_test'/'Thumbs.db')]}
    assert "  skipped: 1 non-image file, e.g. 'bounding_box_test/Thumbs.db'" in d.summary()

@pytest.mark.parametrize('where', ['c1/x.jpg', 'c1/t1/sub/x.jpg', 'x.jpg'])
def test_folder_image_outside_a_tracklet_folder(tmp_path, where):
    root = _tree(tmp_path, BASE + [where])
    with pytest.raises(ReIDDataError) as e: load_reid('folder', root)
    assert str(e.value).startswith(f"folder: 1 image file is not directly in a tracklet folder: '{root/where}'. Expected {root}/<camera>/<tracklet>/*.jpg")

def test_folder_junk_person_is_dropped_and_counted(tmp_path):
    root = _tree(tmp_path, BASE + ['query/c1/0003/0001.jpg', 'gallery/c2/0003/0001.jpg', 'gallery/c2/-1/0001.jpg', 'gallery/c2/-1/0002.jpg'])
    d = load_reid('folder', root)
    assert [len(d.query), len(d.gallery), (d.gallery.pid == -1).sum()] == [1, 1, 0]
    assert d.dropped == {'junk images (pid -1) in gallery': 2} and '  dropped: 2 junk images (pid -1) in gallery' in d.summary()

@pytest.mark.parametrize('text,msg', [
    ('cam,tracklet,pid\n1,t1,5\n', "names camera '1' (first on line 2 (1,t1,5)) that is not a camera folder of"),
    ('cam,tracklet,pid\nc1,t1,1.5\n', "line 2 (c1,t1,1.5): pid '1.5' is not an integer"),
    ('cam,tracklet,pid\nc1,t1,abc\n', "line 2 (c1,t1,abc): pid 'abc' is not an integer"),
    ('cam,tracklet,pid\nc1,t1,5\nc1,t1,6\n', "line 3 (c1,t1,6) lists tracklet c1/t1 again (first on line 2 (c1,t1,5))"),
    ('cam,tracklet,pid\nc1,t9,5\n', "line 2 (c1,t9,5) names a tracklet that is not a folder of the layout"),
    ('', "is empty (expected a header line cam,tracklet,pid")])
def test_train_pids_csv_errors_name_the_file(tmp_path, text, msg):
    root = _tree(tmp_path, BASE); (root/'train_pids.csv').write_text(text)
    with pytest.raises(ReIDDataError) as e: load_reid('folder', root)
    assert f"folder: '{root/'train_pids.csv'}'" in str(e.value) and msg in str(e.value)

def test_open_image_16_bit_grayscale_is_scaled(tmp_path):
    g16 = np.linspace(0, 65535, 24*12).round().astype(np.uint16).reshape(24, 12)
    Image.fromarray(g16).save(tmp_path/'g.png')
    a = np.asarray(open_image(tmp_path/'g.png'))
    assert (a == np.rint(g16/257).astype(np.uint8)[..., None]).all() and a.min() == 0 and a.max() == 255

def test_open_image_applies_exif_orientation(tmp_path):
    exif = Image.Exif(); exif[0x0112] = 6
    Image.fromarray(PX).save(tmp_path/'s.jpg', exif=exif)
    with Image.open(tmp_path/'s.jpg') as im: raw = np.asarray(im.convert('RGB'))
    assert raw.shape == (24, 12, 3) and (np.asarray(open_image(tmp_path/'s.jpg')) == np.rot90(raw, k=-1)).all()
