#!/usr/bin/python3
"""Convert a PyTorch checkpoint to safetensors, or (--to-pytorch) back.

    convert_checkpoint.py [--trust-pickle] IN.pth OUT.safetensors
    convert_checkpoint.py --to-pytorch IN.safetensors OUT.pth

IN may be a legacy (pre-1.6, non-zip) or zip torch.save file holding a state_dict, or a dict
that wraps one under 'state_dict'; a 'module.' prefix on every key (DataParallel) is dropped.
Floating tensors are written as F32, integer tensors (num_batches_tracked) as I64. The
safetensors writer is local (struct + json) so that no extra package is needed.
"""
import argparse
import contextlib
import json
import os
import pickle
import struct
import sys
import tempfile

import numpy as np
import torch

PROG = "convert_checkpoint"
WRAPPER_KEYS = ("state_dict", "model_state_dict")
DATA_PARALLEL_PREFIX = "module."
HEADER_ALIGNMENT = 8
# safetensors dtype name -> little-endian numpy dtype; the writer produces only F32 and I64.
SAFETENSORS_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
                      "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


class ConversionError(Exception):
    """A problem with the user's input, reported as one line."""


@contextlib.contextmanager
def atomic_output(path):
    """Yield a temporary path beside `path`; it replaces `path` only if the block succeeds."""
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise ConversionError(f"{path}: directory {directory} does not exist")
    handle, temporary = tempfile.mkstemp(dir=directory, prefix="." + os.path.basename(path) + ".",
                                         suffix=".tmp")
    os.close(handle)
    # mkstemp makes the file private; the result should have the usual permissions.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(temporary, 0o666 & ~umask)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(temporary)
        raise


def one_line(error):
    return " ".join(str(error).split()) or type(error).__name__


def load_checkpoint(path, trust_pickle):
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    try:
        # weights_only refuses to run pickled code; a state_dict needs only tensors and
        # plain containers, but training checkpoints may also pickle other objects.
        return torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except Exception as error:  # torch.load raises many unrelated types for a bad file
        if isinstance(error, pickle.UnpicklingError) and "weights only" in str(error).lower():
            raise ConversionError(f"{path}: pickles objects other than tensors and containers; "
                                  "pass --trust-pickle if the file comes from a trusted source "
                                  f"({one_line(error).split('error: ')[-1]})") from None
        raise ConversionError(f"{path}: not a PyTorch checkpoint "
                              f"({type(error).__name__}: {one_line(error)})") from None


def state_dict_of(checkpoint, path):
    """The {key: tensor} mapping in a checkpoint, without a DataParallel 'module.' prefix."""
    if isinstance(checkpoint, dict):
        for key in WRAPPER_KEYS:
            if isinstance(checkpoint.get(key), dict):
                checkpoint = checkpoint[key]
                break
    if not isinstance(checkpoint, dict):
        raise ConversionError(f"{path}: holds a {type(checkpoint).__name__}, not a state_dict")
    if not checkpoint:
        raise ConversionError(f"{path}: holds no tensors")
    for key, value in checkpoint.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ConversionError(f"{path}: entry {key!r} is of type {type(value).__name__}, "
                                  "not a tensor")
    if all(key.startswith(DATA_PARALLEL_PREFIX) for key in checkpoint):
        return {key[len(DATA_PARALLEL_PREFIX):]: value for key, value in checkpoint.items()}
    return dict(checkpoint)


def as_stored_array(key, tensor):
    """(safetensors dtype, little-endian numpy array) for one tensor."""
    if tensor.is_complex() or tensor.is_quantized:
        raise ConversionError(f"tensor {key!r} has unsupported dtype {tensor.dtype}")
    if tensor.is_floating_point():
        return "F32", tensor.detach().to(torch.float32).numpy().astype("<f4")
    return "I64", tensor.detach().to(torch.int64).numpy().astype("<i8")


