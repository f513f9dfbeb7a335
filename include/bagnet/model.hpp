#pragma once
// The model: an architecture, its parameters, and the backend that runs it.
//
//   bagnet::BagNet<33> model;                     // ImageNet BagNet-33 on oneDNN
//   model.load("bagnet33.safetensors");
//   auto logits = bagnet::logits(model, images);  // N x 1000
#include <type_traits>
#include <utility>

#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/contract.hpp"
#include "bagnet/parameters.hpp"

#ifndef BAGNET_WITH_CUDA
#define BAGNET_WITH_CUDA 0
#endif

namespace bagnet {

// A network fixed at run time (the command line picks one by name); BagNet<Q, ...>
// below is the same thing fixed at compile time.
template <class Backend = cpu>
class Model {
    static_assert(!std::is_same<Backend, cuda>::value || BAGNET_WITH_CUDA,
                  "bagnet::cuda needs the CUDA build: configure with cmake -DBAGNET_WITH_CUDA=ON");
    static_assert(executor_contract::check<Executor<Backend>>());

public:
    // Fresh random parameters (see Parameters::initial), for training from scratch.
    explicit Model(Architecture arch, std::uint64_t seed = 0)
        : arch_(std::move(arch)), params_(Parameters::initial(arch_, seed)) {}
    // The parameters of a safetensors checkpoint, without drawing random ones first.
    Model(Architecture arch, const std::string& weights)
        : arch_(std::move(arch)), params_(Parameters::load(arch_, weights)) {}

    // Loads a safetensors checkpoint with the PyTorch key names; throws bagnet::Error
    // naming any missing, unexpected or misshapen tensor.
    Model& load(const std::string& path) {
        params_ = Parameters::load(arch_, path);
        executor_.invalidate();
        return *this;
    }
    void save(const std::string& path) const { params_.save(arch_, path); }

    // fp32 (default) or bf16 (opt-in; the published weights lose accuracy in reduced precision).
    Model& precision(Precision p) {
        precision_ = p;
        return *this;
    }
    Precision precision() const { return precision_; }

    const Architecture& architecture() const { return arch_; }
    const Parameters& parameters() const { return params_; }
    // Write access; whatever the backend derived from the old values is dropped.
    Parameters& mutable_parameters() {
        executor_.invalidate();
        return params_;
    }
    Executor<Backend>& executor() const { return executor_; }

private:
    Architecture arch_;
    Parameters params_;
    Precision precision_ = Precision::fp32;
    mutable Executor<Backend> executor_;  // caches only: running a model does not change it
};

template <int Q, class Config = imagenet, class Backend = cpu>
class BagNet : public Model<Backend> {
    static_assert(valid_patch_size<Config>(Q),
                  "BagNet<Q, Config>: no choice of 3x3 stages gives this configuration a receptive field of Q "
                  "(for the ImageNet configuration Q is 9, 17 or 33)");

public:
    static constexpr int patch_size = Q;
    using config = Config;
    explicit BagNet(int classes = Config::classes, std::uint64_t seed = 0)
        : Model<Backend>(make_architecture<Config>(Q, classes), seed) {}
    explicit BagNet(const std::string& weights, int classes = Config::classes)
        : Model<Backend>(make_architecture<Config>(Q, classes), weights) {}
};

}  // namespace bagnet
