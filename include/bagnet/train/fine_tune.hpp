#pragma once
// Fine-tuning: starting from a pretrained checkpoint whose head may be for other
// classes (an ImageNet model for your own data), and training only part of the model.
//
//   Model<cpu> model(architecture_by_name("bagnet33", 5), seed);    // 5 classes
//   const bool head_loaded = train::load_pretrained(model, "bagnet33.safetensors");
//   options.train.frozen = train::frozen_for(model.architecture(), train::FineTune::head);
#include <set>
#include <string>

#include "bagnet/arch.hpp"
#include "bagnet/error.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/io/safetensors.hpp"
#include "bagnet/model.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/train/loop.hpp"

namespace bagnet::train {

// What is trained: everything, the linear head only, or the last stage and the head.
enum class FineTune { all, head, last_stage };

inline const char* to_string(FineTune part) {
    return part == FineTune::head ? "head" : part == FineTune::last_stage ? "last-stage" : "all";
}
inline FineTune parse_fine_tune(const std::string& name) {
    for (FineTune part : {FineTune::all, FineTune::head, FineTune::last_stage})
        if (name == to_string(part)) return part;
    throw Error("unknown part to fine-tune '" + name + "' (expected all, head or last-stage)");
}

// The parameter keys left as they are when fine-tuning `part`.
inline std::set<std::string> frozen_for(const Architecture& arch, FineTune part) {
    const std::string head = arch.head().name + ".";
    switch (part) {
    case FineTune::head: return frozen_except(arch, {head});
    case FineTune::last_stage: return frozen_except(arch, {last_stage_prefix(arch), head});
    case FineTune::all: break;
    }
    return {};
}

// Loads a checkpoint into `model` for fine-tuning. Every tensor but the linear
// head's must be there with the shape the architecture needs (else an Error naming
// it, before the model changes); the head is loaded when its shape fits, else it
// keeps the model's own (fresh) weights. Tensors the architecture has no use for
// are ignored. Returns whether the head was loaded.
template <class Backend>
bool load_pretrained(Model<Backend>& model, const std::string& path) {
    const io::SafetensorsFile file(path);
    const Architecture& arch = model.architecture();
    const std::string head = arch.head().name + ".";
    Parameters params = model.parameters();
    bool head_loaded = true;
    for (const auto& slot : parameter_slots(arch)) {
        if (file.contains(slot.key) && file.shape(slot.key) == slot.shape) {
            params.at(slot.key) = Parameters::finite_tensor(file, path, slot.key);
            continue;
        }
        require(slot.key.rfind(head, 0) == 0,
                path + ": tensor '" + slot.key + "' is " +
                    (file.contains(slot.key) ? "of shape " + shape_string(file.shape(slot.key)) : "missing") + " but " +
                    arch.name + " needs " + shape_string(slot.shape));
        head_loaded = false;
    }
    // A head only partly loaded (its weight fits but not its bias) would be neither model's.
    if (!head_loaded)
        for (const auto& slot : parameter_slots(arch))
            if (slot.key.rfind(head, 0) == 0) params.at(slot.key) = model.parameters().at(slot.key);
    model.mutable_parameters() = std::move(params);
    return head_loaded;
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_FINE_TUNE_INSTANCES(prefix, Backend)                            \
    prefix bool load_pretrained<Backend>(Model<Backend>&, const std::string&);
BAGNET_EXTERN_INSTANCES(BAGNET_FINE_TUNE_INSTANCES)

}  // namespace bagnet::train
