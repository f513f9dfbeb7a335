#pragma once
// What every model-running command shares: choosing the architecture, loading
// weights, precision and threads.
#include <algorithm>
#include <set>
#include <string>
#include <thread>

#include "arguments.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/io/image_data.hpp"

namespace bagnet::cli {

inline std::set<std::string> model_options() { return {"arch", "weights", "classes", "precision", "threads", "device"}; }

inline std::set<std::string> with(std::set<std::string> a, const std::set<std::string>& b) {
    a.insert(b.begin(), b.end());
    return a;
}

inline int threads_of(const Arguments& args) { return int(args.get_int("threads", 2, 1, 1024)); }

inline void apply_threads(const Arguments& args) { onednn::set_threads(threads_of(args)); }

// How images are read: --workers N loading threads (by default the cores the
// compute threads leave free, at least 1) and --max-pixels, the decompression-bomb
// limit (PIL's 178,956,970 by default).
inline std::set<std::string> loading_options() { return {"workers", "max-pixels"}; }

inline int workers_of(const Arguments& args) {
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    return int(args.get_int("workers", std::max(1, cores - threads_of(args)), 1, 1024));
}

inline io::DecodeOptions decode_options_of(const Arguments& args) {
    return io::DecodeOptions().with_max_pixels(
        std::uint64_t(args.get_int("max-pixels", long(io::default_max_pixels), 1, 1L << 40)));
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

// Checks --device (cpu, or cuda in a CUDA build) before any work is done.
inline void check_device(const Arguments& args) {
    const std::string device = args.get("device", "cpu");
    if (device == "cuda" && !BAGNET_WITH_CUDA)
        throw Error("this bagnet was built without CUDA; rebuild with cmake -DBAGNET_WITH_CUDA=ON for --device cuda");
    if (device != "cpu" && device != "cuda") throw UsageError("unknown device '" + device + "' (expected cpu or cuda)");
}

// Runs body(Backend{}) for the backend --device names: `body` is a generic lambda,
// so each command is written once for every backend.
template <class Body>
int with_backend(const Arguments& args, Body&& body) {
    check_device(args);
#if BAGNET_WITH_CUDA
    if (args.get("device", "cpu") == "cuda") return body(cuda{});
#endif
    return body(cpu{});
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
template <class Body>
int on_device(const Arguments& args, Body&& body, bool weights_required = true) {
    return with_backend(args, [&](auto backend) {
        return body(load_model<decltype(backend)>(args, weights_required));
    });
}

}  // namespace bagnet::cli
