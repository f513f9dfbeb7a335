#!/usr/bin/python3
"""Writes the image-decoding fixtures of tests/test_image.cpp into OUT_DIR.

Usage: make_decoder_fixtures.py OUT_DIR

For every layout a PNG or JPEG can have (grey of 1, 8 and 16 bits, grey + alpha,
RGB, RGBA, palettes of 4 and 8 bits, with and without transparency, 16-bit colour, Adam7
interlacing, a broken colour profile; baseline, progressive, grey and CMYK
JPEG) it writes NAME.png or NAME.jpg and NAME.npy, PIL's
np.asarray(Image.open(file).convert("RGB")) as float32 H x W x 3: the reference
the C++ decoders must reproduce exactly. Where PIL is not a reference (it clips
16-bit grey to 255 instead of scaling it), NAME.npy holds the samples' high
bytes, as PIL keeps them for 16-bit colour. It also writes files that must be
refused: a chunk CRC and zlib checksum both wrong, the zlib checksum wrong
under a right CRC, and PNG and JPEG headers that claim 20,000 x 20,000 pixels.
Interlaced PNGs are written here by hand (PIL cannot write them).

Also writes folder/<class>/<i>.jpg, a small image folder, and resized_crop_*.npy: torchvision's resized_crop(photo, top, left,
height, width, 224) of fixed boxes, for the crop + PIL resize of
RandomResizedCrop. Files are written whole (to a temporary name, then renamed);
an up-to-date OUT_DIR (its stamp newer than this script) is left as it is.
"""
import io
import os
import struct
import sys
import zlib

STAMP = "decoders.stamp"
PHOTO = "/usr/lib/python3/dist-packages/skimage/data/chelsea.png"
# (top, left, height, width) boxes inside chelsea.png (300 x 451): small, large,
# thin, wide, and the whole picture.
BOXES = [(10, 20, 60, 80), (0, 0, 300, 451), (100, 300, 150, 37), (37, 1, 29, 450), (200, 250, 100, 100)]


def write_atomically(path, data):
    temporary = path + ".tmp"
    with open(temporary, "wb") as out:
        out.write(data)
    os.replace(temporary, path)


def save_npy(path, array):
    import numpy as np

    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32))
    write_atomically(path, buffer.getvalue())


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_chunks(data):
    """[(kind, offset, length)] of a PNG's chunks."""
    chunks, position = [], 8
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        chunks.append((data[position + 4:position + 8], position, length))
        position += 12 + length
    return chunks


def adam7_png(samples, colour_type, bit_depth=8):
    """An interlaced PNG of HWC samples (8 or 16 bits), every row unfiltered."""
    import numpy as np

    height, width = samples.shape[:2]
    passes = [(0, 0, 8, 8), (0, 4, 8, 8), (4, 0, 8, 4), (0, 2, 4, 4), (2, 0, 4, 2), (0, 1, 2, 2), (1, 0, 2, 1)]
    raw = bytearray()
    for y0, x0, dy, dx in passes:
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        for row in sub:
            raw.append(0)
            raw += row.astype(">u2" if bit_depth == 16 else np.uint8).tobytes()
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(raw))) + chunk(b"IEND", b"")


def encoded(image, format, **options):
    buffer = io.BytesIO()
    image.save(buffer, format, **options)
    return buffer.getvalue()


