#pragma once
// A network's learned state, keyed by the PyTorch state_dict names of the
// published checkpoints, so files move between PyTorch and bagnet unchanged.
// Reading and writing checkpoints is in parameters_impl.hpp (bagnet/instances.hpp says why).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "bagnet/arch.hpp"
#include "bagnet/error.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/tensor.hpp"

namespace bagnet {
namespace io {
class SafetensorsFile;
}

using Shape = std::vector<std::size_t>;

using ParameterSlot = LayerTensor;

// Every tensor an architecture owns, in state_dict order, derived from its graph.
inline std::vector<ParameterSlot> parameter_slots(const Architecture& arch) { return tensors_of(arch.graph); }

class Parameters {
public:
    Parameters() = default;

    // Fresh parameters for training from scratch, each tensor as its layer says
    // (LayerTensor::initial): He-normal convolutions, identity batch norms, a small
    // linear head. Deterministic in `seed`.
    BAGNET_INLINE static Parameters initial(const Architecture& arch, std::uint64_t seed);

    // Loads and checks a safetensors file against the architecture: every key must
    // be present with the expected shape, and no other key may appear.
    BAGNET_INLINE static Parameters load(const Architecture& arch, const std::string& path);

    // Tensor `key` of a checkpoint, which must hold finite numbers only.
    BAGNET_INLINE static Tensor finite_tensor(const io::SafetensorsFile& file, const std::string& path,
                                              const std::string& key);

    // Writes the parameters as safetensors, atomically, in the PyTorch layout.
    BAGNET_INLINE void save(const Architecture& arch, const std::string& path,
                            const std::map<std::string, std::string>& metadata = {}) const;

    const Tensor& at(const std::string& key) const {
        auto it = tensors_.find(key);
        require(it != tensors_.end(), "no parameter named '" + key + "'");
        return it->second;
    }
    Tensor& at(const std::string& key) {
        auto it = tensors_.find(key);
        require(it != tensors_.end(), "no parameter named '" + key + "'");
        return it->second;
    }
    const std::map<std::string, Tensor>& tensors() const { return tensors_; }
    std::map<std::string, Tensor>& tensors() { return tensors_; }

private:
    BAGNET_INLINE static std::string summary(const std::vector<std::string>& keys);

    std::map<std::string, Tensor> tensors_;
};

}  // namespace bagnet

#if !BAGNET_COMPILED
#include "bagnet/parameters_impl.hpp"
#endif
