#!/usr/bin/python3
"""Writes the seeds of the PNG, JPEG, IDX and class-name fuzz targets into corpus/.

Small valid files of every layout the readers handle: PIL (python3-pil) writes the
images, the IDX files are made by hand. The checkpoint seeds are the library's own
(train::save_checkpoint, see fuzz_checkpoint.cpp); the npy and safetensors seeds
come from tests/data.
"""
import gzip
import pathlib
import struct

from PIL import Image

corpus = pathlib.Path(__file__).resolve().parent / "corpus"


def gradient(mode, size=(6, 5)):
    """An image of `size` whose every sample differs, so the decoder's output shows any slip."""
    width, height = size
    if mode == "I;16":
        image = Image.new(mode, size)
        image.putdata([257 * (17 * x + 29 * y) for y in range(height) for x in range(width)])
        return image
    image = Image.new("RGBA", size)
    image.putdata([(17 * x + 3 * y, 29 * y + 5 * x, 7 * (x + y), 255 - 11 * x) for y in range(height)
                   for x in range(width)])
    return image.convert(mode)


def write(folder, name, data):
    path = corpus / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def save(image, folder, name, **options):
    path = corpus / folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


for mode in ("L", "LA", "RGB", "RGBA", "1", "I;16"):
    save(gradient(mode), "png", f"{mode.replace(';', '_').lower()}.png")
palette = gradient("RGB").convert("P", palette=Image.ADAPTIVE, colors=8)
save(palette, "png", "palette_transparent.png", transparency=2)
save(gradient("L"), "png", "grey_4bit.png", bits=4)

save(gradient("RGB", (16, 16)), "jpeg", "rgb_420.jpg", quality=90)
save(gradient("RGB", (9, 7)), "jpeg", "rgb_444.jpg", quality=90, subsampling=0)
save(gradient("RGB", (16, 16)), "jpeg", "progressive.jpg", quality=75, progressive=True)
save(gradient("L", (8, 8)), "jpeg", "grey.jpg", quality=90)
save(gradient("CMYK", (8, 8)), "jpeg", "cmyk.jpg", quality=90)
save(gradient("RGB", (16, 8)), "jpeg", "optimized.jpg", quality=50, optimize=True)


def idx(shape, values):
    return struct.pack(">BBBB", 0, 0, 8, len(shape)) + b"".join(struct.pack(">I", d) for d in shape) + bytes(values)


write("idx", "images-idx3-ubyte.gz", gzip.compress(idx((3, 4, 4), [(13 * i) % 256 for i in range(48)]), mtime=0))
write("idx", "labels-idx1-ubyte.gz", gzip.compress(idx((3,), [0, 9, 4]), mtime=0))
write("idx", "images-uncompressed-idx3-ubyte", idx((2, 2, 3), range(12)))

write("class_names", "fashion_mnist", "T-shirt/top/trouser/pullover/dress/coat/sandal/shirt/sneaker/bag/ankle boot"
      .replace("T-shirt/top", "T-shirt\x00top").encode())
write("class_names", "folders", "cats/dogs/\u00e9l\u00e9phants/tab\there/line\nbreak/quote\"s".encode())
write("class_names", "empty", b"")
