#pragma once
// bagnet.Model: a bagnet::Model<cpu> as the command line's --arch, --weights,
// --precision, --threads and --classes make it, safe to call from several Python threads.
#include <pybind11/pybind11.h>

#include <mutex>
#include <string>
#include <utility>

#include "bagnet/bagnet.hpp"

namespace bagnet::python {

namespace py = pybind11;

class PythonModel {
public:
    PythonModel(const std::string& arch, const std::string& weights, int threads, const std::string& precision,
                int classes, const std::string& device)
        : model_(load(architecture_by_name(arch, classes), weights)), threads_(threads) {
        require(device == "cpu", "device '" + device + "': the Python module runs on the cpu device only");
        onednn::set_threads(threads);  // checks the count now rather than at the first call
        model_.precision(parse_precision(precision));
    }

    const Model<cpu>& model() const { return model_; }
    int threads() const { return threads_; }

    // Runs work(model) with the GIL released, one call at a time: the model's plans are
    // a cache that calls fill. The GIL is released before the lock is taken, so that a
    // thread waiting for the lock never holds the GIL that a running call's progress
    // callback needs.
    template <class Work>
    auto run(Work&& work) const {
        return locked(*this, model_, std::forward<Work>(work));
    }
    // The same for work that changes the model (training).
    template <class Work>
    auto update(Work&& work) {
        return locked(*this, model_, std::forward<Work>(work));
    }

private:
    template <class Self, class M, class Work>
    static auto locked(Self& self, M& model, Work&& work) {
        py::gil_scoped_release released;
        std::lock_guard<std::mutex> lock(self.mutex_);
        // OpenMP's team size is a per-thread setting: set it on the thread that runs the call.
        onednn::set_threads(self.threads_);
        return work(model);
    }

    static Model<cpu> load(Architecture arch, const std::string& weights) {
        return weights.empty() ? Model<cpu>(std::move(arch)) : Model<cpu>(std::move(arch), weights);
    }

    Model<cpu> model_;
    int threads_;
    mutable std::mutex mutex_;
};

}  // namespace bagnet::python
