"""engine/images.py on real files: what load_image refuses (one sentence each, nothing decoded that should not
be, nothing that hangs), what it converts to uint8 RGB, the video reader and the resize to a longest side."""
import os
import signal
import struct
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from engine.errors import BadInput, UnreadableImage
from engine.images import MAX_PIXELS, jpeg_is_complete, load_image, resize_longest, video_frames

from conftest import FIXTURES, png_declaring, write_odd_formats

FACES = FIXTURES / "faces"
VIDEO = FIXTURES / "videos" / "zubair_live_webcam.mov"


@contextmanager
def at_most(seconds):
    """Fail instead of hanging (a FIFO opened for reading waits for a writer forever)."""
    def give_up(*_):
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def png(rgb) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def refused(path, reason):
    with pytest.raises(UnreadableImage, match=reason) as caught:
        load_image(path)
    message = str(caught.value)
    assert message.startswith("Cannot read the image") and message.endswith(".") and "\n" not in message
    return message


def test_paths_that_are_not_regular_files_are_refused_without_opening_them(tmp_path):
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "folder.jpg").mkdir()
    with at_most(5):
        refused(tmp_path / "pipe.jpg", "not a regular file")
    refused("/dev/null", "not a regular file")
    refused(tmp_path / "folder.jpg", "it is a folder")
    refused(tmp_path / "missing.jpg", "no such file")
    refused(tmp_path / ("a" * 300 + ".jpg"), "file name too long")
    (tmp_path / "empty.jpg").write_bytes(b"")
    refused(tmp_path / "empty.jpg", "the file is empty")


def test_huge_declared_sizes_are_refused_before_decoding(tmp_path):
    (tmp_path / "bomb.png").write_bytes(png_declaring(100_000, 100_000))
    refused(tmp_path / "bomb.png", "more than the 50 million pixels")
    side = int(MAX_PIXELS**0.5) + 100  # above our limit, below Pillow's own
    (tmp_path / "big.png").write_bytes(png_declaring(side, side))
    refused(tmp_path / "big.png", f"it is {side}x{side} pixels, more than the 50 million pixels allowed")


@pytest.mark.parametrize("width, height", [(1, 1), (1, 300), (300, 1)])
def test_images_one_pixel_wide_or_high_are_too_small(tmp_path, width, height):
    (tmp_path / "thin.png").write_bytes(png(np.full((height, width, 3), 128, np.uint8)))
    refused(tmp_path / "thin.png", f"it is {width}x{height} pixels, too small to use")