def write_safetensors(tensors, path):
    """Write {key: tensor} as safetensors, keys sorted, data in key order, atomically."""
    header, arrays, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for key in sorted(tensors):
        dtype, array = as_stored_array(key, tensors[key])
        header[key] = {"dtype": dtype, "shape": list(array.shape),
                       "data_offsets": [offset, offset + array.nbytes]}
        arrays.append(array)
        offset += array.nbytes
    encoded = json.dumps(header, separators=(",", ":")).encode("utf-8")
    # Padding the header keeps the data (which starts after 8 + header bytes) 8-byte aligned.
    encoded += b" " * (-len(encoded) % HEADER_ALIGNMENT)
    with atomic_output(path) as temporary, open(temporary, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for array in arrays:
            out.write(array.tobytes())


def read_safetensors(path):
    """{key: numpy array} from a safetensors file, with every offset checked."""
    if not os.path.isfile(path):
        raise ConversionError(f"{path}: no such file")
    with open(path, "rb") as file:
        blob = file.read()
    if len(blob) < 8:
        raise ConversionError(f"{path}: not a safetensors file (only {len(blob)} bytes)")
    (header_length,) = struct.unpack("<Q", blob[:8])
    if header_length > len(blob) - 8:
        raise ConversionError(f"{path}: not a safetensors file (header length {header_length} "
                              f"exceeds the file size {len(blob)})")
    try:
        header = json.loads(blob[8:8 + header_length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConversionError(f"{path}: not a safetensors file (header is not valid "
                              f"JSON: {one_line(error)})") from None
    if not isinstance(header, dict):
        raise ConversionError(f"{path}: not a safetensors file (header is not a JSON object)")
    data = memoryview(blob)[8 + header_length:]
    tensors = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype = np.dtype(SAFETENSORS_DTYPES[entry["dtype"]])
            shape = tuple(int(extent) for extent in entry["shape"])
            begin, end = (int(offset) for offset in entry["data_offsets"])
        except (KeyError, TypeError, ValueError):
            raise ConversionError(f"{path}: tensor {key!r} has a malformed or unsupported "
                                  f"header entry {json.dumps(entry)}") from None
        expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if min(shape, default=0) < 0 or not 0 <= begin <= end <= len(data) \
                or end - begin != expected:
            raise ConversionError(f"{path}: tensor {key!r} with shape {list(shape)} has data "
                                  f"offsets [{begin}, {end}] that do not fit its {expected} "
                                  f"bytes within {len(data)} bytes of data")
        tensors[key] = np.frombuffer(data[begin:end], dtype=dtype).reshape(shape).copy()
    if not tensors:
        raise ConversionError(f"{path}: holds no tensors")
    return tensors


def to_safetensors(source, target, trust_pickle=False):
    write_safetensors(state_dict_of(load_checkpoint(source, trust_pickle), source), target)


def to_pytorch(source, target):
    state_dict = {key: torch.from_numpy(array.astype(array.dtype.newbyteorder("=")))
                  for key, array in read_safetensors(source).items()}
    with atomic_output(target) as temporary:
        torch.save(state_dict, temporary)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__.split("\n\n")[0],
        epilog="Legacy and zip torch.save files, plain or wrapped in {'state_dict': ...}, with "
               "or without a 'module.' key prefix, are accepted.")
    parser.add_argument("input", help="PyTorch checkpoint (or safetensors with --to-pytorch)")
    parser.add_argument("output", help="safetensors file to write (or .pth with --to-pytorch)")
    parser.add_argument("--to-pytorch", action="store_true",
                        help="read safetensors and write a zip-format torch.save state_dict")
    parser.add_argument("--trust-pickle", action="store_true",
                        help="also unpickle objects other than tensors and containers (runs "
                             "code from the file: only for files from a trusted source)")
    args = parser.parse_args(argv)
    try:
        if args.to_pytorch:
            to_pytorch(args.input, args.output)
        else:
            to_safetensors(args.input, args.output, args.trust_pickle)
    except (ConversionError, OSError) as error:
        print(f"{PROG}: error: {one_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
