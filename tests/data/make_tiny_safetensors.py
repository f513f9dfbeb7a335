#!/usr/bin/env python3
"""Writes tiny.safetensors, the fixture test_safetensors.cpp checks bagnet's reader against.

It is built with numpy, json and struct only, independently of bagnet's writer, the way the
reference implementation lays files out: header as Python's json.dumps writes it (spaces after
separators, non-ASCII names escaped as \\uXXXX), padded with spaces to a multiple of 8 bytes.
Tensors lie in the order listed, so some start at offsets unaligned for their type.
Run from anywhere: /usr/bin/python3 tests/data/make_tiny_safetensors.py
"""
import json
import os
import struct

import numpy as np

float32 = np.array([[-1.0, -0.5, 0.0], [0.5, 1.0, 1.5]], dtype="<f4")
half = np.array([1.0, -2.5, 65504.0, 2.0**-24], dtype="<f2")
# bfloat16 is the upper half of a float32; these values are exact in it.
bfloat = (np.array([1.0, -3.0, 0.15625], dtype="<f4").view("<u4") >> 16).astype("<u2")
double = np.array([[0.1, -1e10], [3.5, 1e-3]], dtype="<f8")
int32 = np.array([-7, 0, 2147483647], dtype="<i4")
int64 = np.array(12345678901, dtype="<i8")  # beyond float's exact integers
empty = np.zeros((0, 4), dtype="<f4")
accented = np.array([7.0], dtype="<f4")

tensors = [  # name, dtype, array
    ("conv.weight", "F32", float32),
    ("half", "F16", half),
    ("bfloat", "BF16", bfloat),
    ("double", "F64", double),
    ("int32", "I32", int32),
    ("bn.num_batches_tracked", "I64", int64),
    ("empty", "F32", empty),
    ("unicode.\u00e9", "F32", accented),
]

header = {"__metadata__": {"format": "pt", "note": "made by make_tiny_safetensors.py"}}
data = b""
for name, dtype, array in tensors:
    raw = array.tobytes()
    header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [len(data), len(data) + len(raw)]}
    data += raw

text = json.dumps(header).encode("utf-8")
text += b" " * (-len(text) % 8)
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny.safetensors")
with open(path, "wb") as out:
    out.write(struct.pack("<Q", len(text)) + text + data)
print(path, 8 + len(text) + len(data), "bytes")
