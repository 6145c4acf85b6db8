"""`streamdeblur run photo.jpg -o sharp.png`: a still picture in, a still picture out, upright
(EXIF orientation), at its depth, never half-written, and video-only options refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner
from videofiles import hidden, write_video

from streamdeblur.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


def run(*args: object):
    return runner.invoke(app, ["run", *map(str, args)])


def picture(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_a_phone_photo_comes_out_upright_and_otherwise_untouched_by_an_identity_model(tmp_path, tiny_weights):
    """A phone stores a portrait photo on its side with EXIF orientation 6 ("turn 90 degrees clockwise");
    the turn must be in the output's pixels (its EXIF copy says upright)."""
    img = picture()
    src = tmp_path / "portrait.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(img).save(src, quality=100, exif=exif.tobytes())
    shown = np.asarray(Image.open(src).transpose(Image.Transpose.ROTATE_270))  # how a viewer shows it: 48 wide
    out = tmp_path / "sharp.png"
    res = run(src, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "done: 48x64 picture" in res.stdout and str(out) in res.stdout
    got = cv2.cvtColor(cv2.imread(str(out)), cv2.COLOR_BGR2RGB)
    assert got.shape == (64, 48, 3)
    assert np.abs(got.astype(int) - shown).mean() < 1  # the same picture (JPEG decoders differ by a level)
    assert hidden(tmp_path) == []


XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description xmp:Rating="5"/></x:xmpmeta>'


def _phone_photo(path: Path, icc: bytes) -> Image.Image:
    """A photo as a phone or camera writes it: on its side with orientation 6, a colour profile,
    a date, the camera's name, a GPS position and an XMP rating."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0132] = "2026:07:14 18:03:11"
    exif[0x010F] = "PhoneMaker"
    exif.get_ifd(0x8825)[2] = (43.0, 12.0, 5.5)  # GPSLatitude
    im = Image.fromarray(picture(seed=4))
    im.save(path, quality=100, exif=exif.tobytes(), icc_profile=icc, xmp=XMP)
    return im


def test_a_picture_says_what_it_runs_on_before_the_work(tmp_path, tiny_weights):
    """A 24-megapixel photo takes minutes on a CPU, and the run printed nothing until it was done: one
    line before the work names the size, the backend and the tiles (a real run's stderr)."""
    src = tmp_path / "wide.png"
    cv2.imwrite(str(src), picture(40, 72))
    out = tmp_path / "sharp.png"
    cli = [str(Path(sys.executable).with_name("streamdeblur"))]
    args = ["run", str(src), "-o", str(out), "-w", str(tiny_weights), "--backend", "torch", "--max-tile", "32"]
    res = subprocess.run([*cli, *args], capture_output=True, text=True, timeout=300, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stderr.splitlines() == [
        f"streamdeblur: {src}: 72x40 picture, backend torch on cpu (fp32), in 32x32 tiles",
    ]
    assert res.stdout.startswith("done: 72x40 picture")
    res = subprocess.run([*cli, *args[:-2], "-o", str(tmp_path / "b.png"), "-q"], capture_output=True, text=True)
    assert res.returncode == 0 and res.stderr == "" and res.stdout == ""


@pytest.mark.parametrize("ext", [".jpg", ".png", ".webp"])
def test_a_photos_colour_profile_exif_and_xmp_are_kept_and_it_shows_upright_once(tmp_path, tiny_weights, ext):
    """Dropping the profile makes a wide-gamut photo look dull; dropping EXIF loses its date and place.
    The EXIF orientation must say upright now, or a viewer would turn the upright pixels again."""
    from PIL import ImageCms, ImageOps

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "phone.jpg"
    _phone_photo(src, icc)
    out = tmp_path / f"sharp{ext}"
    res = run(src, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "warning" not in res.stderr
    got = Image.open(out)
    assert got.info.get("icc_profile") == icc
    exif = got.getexif()
    assert exif[0x0132] == "2026:07:14 18:03:11" and exif[0x010F] == "PhoneMaker"
    assert exif.get_ifd(0x8825)[2] == (43.0, 12.0, 5.5)
    assert exif[0x0112] == 1
    xmp = got.info.get("xmp") or got.info.get("XML:com.adobe.xmp")
    assert xmp is not None and (xmp if isinstance(xmp, bytes) else xmp.encode()).strip(b"\0") == XMP
    assert ImageOps.exif_transpose(got).size == (48, 64)  # what a viewer shows: portrait, as the input


def test_a_large_profile_spans_jpeg_segments_and_tiff_output_says_what_it_loses(tmp_path, tiny_weights):
    icc = bytes(np.random.default_rng(5).integers(0, 256, 150_000, dtype=np.uint8))  # three APP2 segments
    src = tmp_path / "camera.jpg"
    _phone_photo(src, icc)
    res = run(src, "-o", tmp_path / "out.jpg", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "out.jpg").info.get("icc_profile") == icc
    res = run(src, "-o", tmp_path / "out.tif", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "ICC colour profile and EXIF and XMP cannot be written into .tif" in res.stderr
    # a 16-bit PNG keeps its profile and its depth
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.full((8, 8, 3), 40000, np.uint16))
    with_profile = tmp_path / "deep_icc.png"
    data = deep.read_bytes()
    from streamdeblur.picmeta import PictureMeta, carry

    with_profile.write_bytes(carry(PictureMeta(icc=icc), data, ".png", 8, 8)[0])
    res = run(with_profile, "-o", tmp_path / "deep_out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert Image.open(tmp_path / "deep_out.png").info.get("icc_profile") == icc
    assert cv2.imread(str(tmp_path / "deep_out.png"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def test_16_bit_png_stays_16_bit_and_a_jpeg_of_it_says_it_loses_depth(tmp_path, tiny_weights):
    rng = np.random.default_rng(3)
    deep = rng.integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    src = tmp_path / "scan.png"
    cv2.imwrite(str(src), deep[..., ::-1])
    res = run(src, "-o", tmp_path / "out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    got = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert got.dtype == np.uint16 and np.array_equal(got, deep)  # identity model, lossless: every bit
    res = run(src, "-o", tmp_path / "out.jpg", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "warning: the input is 16-bit; .jpg holds 8 bits: the output loses depth" in res.stderr
    assert cv2.imread(str(tmp_path / "out.jpg"), cv2.IMREAD_UNCHANGED).dtype == np.uint8


def test_a_transparent_png_says_its_transparency_is_dropped(tmp_path, tiny_weights):
    rgba = np.dstack([picture(), np.full((48, 64), 90, np.uint8)])
    src = tmp_path / "logo.png"
    cv2.imwrite(str(src), rgba[..., [2, 1, 0, 3]])
    res = run(src, "-o", tmp_path / "out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "logo.png has an alpha channel; the output has none: transparency is dropped" in res.stderr
    assert np.array_equal(cv2.imread(str(tmp_path / "out.png"))[..., ::-1], rgba[..., :3])


def test_a_grey_picture_with_alpha_comes_out_grey_and_an_opaque_alpha_is_not_warned(tmp_path, tiny_weights):
    """A grey scan with an alpha channel (PNG's grey + alpha) stays grey, as a grey one does (OpenCV reads
    it as BGRA, and it came out in colour); a screenshot whose alpha is opaque everywhere loses nothing, so
    no warning says its transparency is dropped."""
    grey = picture()[..., 0]
    src = tmp_path / "scan.png"
    Image.fromarray(np.dstack([grey, np.full_like(grey, 200)]), "LA").save(src)
    res = run(src, "-o", tmp_path / "out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "scan.png has an alpha channel; the output has none: transparency is dropped" in res.stderr
    got = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert got.shape == (48, 64) and np.array_equal(got, grey)
    shot = tmp_path / "screenshot.png"
    Image.fromarray(np.dstack([picture(), np.full((48, 64), 255, np.uint8)]), "RGBA").save(shot)
    res = run(shot, "-o", tmp_path / "shot.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "alpha channel" not in res.stderr
    assert cv2.imread(str(tmp_path / "shot.png"), cv2.IMREAD_UNCHANGED).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("name", "what"), [("anim.png", "4 frames"), ("anim.webp", "4 frames"), ("scan.tif", "4 pages")]
)
def test_an_animated_png_or_webp_or_a_multipage_tiff_says_only_its_first_frame_is_deblurred(
    tmp_path, tiny_weights, name, what
):
    """An animated PNG or WebP, or a TIFF of several pages (a scanned document): OpenCV reads the first
    only; the output was one picture and nothing said the other three were left out."""
    frames = [Image.fromarray(picture(seed=i)) for i in range(4)]
    src = tmp_path / name
    frames[0].save(src, save_all=True, append_images=frames[1:], duration=100, loop=0)
    res = run(src, "-o", tmp_path / "out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert f"{name} holds {what}; only the first is deblurred" in res.stderr, res.stderr
    plain = tmp_path / f"plain{Path(name).suffix}"
    frames[0].save(plain)
    res = run(plain, "-o", tmp_path / "plain-sharp.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0 and "only the first" not in res.stderr, res.output


def _huge_png(path: Path, width: int, height: int) -> None:
    """A valid 1-bit black PNG of ``width`` x ``height`` (a few hundred kilobytes on disk)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    z = zlib.compressobj(1)
    row = bytes(1 + (width + 7) // 8)
    idat = b"".join(z.compress(row) for _ in range(height)) + z.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


def test_a_picture_above_opencvs_size_limit_says_so_not_that_it_is_no_picture(tmp_path, tiny_weights):
    """A 33000x33000 PNG (a stitched panorama, a gigapixel scan): OpenCV refuses above 2^30 pixels, and the
    line said the file 'is not a picture OpenCV can read; pass a .png ... file' of a valid PNG."""
    src = tmp_path / "panorama.png"
    _huge_png(src, 33000, 33000)
    res = run(src, "-o", tmp_path / "out.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert "panorama.png is larger than OpenCV reads" in line and "OPENCV_IO_MAX_IMAGE_PIXELS" in line, line
    assert "not a picture" not in line and not (tmp_path / "out.png").exists()


def test_sigterm_stops_a_large_picture_at_once_not_after_its_inference(tmp_path):
    """A 3-megapixel photo takes seconds on a CPU (a 24-megapixel one minutes); the signal was handled
    only once the model's call returned, so Ctrl-C or SIGTERM waited for all of it, where the README
    promises the process gone within a second. Now it stops at once, exit 143, and writes nothing."""
    import signal
    import time

    src = tmp_path / "photo.jpg"
    cv2.imwrite(str(src), picture(1500, 2000))
    out = tmp_path / "sharp.png"
    cli = [str(Path(sys.executable).with_name("streamdeblur")), "run", str(src), "-o", str(out)]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    first = proc.stderr.readline()  # the start line: the backend is open, the model's call begins
    assert "2000x1500 picture" in first, first
    time.sleep(3)  # well inside the model's call (some 12 s on a loaded 2-core CPU)
    proc.send_signal(signal.SIGTERM)
    sent = time.monotonic()
    _, err = proc.communicate(timeout=300)
    took = time.monotonic() - sent
    assert proc.returncode == 143, first + err
    assert "interrupted (stopped by SIGTERM)" in err
    assert took < 2, f"the run took {took:.1f} s to stop"
    assert not out.exists() and hidden(tmp_path) == []


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_a_cmyk_jpegs_print_profile_is_not_copied_into_the_rgb_output(tmp_path, tiny_weights, ext):
    """A print-ready CMYK JPEG (Photoshop's, a magazine's) carries a CMYK colour profile; the output is RGB,
    and the profile was copied into it anyway (a PNG's iCCP then invalid, a JPEG's colours misread by
    colour-managed viewers). It is now left out, with a warning; an RGB profile is still kept."""
    from PIL import ImageCms

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    cmyk_profile = srgb[:16] + b"CMYK" + srgb[20:]  # the header's colour space is what a reader goes by
    src = tmp_path / "print.jpg"
    Image.fromarray(picture()).convert("CMYK").save(src, quality=95, icc_profile=cmyk_profile)
    out = tmp_path / f"out{ext}"
    res = run(src, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "print.jpg's colour profile is for CMYK" in res.stderr and "not copied" in res.stderr, res.stderr
    assert Image.open(out).info.get("icc_profile") is None
    rgb = tmp_path / "rgb.jpg"
    Image.fromarray(picture()).save(rgb, quality=95, icc_profile=srgb)
    res = run(rgb, "-o", tmp_path / f"rgb-out{ext}", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0 and "colour profile" not in res.stderr, res.output
    assert Image.open(tmp_path / f"rgb-out{ext}").info.get("icc_profile") == srgb


@pytest.mark.parametrize("ext", [".ppm", ".avif"])
def test_a_picture_in_a_format_not_read_here_is_named_as_a_picture(tmp_path, tiny_weights, ext):
    """``run photo.ppm -o sharp.png``: the line said the input 'is not' a still picture and told the user
    to 'write a video to a video file'; it now says the format is not read here and how to go on."""
    src = tmp_path / f"photo{ext}"
    src.write_bytes(b"not read")
    res = run(src, "-o", tmp_path / "sharp.png", "-w", tiny_weights)
    assert res.exit_code == 2
    (line,) = res.stderr.strip().splitlines()
    assert line.startswith(f"streamdeblur: error: {src} is a {ext} picture, which is not read here;"), line
    assert "convert it to PNG" in line and ".png, .jpg" in line and "video" not in line, line


def test_the_shipped_model_sharpens_a_blurred_picture(tmp_path):
    """A crop of the quick-start clip's frame 60 (blurred by a panning camera) and its sharp reference."""
    import av

    def frame(name: str) -> np.ndarray:
        with av.open(str(ROOT / "samples" / name)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i == 60:
                    return f.to_ndarray(format="rgb24")[80:272, 200:456]
        raise AssertionError("short clip")

    blurry, sharp = frame("mountains.mp4"), frame("mountains_sharp.mp4")
    src, out = tmp_path / "blurry.png", tmp_path / "sharp.png"
    cv2.imwrite(str(src), blurry[..., ::-1])
    res = run(src, "-o", out, "--backend", "torch")
    assert res.exit_code == 0, res.output
    got = cv2.imread(str(out))[..., ::-1]

    def psnr(a: np.ndarray) -> float:
        return float(10 * np.log10(255**2 / np.mean((a.astype(float) - sharp) ** 2)))

    assert psnr(got) > psnr(blurry) + 0.2


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--crf", "20", "--preset", "slow"],
            "--crf, --preset apply to video; out.jpg is a picture (JPEG and WebP are written at quality 95, "
            "PNG and TIFF losslessly); leave them out, or write a video file (.mp4, .mkv ...)",
        ),
        (["--codec", "ffv1"], "--codec applies to video; out.jpg is a picture"),
    ],
)
def test_video_only_options_are_refused_for_a_picture(tmp_path, monkeypatch, args, line):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("in.png", picture())
    res = run("in.png", "-o", "out.jpg", *args)
    assert res.exit_code == 2 and res.stderr.startswith(f"streamdeblur: error: {line}")
    assert len(res.stderr.splitlines()) == 1 and not (tmp_path / "out.jpg").exists()


def test_mistakes_with_pictures_are_one_line_and_leave_everything_as_it_was(tmp_path, tiny_weights):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), picture())
    video = tmp_path / "clip.mkv"
    write_video(video, [picture()] * 3)

    def refused(*args: object) -> str:
        res = run(*args, "-w", tiny_weights, "--backend", "torch")
        assert res.exit_code == 2, res.output
        assert len(res.stderr.splitlines()) == 1
        return res.stderr

    assert "out.png is a still picture and" in refused(video, "-o", tmp_path / "out.png")
    (tmp_path / "not-a-picture.jpg").write_text("hello")
    assert "is not a picture OpenCV can read" in refused(tmp_path / "not-a-picture.jpg", "-o", tmp_path / "o.png")
    assert f"the output {src} is the input" in refused(src, "-o", src, "--overwrite")
    before = cv2.imread(str(src))
    (tmp_path / "taken.png").write_bytes(b"mine")
    assert "already exists; pass --overwrite" in refused(src, "-o", tmp_path / "taken.png")
    assert (tmp_path / "taken.png").read_bytes() == b"mine" and np.array_equal(cv2.imread(str(src)), before)
    replaced = run(src, "-o", tmp_path / "taken.png", "--overwrite", "-w", tiny_weights, "--backend", "torch")
    assert replaced.exit_code == 0, replaced.output
    assert np.array_equal(cv2.imread(str(tmp_path / "taken.png")), before)
    assert "is a picture among videos; pictures and videos go in separate runs" in refused(
        src, video, "-o", tmp_path / "outdir"
    )
    assert "in.png is a picture and" in refused(src, "-o", tmp_path / "in.mp4")  # a 1-frame video, on its side
    (tmp_path / "sharp").mkdir()
    into = run(src, "-o", f"{tmp_path / 'sharp'}/", "-w", tiny_weights, "--backend", "torch")  # -o a folder
    assert into.exit_code == 0 and np.array_equal(cv2.imread(str(tmp_path / "sharp" / "in.png")), before)
    assert hidden(tmp_path) == []


def test_a_folder_of_pictures_goes_into_a_folder_one_bad_picture_failing_alone(tmp_path, tiny_weights):
    shots = tmp_path / "shots"
    shots.mkdir()
    pics = {"a.png": picture(seed=1), "b.jpg": picture(seed=2)}
    for name, img in pics.items():
        cv2.imwrite(str(shots / name), img[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 100])
    (shots / "c.png").write_bytes(b"not a picture")
    out = tmp_path / "sharp"

    def batch(*extra: str):
        return run(shots, "-o", f"{out}/", "-w", tiny_weights, "--backend", "torch", *extra)

    res = batch()
    assert res.exit_code == 1, res.output  # one failed: said, and the others are done
    assert "done: 2 of 3 pictures (1 failed)" in res.stdout
    assert "failed  " in res.stderr and "c.png is not a picture OpenCV can read" in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.jpg"]
    assert np.array_equal(cv2.imread(str(out / "a.png")), cv2.imread(str(shots / "a.png")))  # the identity model
    (shots / "c.png").unlink()
    before = (out / "b.jpg").stat().st_mtime_ns
    again = batch()
    assert again.exit_code == 0 and "done: 2 of 2 pictures (2 skipped)" in again.stdout
    assert (out / "b.jpg").stat().st_mtime_ns == before  # a finished picture is not redone
    assert batch("--overwrite").exit_code == 0 and (out / "b.jpg").stat().st_mtime_ns != before
    assert hidden(out) == []
    res = run(shots, "-o", f"{out}/", "--segments", "2")
    assert res.exit_code == 2 and "--segments applies to video; the inputs are pictures" in res.stderr


def test_an_empty_picture_is_one_line_alone_and_fails_alone_in_a_folder(tmp_path, tiny_weights):
    """A zero-byte file (a failed copy or download): OpenCV's decoder asserts on it (cv2.error, no None)."""
    empty = tmp_path / "zero.png"
    empty.write_bytes(b"")
    res = run(empty, "-o", tmp_path / "z.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 2, res.output
    assert res.stderr.splitlines() == [
        f"streamdeblur: error: input {empty} is empty (0 bytes); copy or save the picture again"
    ]
    assert not (tmp_path / "z.png").exists()
    shots = tmp_path / "pics"
    shots.mkdir()
    cv2.imwrite(str(shots / "a.png"), picture(seed=1))
    (shots / "b.png").write_bytes(b"")
    cv2.imwrite(str(shots / "c.jpg"), picture(seed=2))
    out = tmp_path / "out"
    res = run(shots, "-o", f"{out}/", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 1, res.output  # as any unreadable picture: it fails alone, the others are done
    assert "done: 2 of 3 pictures (1 failed)" in res.stdout
    assert f"failed  {shots / 'b.png'}: input {shots / 'b.png'} is empty (0 bytes)" in res.stderr
    assert "internal error" not in res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.jpg"] and hidden(out) == []


def test_pictures_beside_videos_in_a_folder_are_named_as_left_out(tmp_path, caplog):
    import logging

    from streamdeblur.batch.jobs import collect_inputs

    folder = tmp_path / "card"
    folder.mkdir()
    write_video(folder / "clip.mkv", [picture()] * 2)
    cv2.imwrite(str(folder / "still.jpg"), picture())
    with caplog.at_level(logging.WARNING, logger="streamdeblur"):
        assert collect_inputs([folder]) == [folder / "clip.mkv"]
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and f"folder {folder}: 1 picture left out" in said[0]


@pytest.mark.parametrize("ext", [".png", ".jpg"])
def test_a_grey_picture_comes_out_grey(tmp_path, tiny_weights, ext):
    """A scan or a monochrome camera's frame: the model's three output channels differ by a level
    or two, which written as colour is a faint tint (and three times the samples)."""
    rng = np.random.default_rng(6)
    grey = cv2.GaussianBlur(rng.integers(0, 256, (48, 64), dtype=np.uint8), (0, 0), 2)
    src = tmp_path / "scan.png"
    cv2.imwrite(str(src), grey)
    out = tmp_path / f"sharp{ext}"
    res = run(src, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert got.ndim == 2 and got.shape == (48, 64)
    deep = tmp_path / "scan16.png"
    cv2.imwrite(str(deep), grey.astype(np.uint16) * 257)
    res = run(deep, "-o", tmp_path / "sharp16.png", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    got = cv2.imread(str(tmp_path / "sharp16.png"), cv2.IMREAD_UNCHANGED)
    assert got.ndim == 2 and got.dtype == np.uint16


def test_a_phones_heic_or_a_raw_file_is_one_line_saying_how_to_convert_it(tmp_path, tiny_weights):
    """An iPhone's default format and camera RAW: neither reader here takes them whole (FFmpeg would
    give one tile of a HEIC as if it were the picture), so they are refused by name, not misread."""
    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(b"\0\0\0\x18ftypheic" + bytes(64))
    for out in ("sharp.jpg", "sharp.mp4"):
        res = run(heic, "-o", tmp_path / out, "-w", tiny_weights)
        assert res.exit_code == 2 and len(res.stderr.strip().splitlines()) == 1, res.output
        assert "IMG_0001.HEIC is a HEIC picture, which cannot be read here" in res.stderr
        assert "heif-convert IMG_0001.HEIC IMG_0001.jpg" in res.stderr
    raw = tmp_path / "DSC_0002.NEF"
    raw.write_bytes(b"II*\0" + bytes(64))
    res = run(raw, "-o", tmp_path / "sharp.tif", "-w", tiny_weights)
    assert res.exit_code == 2 and "DSC_0002.NEF is a RAW picture" in res.stderr and "16-bit TIFF" in res.stderr
    # in a folder beside pictures that can be read: named as left out, the others done
    shots = tmp_path / "shots"
    shots.mkdir()
    heic.rename(shots / heic.name)
    cv2.imwrite(str(shots / "b.png"), picture())
    res = run(shots, "-o", tmp_path / "sharp", "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    assert "folder" in res.stderr and "1 HEIC/RAW picture left out (IMG_0001.HEIC)" in res.stderr
    assert sorted(p.name for p in (tmp_path / "sharp").iterdir()) == ["b.png"]


def _camera_tiff(path: Path, img: np.ndarray) -> None:
    """An uncompressed RGB TIFF as a camera or raw developer writes it: Make, Model and DateTime in
    IFD0, an EXIF IFD (DateTimeOriginal, ExposureTime, an interoperability IFD pointer) and a GPS IFD.
    Written by hand, little-endian: Pillow's TIFF writer drops the EXIF and GPS IFDs."""
    import struct

    h, w = img.shape[:2]

    def ifd(entries: list[tuple[int, int, int, bytes]], at: int) -> tuple[bytes, bytes]:
        head, data = struct.pack("<H", len(entries)), b""
        data_at = at + 2 + 12 * len(entries) + 4
        for tag, kind, n, value in sorted(entries):
            if len(value) > 4:
                head += struct.pack("<HHII", tag, kind, n, data_at + len(data))
                data += value + b"\0" * (len(value) & 1)
            else:
                head += struct.pack("<HHI", tag, kind, n) + value.ljust(4, b"\0")
        return head + b"\0\0\0\0", data

    def ascii_(s: str) -> tuple[int, bytes]:
        return len(s) + 1, s.encode() + b"\0"

    def long_(v: int) -> bytes:
        return struct.pack("<I", v)

    exif_ifd = [(0x9003, 2, *ascii_("2026:11:30 17:45:12")), (0x829A, 5, 1, struct.pack("<II", 1, 500)),
                (40965, 4, 1, long_(0))]  # fmt: skip
    gps_ifd = [(1, 2, *ascii_("N")), (2, 5, 3, struct.pack("<6I", 43, 1, 12, 1, 3000, 100))]
    pixels = np.ascontiguousarray(img).tobytes()
    at_exif, at_gps, at_pixels = 1000, 1200, 1400
    top = [(256, 4, 1, long_(w)), (257, 4, 1, long_(h)), (258, 3, 3, struct.pack("<3H", 8, 8, 8)),
           (259, 3, 1, struct.pack("<H", 1)), (262, 3, 1, struct.pack("<H", 2)), (271, 2, *ascii_("Canon")),
           (272, 2, *ascii_("EOS R5")), (273, 4, 1, long_(at_pixels)), (277, 3, 1, struct.pack("<H", 3)),
           (278, 4, 1, long_(h)), (279, 4, 1, long_(len(pixels))), (306, 2, *ascii_("2026:11:30 17:45:12")),
           (34665, 4, 1, long_(at_exif)), (34853, 4, 1, long_(at_gps))]  # fmt: skip
    out = bytearray(b"II*\0" + long_(8))
    for entries, at in ((top, 8), (exif_ifd, at_exif), (gps_ifd, at_gps)):
        head, data = ifd(entries, at)
        out += b"\0" * (at - len(out)) + head + data
    out += b"\0" * (at_pixels - len(out)) + pixels
    path.write_bytes(bytes(out))


def test_a_camera_tiffs_exif_goes_into_the_jpeg(tmp_path, tiny_weights):
    """A TIFF from a camera or a raw developer: its camera, dates, exposure and GPS position reach
    the JPEG (rebuilt as an EXIF block, the TIFF's own pixel layout tags left out)."""
    src = tmp_path / "IMG_0001.tif"
    _camera_tiff(src, picture())
    assert cv2.imread(str(src)) is not None  # a TIFF OpenCV reads
    out = tmp_path / "sharp.jpg"
    res = run(src, "-o", out, "-w", tiny_weights, "--backend", "torch")
    assert res.exit_code == 0, res.output
    exif = Image.open(out).getexif()
    assert (exif.get(271), exif.get(272), exif.get(306)) == ("Canon", "EOS R5", "2026:11:30 17:45:12")
    assert exif.get(256) is None and exif.get(273) is None  # the TIFF's layout is not the JPEG's
    sub = exif.get_ifd(0x8769)
    assert sub.get(0x9003) == "2026:11:30 17:45:12" and float(sub.get(0x829A)) == 1 / 500
    assert 40965 not in sub
    gps = exif.get_ifd(0x8825)
    assert gps.get(1) == "N" and [float(x) for x in gps.get(2)] == [43.0, 12.0, 30.0]
