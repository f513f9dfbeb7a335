#!/usr/bin/env python3
"""Writes the .npy fixtures test_npy.cpp checks bagnet's reader and writer against, with numpy's
own writer. Run from anywhere: /usr/bin/python3 tests/data/make_npy_fixtures.py
"""
import os

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
labels = [3, 1, 4, 1, 5, 9, 2, 6]
grid = np.arange(24, dtype="<f4").reshape(2, 3, 4) / 4 - 2

fixtures = {
    "float32_2x3x4.npy": grid,
    "float32_scalar.npy": np.array(2.5, dtype="<f4"),
    "labels_int64.npy": np.array(labels, dtype="<i8"),
    "labels_int32.npy": np.array(labels, dtype="<i4"),
    "float64.npy": np.array([1.5, -2.0], dtype="<f8"),
    "int64_2x2.npy": np.array([[1, 2], [3, 4]], dtype="<i8"),
    "big_endian.npy": np.array([1.0, 2.0], dtype=">f4"),
    "fortran.npy": np.asfortranarray(grid[0]),
}
for name, array in fixtures.items():
    np.save(os.path.join(here, name), array)

with open(os.path.join(here, "float32_v2.npy"), "wb") as out:
    np.lib.format.write_array(out, np.array([0.25, -8.0, 1e30], dtype="<f4"), version=(2, 0))
print("wrote", len(fixtures) + 1, "npy files to", here)
