#pragma once
// What the commands share: the options every model-running command takes, usage
// errors, and running a command's body on the backend --device names.
//
// Options are parsed by CLI11: typed, range-checked, and listed with their
// meaning and default by `bagnet COMMAND --help`.
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "bagnet/bagnet.hpp"
#include "bagnet/config.hpp"
#include "bagnet/distributed/communicator.hpp"
#include "bagnet/io/image_data.hpp"

namespace bagnet::cli {

// A mistake in how the program was called (exit code 2), as opposed to a problem
// with the data it was given (bagnet::Error, exit code 1).
class UsageError : public Error {
public:
    using Error::Error;
};

// Runs `make` and reports a bagnet::Error it throws as a usage error: for values
// the library checks (hyperparameters, names) but that came from the command line.
template <class Make>
auto as_usage_error(Make&& make) -> decltype(make()) {
    try {
        return make();
    } catch (const UsageError&) {
        throw;
    } catch (const Error& e) {
        throw UsageError(e.what());
    }
}

// Whether a command shares its work between the processes mpirun starts, or runs in one.
enum class Processes { share_work, one_only };

// The commands registered with Processes::share_work, in the order of their registration.
inline std::vector<std::string>& work_sharing_commands() {
    static std::vector<std::string> names;
    return names;
}

// "train, evaluate, ... and attack-patch": the commands that share their work.
inline std::string work_sharing_list() { return listed(work_sharing_commands(), "and"); }

// A subcommand whose options bind to a value of `Options`, kept alive by the callback that
// runs the command with them and the processes sharing the work; a Processes::one_only
// command started by mpirun on several processes stops with a usage error naming the others.
template <class Options, class Run>
CLI::App* add_command(CLI::App& app, distributed::Communicator& processes, Processes sharing, const std::string& name,
                      const std::string& description, Run run) {
    auto options = std::make_shared<Options>();
    CLI::App* command = app.add_subcommand(name, description);
    if (sharing == Processes::share_work) work_sharing_commands().push_back(name);
    command->callback([options, run, &processes, sharing, name] {
        if (sharing == Processes::one_only && processes.size() > 1)
            throw UsageError(name + " runs in one process; start it without mpirun (" + work_sharing_list() +
                             " share their work between processes)");
        run(*options, processes);
    });
    options->add_to(*command);
    return command;
}

// Where a command's model comes from and how it runs.
struct ModelOptions {
    std::string arch, weights, precision = "fp32", device = "cpu";
    int classes = 0;
    int threads = config::machine_cores();

    // `weights`: whether --weights is required (inference), optional (bench: random
    // weights without it) or not taken at all (train has --init instead).
    enum class Weights { required, optional, none };

    void add_to(CLI::App& command, Weights weight_use, bool arch_required = true) {
        auto* a = command.add_option("--arch", arch, architecture_names());
        if (arch_required) a->required();
        if (weight_use != Weights::none) {
            auto* w = command.add_option("--weights", weights,
                                         "safetensors weights with PyTorch key names (tools/convert_checkpoint.py)");
            if (weight_use == Weights::required) w->required();
        }
        command.add_option("--classes", classes, "classes of the head (0: the architecture's own)")
            ->check(CLI::Range(0, 1 << 20));
        command.add_option("--precision", precision, "fp32 or bf16 (bf16 needs a CPU with AVX512-BF16 or AMX)")
            ->check(CLI::IsMember({"fp32", "bf16"}));
        command.add_option("--threads", threads, "compute threads")->check(CLI::Range(1, config::machine_cores()));
        command.add_option("--device", device, "cpu, or cuda (in a build with -DBAGNET_WITH_CUDA=ON)")
            ->check(CLI::IsMember({"cpu", "cuda"}));
    }

    Architecture architecture() const {
        return as_usage_error([&] { return architecture_by_name(arch, classes); });
    }
    Precision parsed_precision() const { return parse_precision(precision); }

    // For commands that backpropagate, which runs in fp32 only.
    void require_fp32(const std::string& command) const {
        if (precision != "fp32")
            throw UsageError(command + " runs in fp32 only (gradients are computed in fp32); --precision bf16 is "
                                       "for the inference commands");
    }
};

// Runs body(Backend{}) for the backend `device` names: `body` is a generic lambda,
// so each command is written once for every backend.
template <class Body>
void with_backend(const std::string& device, Body&& body) {
#if BAGNET_WITH_CUDA
    if (device == "cuda") return body(cuda{});
#else
    if (device == "cuda")
        throw Error("this bagnet was built without CUDA; rebuild with cmake -DBAGNET_WITH_CUDA=ON for --device cuda");
#endif
    body(cpu{});
}

// The model the options name, its weights loaded (or random ones where weights are
// optional and none are given), at the given precision and thread count.
template <class Backend>
Model<Backend> load_model(const ModelOptions& o) {
    backend::cpu::set_threads(o.threads);
    Model<Backend> model = o.weights.empty() ? Model<Backend>(o.architecture()) : Model<Backend>(o.architecture(), o.weights);
    model.precision(o.parsed_precision());
    return model;
}

// Runs body(model) with the model load_model gives, on the backend --device names.
template <class Body>
void on_device(const ModelOptions& o, Body&& body) {
    with_backend(o.device, [&](auto backend) { body(load_model<decltype(backend)>(o)); });
}

// How images are read: --workers loading threads (by default the cores that the
// compute threads leave free, at least 1) and --max-pixels, the decompression-bomb
// limit (PIL's by default).
struct LoadingOptions {
    int workers = 0;  // 0: the default, known once --threads is
    std::uint64_t max_pixels = io::default_max_pixels;

    void add_to(CLI::App& command) {
        command.add_option("--workers", workers, "image loading threads (0: the cores --threads leaves, at least 1)")
            ->check(CLI::Range(0, 1024));
        add_max_pixels(command);
    }
    void add_max_pixels(CLI::App& command) {
        command.add_option("--max-pixels", max_pixels, "refuse images with more pixels, from their header (PIL's limit)")
            ->check(CLI::Range(std::uint64_t(1), std::uint64_t(1) << 40));
    }
    int workers_for(int threads) const { return workers > 0 ? workers : config::loading_workers(threads); }
    io::DecodeOptions decode() const { return io::DecodeOptions().with_max_pixels(max_pixels); }
};

inline bool ends_with(const std::string& text, const std::string& suffix) {
    return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace bagnet::cli
