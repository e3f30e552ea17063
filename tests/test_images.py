"""Reading images: every bad file is a BadImage with a reason; every odd mode converts correctly."""
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from conftest import real_images
from transferlab.data.images import BadImage, open_image


def test_real_photo_decodes_to_rgb():
    im = open_image(real_images("train", "ants", 1)[0])
    assert im.mode == "RGB" and min(im.size) > 100


def test_zero_byte_file(tmp_path):
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with pytest.raises(BadImage, match="empty file"):
        open_image(p)


def test_not_an_image(tmp_path):
    p = tmp_path / "notes.jpg"
    p.write_text("this is not a picture\n")
    with pytest.raises(BadImage, match="not an image"):
        open_image(p)


def test_truncated_jpeg(tmp_path):
    data = real_images("train", "bees", 1)[0].read_bytes()
    p = tmp_path / "truncated.jpg"
    p.write_bytes(data[: len(data) // 3])
    with pytest.raises(BadImage, match="truncated"):
        open_image(p)


def test_missing_file(tmp_path):
    with pytest.raises(BadImage, match="unreadable"):
        open_image(tmp_path / "nope.jpg")


def test_unreadable_file(tmp_path):
    # permissions don't stop root (CI runs as root), so use a path that no user can read as a file
    p = tmp_path / "folder.jpg"
    p.mkdir()
    with pytest.raises(BadImage, match="unreadable"):
        open_image(p)


def _png_with_size(path, width, height):
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's calling card)."""
    Image.new("L", (4, 4)).save(path)
    raw = bytearray(path.read_bytes())
    ihdr = bytearray(raw[12:29])  # b"IHDR" + 13 bytes of header data
    ihdr[4:12] = struct.pack(">II", width, height)
    raw[12:29] = ihdr
    raw[29:33] = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    path.write_bytes(bytes(raw))


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    p = tmp_path / "bomb.png"
    _png_with_size(p, 60000, 60000)
    with pytest.raises(BadImage, match=r"60000x60000 pixels .*decompression-bomb"):
        open_image(p)


def test_pixel_limit_is_configurable(tmp_path):
    p = tmp_path / "small.png"
    Image.new("RGB", (20, 20)).save(p)
    with pytest.raises(BadImage, match="exceeds the limit"):
        open_image(p, max_pixels=100)
    assert open_image(p, max_pixels=400).size == (20, 20)


def test_grayscale_becomes_three_equal_channels(tmp_path):
    p = tmp_path / "gray.png"
    Image.fromarray(np.full((5, 5), 77, np.uint8), "L").save(p)
    a = np.asarray(open_image(p))
    assert a.shape == (5, 5, 3) and (a == 77).all()


def test_16bit_grayscale_is_scaled_not_clipped(tmp_path):
    p = tmp_path / "deep.png"
    values = np.array([[0, 32768, 65535]], dtype=np.uint16)
    Image.fromarray(values).save(p)
    a = np.asarray(open_image(p))[0, :, 0]
    np.testing.assert_array_equal(a, [0, 128, 255])


def test_cmyk_converts_to_rgb(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(p, quality=100)  # pure red in CMYK
    r, g, b = np.asarray(open_image(p)).reshape(-1, 3).mean(0)
    assert r > 200 and g < 50 and b < 50


def test_rgba_is_composited_on_white(tmp_path):
    p = tmp_path / "alpha.png"
    a = np.zeros((2, 2, 4), np.uint8)
    a[0, 0] = (255, 0, 0, 255)  # opaque red
    a[1, 1] = (0, 0, 255, 0)  # fully transparent blue
    Image.fromarray(a, "RGBA").save(p)
    out = np.asarray(open_image(p))
    assert tuple(out[0, 0]) == (255, 0, 0)
    assert tuple(out[1, 1]) == (255, 255, 255)


def test_palette_with_transparency(tmp_path):
    p = tmp_path / "pal.gif"
    im = Image.new("P", (4, 4), 1)
    im.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    im.info["transparency"] = 0
    im.putpixel((0, 0), 0)
    im.save(p, transparency=0)
    out = np.asarray(open_image(p))
    assert tuple(out[0, 0]) == (255, 255, 255)
    assert tuple(out[1, 1]) == (10, 200, 30)


def test_exif_orientation_is_applied(tmp_path):
    p = tmp_path / "rotated.jpg"
    im = Image.new("RGB", (40, 20))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    im.save(p, exif=exif)
    assert open_image(p).size == (20, 40)
