#pragma once
// Training checkpoints: everything needed to continue a run exactly, in one
// safetensors file written atomically. The parameters (batch-norm statistics
// included) keep their state_dict names; optimizer state tensors are stored as
// "optimizer/<name>"; the position (step, epoch, batch, seed) is metadata. The
// data order and augmentation are functions of (seed, epoch, batch), so the
// position is the whole random state. The run's plan (its schedule and total step
// count) is metadata too: resuming under another plan is refused, since the
// resumed run would not end where the uninterrupted one does.
#include <charconv>
#include <cstdint>
#include <limits>
#include <map>
#include <string>

#include "bagnet/io/safetensors.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/train/optimizer.hpp"

namespace bagnet::train {

// Where a run stands: `step` optimizer steps done; the next batch is `batch` of `epoch`.
struct Position {
    long step = 0;
    long epoch = 0;
    long batch = 0;
    std::uint64_t seed = 0;
};

// What a run is, beyond where it stands.
struct RunPlan {
    std::string schedule;  // Schedule::describe()
    long total_steps = 0;
};

inline const char* checkpoint_format = "bagnet-training-checkpoint-2";
inline const std::string optimizer_prefix = "optimizer/";

inline void save_checkpoint(const std::string& path, const Architecture& arch, const Parameters& params,
                            const Optimizer& optimizer, const Position& position, const RunPlan& plan) {
    std::vector<io::NamedTensor> tensors;
    for (const auto& slot : parameter_slots(arch)) {
        const Tensor& value = params.at(slot.key);
        tensors.push_back(slot.is_counter() ? io::int64_scalar(slot.key, std::int64_t(value()))
                                          : io::float32_tensor(slot.key, value));
    }
    for (const auto& [name, value] : optimizer.state()) tensors.push_back(io::float32_tensor(optimizer_prefix + name, value));
    const std::map<std::string, std::string> metadata{
        {"format", checkpoint_format},     {"architecture", arch.name},
        {"classes", std::to_string(arch.classes())},
        {"in_channels", std::to_string(arch.in_channels)},
        {"optimizer", optimizer.name()},   {"step", std::to_string(position.step)},
        {"epoch", std::to_string(position.epoch)}, {"batch", std::to_string(position.batch)},
        {"seed", std::to_string(position.seed)},
        {"schedule", plan.schedule},       {"total_steps", std::to_string(plan.total_steps)}};
    io::write_safetensors(path, tensors, metadata);
}

struct Checkpoint {
    Position position;
    RunPlan plan;
};

// Restores parameters and optimizer state from a checkpoint's bytes (`file.source()`
// names it in errors); returns the position and plan. Refuses a checkpoint of another
// architecture, class count or optimizer with one clear line.
inline Checkpoint load_checkpoint(const io::SafetensorsView& file, const Architecture& arch, Parameters& params,
                                  Optimizer& optimizer) {
    const std::string& path = file.source();
    const auto& meta = file.metadata();
    auto field = [&](const std::string& key) {
        auto it = meta.find(key);
        require(it != meta.end(), path + ": not a bagnet training checkpoint (no '" + key + "' in its metadata)");
        return it->second;
    };
    require(field("format") == checkpoint_format, path + ": unsupported checkpoint format '" + field("format") + "'");
    const std::string expected = arch.name + " with " + std::to_string(arch.classes()) + " classes and " +
                                 std::to_string(arch.in_channels) + " input channels";
    const std::string found = field("architecture") + " with " + field("classes") + " classes and " +
                              field("in_channels") + " input channels";
    require(found == expected, path + ": checkpoint of " + found + ", but training " + expected);
    require(field("optimizer") == optimizer.name(),
            path + ": checkpoint was trained with " + field("optimizer") + ", this run uses " + optimizer.name());
    // The whole field, in decimal: std::stol took "12abc" for 12 and "-3" for a count, and
    // refused seeds from 2^63 on, which save_checkpoint writes for a 64-bit seed.
    auto number = [&](const std::string& key, std::uint64_t most) {
        const std::string text = field(key);
        std::uint64_t value = 0;
        const auto [end, problem] = std::from_chars(text.data(), text.data() + text.size(), value);
        require(!text.empty() && problem == std::errc() && end == text.data() + text.size() && value <= most,
                path + ": checkpoint metadata '" + key + "' is not a number from 0 to " + std::to_string(most));
        return value;
    };
    const auto count = [&](const std::string& key) {
        return long(number(key, std::uint64_t(std::numeric_limits<long>::max())));
    };
    const Checkpoint checkpoint{{count("step"), count("epoch"), count("batch"),
                                 number("seed", std::numeric_limits<std::uint64_t>::max())},
                                {field("schedule"), count("total_steps")}};
    Parameters restored;
    for (const auto& slot : parameter_slots(arch)) {
        require(file.contains(slot.key), path + ": checkpoint lacks '" + slot.key + "'");
        require(file.shape(slot.key) == slot.shape, path + ": '" + slot.key + "' has shape " +
                                                        shape_string(file.shape(slot.key)) + ", expected " +
                                                        shape_string(slot.shape));
        restored.tensors()[slot.key] = file.load_float(slot.key);
    }
    std::map<std::string, Tensor> state;
    for (const auto& name : file.names())
        if (name.rfind(optimizer_prefix, 0) == 0) state[name.substr(optimizer_prefix.size())] = file.load_float(name);
    params = std::move(restored);
    optimizer.state() = std::move(state);
    return checkpoint;
}

// As above, from the checkpoint file at `path`.
inline Checkpoint load_checkpoint(const std::string& path, const Architecture& arch, Parameters& params,
                                  Optimizer& optimizer) {
    return load_checkpoint(io::SafetensorsFile(path), arch, params, optimizer);
}

// Restores a run to continue it under `plan` with `seed`: as load_checkpoint, and
// also refuses a checkpoint made with another seed or schedule, or already past the
// run's end. The run may be longer or shorter than the checkpoint's: a schedule that
// depends on the run's length (cosine) says so in its description, so changing that
// length changes the schedule and is refused, unless the schedule keeps the recorded length.
inline Position resume_checkpoint(const std::string& path, const Architecture& arch, Parameters& params,
                                  Optimizer& optimizer, const RunPlan& plan, std::uint64_t seed) {
    Parameters restored = params;
    const auto state_before = optimizer.state();
    const Checkpoint checkpoint = load_checkpoint(path, arch, restored, optimizer);
    const std::string refused = path + ": cannot resume: ";
    if (checkpoint.position.seed != seed || checkpoint.plan.schedule != plan.schedule ||
        checkpoint.position.step > plan.total_steps)
        optimizer.state() = state_before;  // a refused resume changes nothing
    require(checkpoint.position.seed == seed, refused + "the checkpoint's run used seed " +
                                                  std::to_string(checkpoint.position.seed) + ", this one seed " +
                                                  std::to_string(seed) + " (the data order would differ)");
    const bool cosine = checkpoint.plan.schedule.rfind("cosine", 0) == 0 && plan.schedule.rfind("cosine", 0) == 0;
    if (checkpoint.plan.schedule != plan.schedule)
        throw Error(refused + "the checkpoint's run used the schedule '" + checkpoint.plan.schedule + "', this one '" +
                        plan.schedule + "'" +
                        (cosine ? " (a cosine schedule spans the run's steps: to run another number of steps, "
                                  "keep the recorded cosine length)"
                                : ""),
                    cosine ? Remedy::keep_cosine_length : Remedy::none);
    // A shorter run, but not one that the checkpoint's has already gone past.
    require(checkpoint.position.step <= plan.total_steps,
            refused + "the checkpoint's run is at step " + std::to_string(checkpoint.position.step) + ", past the " +
                std::to_string(plan.total_steps) + " steps of this one");
    params = std::move(restored);
    return checkpoint.position;
}

}  // namespace bagnet::train
