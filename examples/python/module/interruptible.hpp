#pragma once
// Ctrl-C during a long call. The calls release the GIL, so Python's signal handlers run only
// where the module takes it back and asks: between two heatmap passes, after a training step,
// and as a data-set analysis collects each batch. A KeyboardInterrupt raised there passes
// through the library unchanged (its error translation rethrows what is not its own) and ends
// the call with nothing returned.
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "bagnet/data/dataset.hpp"

namespace bagnet::python {

namespace py = pybind11;

// Runs Python's signal handlers (the main thread's: elsewhere this does nothing); throws what
// a handler raised. Takes the GIL for the check.
inline void check_signals() {
    py::gil_scoped_acquire held;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
}

// Another data set, unchanged, but checking for Ctrl-C as its labels are read. Python's
// handlers run on the main thread only: items are loaded on the stream's loading threads, but
// the labels are read by the thread that asks for each batch (data/stream.hpp's collect), the
// caller's (tests/python/test_threads.py checks that a call stops within a few batches).
class Interruptible : public data::Dataset {
public:
    explicit Interruptible(const data::Dataset& all) : all_(all) {}
    std::size_t size() const override { return all_.size(); }
    std::int64_t label(std::size_t index) const override {
        check_signals();
        return all_.label(index);
    }
    std::string name(std::size_t index) const override { return all_.name(index); }
    data::ItemShape shape() const override { return all_.shape(); }
    void load(std::size_t index, data::Random& rng, float* out) const override { all_.load(index, rng, out); }
    const std::vector<std::string>& class_names() const override { return all_.class_names(); }

private:
    const data::Dataset& all_;
};

}  // namespace bagnet::python