def pil_rgb(data):
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def main(argv):
    if len(argv) != 2:
        print("usage: make_decoder_fixtures.py OUT_DIR", file=sys.stderr)
        return 2
    out = argv[1]
    os.makedirs(out, exist_ok=True)
    stamp = os.path.join(out, STAMP)
    if os.path.exists(stamp) and os.path.getmtime(stamp) >= os.path.getmtime(__file__):
        return 0

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(7)
    height, width = 37, 53  # odd sizes: partial Adam7 blocks, partial JPEG MCUs
    rgb = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    # Smooth content too, so that JPEG's chroma upsampling has something to interpolate.
    yy, xx = np.mgrid[0:height, 0:width]
    smooth = np.stack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)], -1).astype(np.uint8)
    grey = rgb[..., 0]
    alpha = rng.integers(0, 256, (height, width), dtype=np.uint8)
    wide = rng.integers(0, 65536, (height, width, 3), dtype=np.uint16)

    files = {}  # name -> (bytes, expected RGB samples or None for PIL's)
    files["grey.png"] = (encoded(Image.fromarray(grey, "L"), "PNG"), None)
    files["grey1.png"] = (encoded(Image.fromarray(grey > 127).convert("1"), "PNG"), None)
    files["grey_alpha.png"] = (encoded(Image.fromarray(np.stack([grey, alpha], -1), "LA"), "PNG"), None)
    files["rgb.png"] = (encoded(Image.fromarray(rgb, "RGB"), "PNG"), None)
    files["rgba.png"] = (encoded(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"), "PNG"), None)
    palette = Image.fromarray(smooth, "RGB").quantize(colors=50)
    files["palette.png"] = (encoded(palette, "PNG"), None)
    files["palette4.png"] = (encoded(Image.fromarray(smooth, "RGB").quantize(colors=16), "PNG", bits=4), None)
    files["palette_transparent.png"] = (encoded(palette, "PNG", transparency=bytes(range(0, 250, 5))), None)
    files["bad_icc.png"] = (encoded(Image.fromarray(rgb, "RGB"), "PNG", icc_profile=b"not a colour profile"), None)
    # 16-bit: PIL writes only grey; interlaced colour and grey are written here.
    high_bytes = np.repeat((wide[..., :1] >> 8).astype(np.uint8), 3, -1)
    files["rgb16.png"] = (adam7_png(wide, 2, 16), None)
    files["grey16.png"] = (adam7_png(wide[..., 0], 0, 16), high_bytes)
    files["grey16_plain.png"] = (encoded(Image.fromarray(wide[..., 0], "I;16"), "PNG"), high_bytes)
    files["interlaced_rgb.png"] = (adam7_png(rgb, 2), None)
    files["interlaced_grey_alpha.png"] = (adam7_png(np.stack([grey, alpha], -1), 4), None)
    files["baseline.jpg"] = (encoded(Image.fromarray(smooth, "RGB"), "JPEG", quality=90), None)
    files["baseline_444.jpg"] = (encoded(Image.fromarray(rgb, "RGB"), "JPEG", quality=75, subsampling=0), None)
    files["progressive.jpg"] = (encoded(Image.fromarray(smooth, "RGB"), "JPEG", quality=85, progressive=True), None)
    files["grey_jpeg.jpg"] = (encoded(Image.fromarray(smooth[..., 1], "L"), "JPEG", quality=90), None)
    cmyk = np.dstack([smooth, rng.integers(0, 256, (height, width), dtype=np.uint8)])
    files["cmyk.jpg"] = (encoded(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95), None)
    for name, (data, expected) in files.items():
        write_atomically(os.path.join(out, name), data)
        save_npy(os.path.join(out, os.path.splitext(name)[0] + ".npy"), pil_rgb(data) if expected is None else expected)

    # Refused files. A flipped byte in the zlib stream's checksum breaks the IDAT
    # chunk's CRC too; with the CRC recomputed only the zlib checksum is wrong.
    good = bytearray(files["rgb.png"][0])
    kind, offset, length = [c for c in png_chunks(good) if c[0] == b"IDAT"][0]
    both = bytearray(good)
    both[offset + 8 + length - 1] ^= 0xFF
    write_atomically(os.path.join(out, "bad_crc_and_adler.png"), bytes(both))
    adler_only = bytearray(both)
    adler_only[offset + 8 + length:offset + 12 + length] = struct.pack(
        ">I", zlib.crc32(bytes(adler_only[offset + 4:offset + 8 + length])) & 0xFFFFFFFF)
    write_atomically(os.path.join(out, "bad_adler.png"), bytes(adler_only))
    crc_only = bytearray(good)
    crc_only[offset + 8 + length + 3] ^= 0xFF
    write_atomically(os.path.join(out, "bad_crc.png"), bytes(crc_only))
    # 20,000 x 20,000 grey: the header is enough, the stream holds a single row.
    bomb = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(b"\x00" * 20001)) + chunk(b"IEND", b""))
    write_atomically(os.path.join(out, "bomb.png"), bomb)
    jpeg = bytearray(files["baseline.jpg"][0])
    sof = jpeg.index(b"\xff\xc0")
    jpeg[sof + 5:sof + 9] = struct.pack(">HH", 20000, 20000)
    write_atomically(os.path.join(out, "bomb.jpg"), bytes(jpeg))

    # A small image folder of JPEGs of assorted sizes, three classes of four, for
    # the streaming pipeline and the command line's training runs.
    for c, name in enumerate(["cat", "dog", "fox"]):
        os.makedirs(os.path.join(out, "folder", name), exist_ok=True)
        for i in range(4):
            h, w = (int(v) for v in rng.integers(40, 90, 2))
            yy, xx = np.mgrid[0:h, 0:w]
            picture = np.stack([(xx * (c + 2) * 7) % 256, (yy * (i + 3) * 5) % 256, (xx + yy) * 2 % 256], -1)
            picture = (picture + rng.integers(0, 30, (h, w, 3))).clip(0, 255).astype(np.uint8)
            write_atomically(os.path.join(out, "folder", name, f"{i}.jpg"),
                             encoded(Image.fromarray(picture, "RGB"), "JPEG", quality=90))

    # torchvision's crop + resize of RandomResizedCrop, for fixed boxes.
    from torchvision.transforms import functional

    with Image.open(PHOTO) as photo:
        photo = photo.convert("RGB")
        for index, (top, left, box_height, box_width) in enumerate(BOXES):
            resized = functional.resized_crop(photo, top, left, box_height, box_width, [224, 224])
            save_npy(os.path.join(out, f"resized_crop_{index}.npy"), np.asarray(resized))
    write_atomically(stamp, b"")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
