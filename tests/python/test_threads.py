"""Long calls release the GIL (a Python thread runs meanwhile), calls on one model from several
threads give the serial results, and Ctrl-C stops a dense heatmap between two passes and a
data-set analysis before its next item."""
import os
import signal
import threading
import time

import numpy as np
import pytest

import bagnet
from conftest import images


@pytest.fixture(scope="module")
def big():
    # Random weights: about a second per call here, long enough to watch a thread run.
    return bagnet.Model("bagnet33", threads=1)


def test_a_python_thread_advances_during_a_long_call(big):
    x = images((2, 3, 224, 224))
    big.logits(x)  # builds the plan, so that the timed call is only the pass
    counts, stop = [0], threading.Event()

    def count():
        while not stop.is_set():
            counts[0] += 1

    counter = threading.Thread(target=count)
    counter.start()
    time.sleep(0.05)
    before = counts[0]
    start = time.perf_counter()
    big.logits(x)
    seconds = time.perf_counter() - start
    during = counts[0] - before
    stop.set()
    counter.join()
    # Holding the GIL, the call would leave the counter where it was; released, the
    # counter runs all along (millions of increments a second).
    assert seconds > 0.2 and during > 10000, (seconds, during)


def test_threads_sharing_a_model_get_the_serial_results(q9):
    inputs = [images((1, 3, 40 + i, 33), seed=i) for i in range(6)]
    expected = [q9.model.logit_map(x) for x in inputs]
    results = [None] * len(inputs)

    def work(i):
        results[i] = q9.model.logit_map(inputs[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_ctrl_c_stops_a_dense_heatmap_between_passes():
    model = bagnet.Model("fashion9", threads=1)
    x = images((600, 1, 28, 28))  # three passes of the small network, a second or more each
    # A builtin as the progress callback runs no Python bytecode, so the only place the SIGINT
    # is noticed during the call is the module's own check between passes.
    passes = {}
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C during the first pass
    with pytest.raises(KeyboardInterrupt):
        model.dense_heatmap(x, classes=1, progress=passes.__setitem__)
    assert 600 not in passes, passes  # stopped before the last pass (the check comes before the callback)


@pytest.mark.parametrize("analysis", ["evaluate", "top_patches", "certify", "correlate"])
def test_ctrl_c_stops_a_data_set_analysis_before_the_next_item(analysis):
    model = bagnet.Model("fashion9", threads=1)
    x = images((2000, 1, 28, 28))  # forty batches of the small network
    labels = np.zeros(2000, dtype=np.int64)
    calls = {
        "evaluate": lambda: model.evaluate(x, labels, batch=50),
        "top_patches": lambda: model.top_patches(x, classes=[1], k=2, labels=labels, batch=50),
        "certify": lambda: model.certify(x, labels, patch=3, batch=50),
        "correlate": lambda: bagnet.correlate(model, model, x, batch=50),
    }
    started = time.monotonic()
    calls[analysis]()  # the whole call, for the time it takes
    whole = time.monotonic() - started
    threading.Timer(whole / 10, os.kill, (os.getpid(), signal.SIGINT)).start()
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        calls[analysis]()
    # Stopped within a few batches of the signal (a KeyboardInterrupt after the call had ended would
    # pass pytest.raises too).
    assert time.monotonic() - started < whole / 2, "the call ran on after Ctrl-C"
