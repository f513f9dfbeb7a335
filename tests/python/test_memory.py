"""No reference or buffer leaks: 10,000 calls keep the process's memory flat, the input's
reference count is unchanged, and an output's buffer is freed with the array."""
import gc
import sys

import numpy as np

import bagnet
from conftest import images

CALLS = 10_000


def resident_bytes():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def test_many_calls_keep_memory_flat():
    model = bagnet.Model("bagnet9", threads=1)  # 1000 classes: every logit map is 4 kB
    x = images((1, 3, 9, 9))
    for _ in range(250):  # both plans built (each holds the folded weights), pools and caches settled
        model.logit_map(x)
        model.top_predictions(x, k=1)
    gc.collect()
    references = sys.getrefcount(x)
    before = resident_bytes()
    for i in range(CALLS):
        model.logit_map(x) if i % 2 else model.top_predictions(x, k=1)
    gc.collect()
    grown = resident_bytes() - before
    # A leaked output alone would be 40 MB here.
    assert grown < 4 << 20, f"resident memory grew by {grown} bytes over {CALLS} calls"
    assert sys.getrefcount(x) == references


def test_refused_calls_leak_nothing():
    model = bagnet.Model("bagnet9", threads=1)
    wrong, small = images((1, 3, 64, 64)).astype(np.float64), images((1, 3, 5, 5))
    references = sys.getrefcount(wrong), sys.getrefcount(small)
    for _ in range(1000):
        for call, argument, error in ((model.logits, wrong, TypeError), (model.logits, small, bagnet.Error)):
            try:
                call(argument)
            except error:
                pass
    del call, argument  # the loop's last values are references too
    assert (sys.getrefcount(wrong), sys.getrefcount(small)) == references


def test_an_output_buffer_lives_as_long_as_its_arrays():
    model = bagnet.Model("bagnet9", threads=1)
    logit_map = model.logit_map(images((1, 3, 9, 9)))
    view = logit_map[0, 0, 0, :10]  # a view keeps the buffer alive after the array is gone
    expected = view.copy()
    del logit_map
    gc.collect()
    model.logit_map(images((1, 3, 9, 9), seed=1))  # would reuse a freed buffer
    np.testing.assert_array_equal(view, expected)
