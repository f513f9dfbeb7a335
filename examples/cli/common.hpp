#pragma once
// What every model-running command shares: choosing the architecture, loading
// weights, precision and threads.
#include <set>
#include <string>

#include "arguments.hpp"
#include "bagnet/bagnet.hpp"

namespace bagnet::cli {

inline std::set<std::string> model_options() { return {"arch", "weights", "classes", "precision", "threads", "device"}; }

inline std::set<std::string> with(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

inline void apply_threads(const Arguments& args) {
    onednn::set_threads(int(args.get_int("threads", 2, 1, 1024)));
}

inline Precision precision_of(const Arguments& args) {
    try {
        return parse_precision(args.get("precision", "fp32"));
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
}

// Architecture from --arch (and --classes); a usage error if the name is unknown.
inline Architecture architecture_of(const Arguments& args) {
    const int classes = int(args.get_int("classes", 0, 1, 1 << 20));  // 0: the architecture's own
    try {
        return architecture_by_name(args.get("arch"), classes);
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
}

inline void require_cpu_device(const Arguments& args) {
    const std::string device = args.get("device", "cpu");
    if (device == "cuda")
        throw Error(BAGNET_WITH_CUDA ? "gradients and training do not run on the GPU yet; use --device cpu"
                                     : "this bagnet was built without CUDA; rebuild with cmake -DBAGNET_WITH_CUDA=ON "
                                       "for --device cuda");
    if (device != "cpu") throw UsageError("unknown device '" + device + "' (expected cpu or cuda)");
}

// The model named by --arch with --weights loaded (or random weights when
// weights are optional and absent), at --precision.
template <class Backend>
Model<Backend> load_model(const Arguments& args, bool weights_required = true) {
    apply_threads(args);
    Model<Backend> model(architecture_of(args));
    model.precision(precision_of(args));
    if (weights_required || args.has("weights")) model.load(args.get("weights"));
    return model;
}

// Runs body(model) with the model load_model gives on the backend --device names.
// `body` is a generic lambda, so each command is written once for every backend.
template <class Body>
int on_device(const Arguments& args, Body&& body, bool weights_required = true) {
    const std::string device = args.get("device", "cpu");
    if (device == "cpu") return body(load_model<cpu>(args, weights_required));
#if BAGNET_WITH_CUDA
    if (device == "cuda") return body(load_model<cuda>(args, weights_required));
#endif
    require_cpu_device(args);  // names what is wrong with any other choice
    return 1;
}

}  // namespace bagnet::cli