def test_truncated_and_random_files_are_refused(tmp_path):
    photo = (FACES / "obama2.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(photo[: len(photo) // 2])
    refused(tmp_path / "cut.jpg", "the JPEG file is truncated or corrupt")
    (tmp_path / "cut-header.jpg").write_bytes(photo[:20_000])  # inside its 21 kB of metadata
    refused(tmp_path / "cut-header.jpg", "its header is truncated or corrupt")
    whole_png = png(load_image(FACES / "biden.jpg"))
    (tmp_path / "cut.png").write_bytes(whole_png[: len(whole_png) // 2])
    refused(tmp_path / "cut.png", "the PNG file is truncated or corrupt")
    (tmp_path / "noise.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    refused(tmp_path / "noise.jpg", "it is not an image file")


def test_a_jpeg_with_bytes_after_its_end_is_read_and_a_truncated_one_with_a_thumbnail_is_not(tmp_path):
    photo = (FACES / "obama2.jpg").read_bytes()
    (tmp_path / "trailing.jpg").write_bytes(photo + b"\x00camera maker's notes" * 100)
    assert np.array_equal(load_image(tmp_path / "trailing.jpg"), load_image(FACES / "obama2.jpg"))
    # an Exif-like APP1 segment holding a whole small JPEG: its end marker must not make a cut photo look whole
    thumbnail = cv2.imencode(".jpg", np.zeros((16, 16, 3), np.uint8))[1].tobytes()
    app1 = b"Exif\x00\x00" + thumbnail
    with_thumbnail = photo[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + photo[2:]
    assert jpeg_is_complete(with_thumbnail)
    assert not jpeg_is_complete(with_thumbnail[: len(with_thumbnail) // 2])
    (tmp_path / "cut.jpg").write_bytes(with_thumbnail[: len(with_thumbnail) // 2])
    refused(tmp_path / "cut.jpg", "truncated")


def test_16_bit_grey_alpha_cmyk_and_animated_images_come_out_as_uint8_rgb(tmp_path):
    rgb = load_image(FACES / "obama2.jpg")
    files = write_odd_formats(rgb, tmp_path)
    for name, tolerance in (("deep.png", 0), ("alpha.png", 0), ("cmyk.jpg", 12), ("animated.gif", 20)):
        image = load_image(files[name])
        assert image.dtype == np.uint8 and image.shape == rgb.shape, name
        assert np.abs(image.astype(int) - rgb).mean() <= tolerance, name  # the first frame, the right colors
    grey = load_image(files["grey.png"])
    assert grey.shape == rgb.shape and (grey[..., 0] == grey[..., 2]).all()


def test_video_frames_gives_index_time_and_rgb_of_every_nth_frame(tmp_path):
    every_third = list(video_frames(VIDEO, every=3))
    all_frames = list(video_frames(VIDEO))
    assert [i for i, _, _ in every_third] == list(range(0, len(all_frames), 3))
    index, seconds, image = every_third[2]
    assert index == 6 and seconds == pytest.approx(6 / 15, abs=0.01)
    assert image.dtype == np.uint8 and image.shape == (540, 960, 3)
    assert np.array_equal(image, all_frames[6][2])
    os.mkfifo(tmp_path / "pipe.mp4")
    (tmp_path / "broken.mp4").write_bytes(b"not a video" * 100)
    with at_most(5), pytest.raises(BadInput, match="Cannot read the video .*not a regular file"):
        next(video_frames(tmp_path / "pipe.mp4"))
    with pytest.raises(BadInput, match="Cannot open the video|has no readable frames"):
        list(video_frames(tmp_path / "broken.mp4"))


@pytest.mark.parametrize("shape, size, expected", [
    ((1137, 910, 3), 640, (640, 512, 3)),  # shrink
    ((100, 50, 3), 400, (400, 200, 3)),  # enlarge
    ((5000, 2, 3), 640, (640, 1, 3)),  # never a side of 0 px
])
def test_resize_longest_keeps_the_aspect_ratio(shape, size, expected):
    assert resize_longest(np.zeros(shape, np.uint8), size).shape == expected



def test_a_jpeg_cut_short_then_given_an_end_marker_is_refused_without_a_word_from_libjpeg(tmp_path, capfd):
    data = (FACES / "obama.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    with pytest.raises(UnreadableImage, match="truncated or corrupt"):
        load_image(tmp_path / "cut.jpg")
    assert capfd.readouterr().err == ""  # libjpeg's "Corrupt JPEG data: premature end of data segment" kept off


def test_a_video_whose_frames_declare_too_many_pixels_is_refused_before_decoding(tmp_path):
    from engine.camera import FrameSource
    from conftest import gif_declaring

    (tmp_path / "huge.gif").write_bytes(gif_declaring(16000, 16000))  # 2.5 GB at its first frame
    with pytest.raises(BadInput, match="16000x16000 pixels, more than the 50 million"):
        list(video_frames(tmp_path / "huge.gif"))
    with pytest.raises(BadInput, match="16000x16000 pixels"):
        FrameSource(str(tmp_path / "huge.gif"))


@pytest.mark.parametrize("name", ["concat:a.mp4|b.mp4", "subfile,,start,0,end,0,,:a.mp4"])
def test_a_file_name_is_never_read_as_an_ffmpeg_protocol(tmp_path, monkeypatch, name):
    from engine.camera import FrameSource

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.mp4").write_bytes(VIDEO.read_bytes())
    (tmp_path / "b.mp4").write_bytes(VIDEO.read_bytes())
    (tmp_path / name).write_text("x" * 260)  # a text file of that name: nothing to judge
    with pytest.raises(BadInput, match="Cannot open the video"):
        list(video_frames(name))
    with pytest.raises(BadInput, match="is not a video"):  # refused, not retried: it cannot come back
        FrameSource(name, realtime=False)
    assert len(list(video_frames("a.mp4", every=10))) > 0  # a plain relative name still plays
