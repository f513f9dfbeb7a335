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
        : model_(load(device, architecture_by_name(arch, classes), weights)), threads_(threads) {
        backend::cpu::set_threads(threads);  // checks the count now rather than at the first call
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
    // work(model, other's model) with both held (once where they are the same model), on
    // this model's threads.
    template <class Work>
    auto run_with(const PythonModel& other, Work&& work) const {
        py::gil_scoped_release released;
        std::unique_lock<std::mutex> mine(mutex_, std::defer_lock), theirs(other.mutex_, std::defer_lock);
        if (&other == this) mine.lock();
        else std::lock(mine, theirs);  // in an order that cannot deadlock with a call holding them the other way
        backend::cpu::set_threads(threads_);
        return work(model_, other.model_);
    }

private:
    template <class Self, class M, class Work>
    static auto locked(Self& self, M& model, Work&& work) {
        py::gil_scoped_release released;
        std::lock_guard<std::mutex> lock(self.mutex_);
        // OpenMP's team size is a per-thread setting: set it on the thread that runs the call.
        backend::cpu::set_threads(self.threads_);
        return work(model);
    }

    // Refuses a device this module cannot run before any weights are read.
    static Model<cpu> load(const std::string& device, Architecture arch, const std::string& weights) {
        require_device(device);
        return weights.empty() ? Model<cpu>(std::move(arch)) : Model<cpu>(std::move(arch), weights);
    }

    // The module binds bagnet::Model<cpu> only, whatever backends the library was built with.
    static void require_device(const std::string& device) {
        if (device == "cpu") return;
        if (device == "cuda")
            throw Error(BAGNET_WITH_CUDA ? "device 'cuda': the Python module does not run the cuda backend of this "
                                           "build; its only device is 'cpu'"
                                         : "device 'cuda': this bagnet module was built without the cuda backend "
                                           "(BAGNET_WITH_CUDA off); its only device is 'cpu'");
        throw Error("unknown device '" + device + "': this bagnet module's only device is 'cpu'");
    }

    Model<cpu> model_;
    int threads_;
    mutable std::mutex mutex_;
};

}  // namespace bagnet::python
