#pragma once
// Training as free functions over a model and data:
//
//   train::BatchLoader loader(train_set, train::LoaderOptions().batch(128), seed);
//   train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(5e-4));
//   auto schedule = train::Schedule::cosine(0.1, total_steps).warmup(200);
//   train::fit(model, sgd, schedule, loader, train::FitOptions().steps(total_steps));
//   auto metrics = train::evaluate(model, test_set);     // loss, top-1, top-5
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <set>
#include <string>

#include "bagnet/inference.hpp"
#include "bagnet/train/backprop.hpp"
#include "bagnet/train/checkpoint.hpp"
#include "bagnet/train/data.hpp"
#include "bagnet/train/loss.hpp"
#include "bagnet/train/optimizer.hpp"
#include "bagnet/train/schedule.hpp"

namespace bagnet::train {

struct TrainOptions {
    double label_smoothing = 0;
    int accumulate = 1;            // micro-batches per optimizer step (gradient accumulation)
    std::set<std::string> frozen;  // parameter keys left as they are
    Mode batch_norm = Mode::training;  // evaluation: normalise with (and keep) the running statistics
};

// Every parameter key except those starting with one of `trained_prefixes`,
// e.g. frozen_except(arch, {"fc."}) fine-tunes only the head, {"layer4.", "fc."} the last stage too.
inline std::set<std::string> frozen_except(const Architecture& arch, const std::vector<std::string>& trained_prefixes) {
    std::set<std::string> frozen;
    for (const auto& slot : parameter_slots(arch)) {
        bool trained = false;
        for (const auto& prefix : trained_prefixes) trained = trained || slot.key.rfind(prefix, 0) == 0;
        if (!trained) frozen.insert(slot.key);
    }
    return frozen;
}

// Batch norm's running mean, variance and counter: state the forward pass updates, not the optimizer.
inline bool is_running_statistic(const std::string& key) {
    for (const std::string suffix : {".running_mean", ".running_var", ".num_batches_tracked"})
        if (key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) return true;
    return false;
}

struct StepReport {
    long epoch = 0, step = 0;  // step: optimizer steps done, this one included
    double loss = 0, lr = 0;
    std::size_t images = 0, correct = 0;
    double seconds = 0;        // wall time of this step
};

// One optimizer step on `batch`: forward in training mode, softmax cross-entropy,
// backward, then the update. With options.accumulate = k the batch is processed
// as k micro-batches whose gradients add up to the full batch's mean-loss gradient.
// A non-finite loss or gradient throws before anything is updated.
template <class Backend>
StepReport train_step(Model<Backend>& model, Optimizer& optimizer, const Batch& batch, double lr,
                      const TrainOptions& options = {}) {
    const auto start = std::chrono::steady_clock::now();
    const Graph graph = graph_of(model.architecture());
    auto& ops = training_ops<Backend>();
    const std::size_t n = batch.labels.size();
    const std::size_t parts = std::size_t(std::max(1, std::min<int>(options.accumulate, int(n))));
    Parameters& params = model.mutable_parameters();
    // Running statistics change only once the whole step has succeeded.
    Parameters updated_statistics;
    for (const auto& [key, value] : params.tensors())
        if (is_running_statistic(key)) updated_statistics.tensors()[key] = value;
    Gradients total;
    StepReport report;
    report.images = n;
    report.lr = lr;
    for (std::size_t part = 0; part < parts; ++part) {
        const std::size_t begin = n * part / parts, end = n * (part + 1) / parts;
        const Tensor4 x = slice_batch(batch.images, begin, end);
        const std::vector<std::int64_t> labels(batch.labels.begin() + long(begin), batch.labels.begin() + long(end));
        const auto tape = forward(ops, graph, params, x, options.batch_norm);
        LossResult loss = softmax_cross_entropy(tape.output(), labels, options.label_smoothing);
        if (!std::isfinite(loss.loss))
            throw Error("the loss became non-finite (" + std::to_string(loss.loss) +
                        "); lower the learning rate (training stopped, the last checkpoint is kept)");
        report.loss += loss.loss * double(end - begin) / double(n);
        report.correct += loss.correct;
        loss.gradient *= float(double(end - begin) / double(n));
        BackwardOptions backward_options;
        backward_options.frozen = options.frozen;
        Gradients gradients = backward(ops, graph, params, tape, loss.gradient, backward_options).parameters;
        for (auto& [key, g] : gradients) {
            auto it = total.find(key);
            if (it == total.end()) total.emplace(key, std::move(g));
            else it->second += g;
        }
        if (options.batch_norm == Mode::training) update_running_statistics(graph, tape, updated_statistics);
    }
    for (const auto& [key, value] : updated_statistics.tensors())
        if (!options.frozen.count(key)) params.at(key) = value;
    // ReLU turns NaN into 0, so a poisoned step can show a finite loss: check the gradients too.
    for (const auto& [key, g] : total)
        for (float v : g)
            if (!std::isfinite(v))
                throw Error("the gradient of '" + key + "' became non-finite (bad input values, or lower the learning "
                            "rate); training stopped, the last checkpoint is kept");
    optimizer.step(params, total, lr);
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return report;
}

struct EvalMetrics {
    double loss = 0, top1 = 0, top5 = 0;
    std::size_t images = 0;
};

// Loss, top-1 and top-5 accuracy in evaluation mode (the fast inference path).
template <class Backend>
EvalMetrics evaluate(const Model<Backend>& model, const LabelledImages& data, std::size_t batch_size = 500) {
    check_labels(data, model.architecture().classes(), "evaluation data");
    const std::size_t n = data.labels.size(), classes = std::size_t(model.architecture().classes());
    EvalMetrics metrics;
    metrics.images = n;
    for (std::size_t begin = 0; begin < n; begin += batch_size) {
        const std::size_t end = std::min(n, begin + batch_size);
        const Tensor4 x = slice_batch(data.images, begin, end);
        const Tensor2 scores = logits(model, x);
        const std::vector<std::int64_t> labels(data.labels.begin() + long(begin), data.labels.begin() + long(end));
        Tensor4 as4 = Tensor4::from_shape({end - begin, classes, std::size_t(1), std::size_t(1)});
        std::copy(scores.begin(), scores.end(), as4.begin());
        const LossResult loss = softmax_cross_entropy(as4, labels);
        metrics.loss += loss.loss * double(end - begin);
        metrics.top1 += double(loss.correct);
        for (std::size_t i = 0; i < end - begin; ++i) {
            const float target = scores(i, std::size_t(labels[i]));
            std::size_t above = 0;
            for (std::size_t k = 0; k < classes; ++k) above += scores(i, k) > target;
            metrics.top5 += above < 5;
        }
    }
    metrics.loss /= double(n);
    metrics.top1 /= double(n);
    metrics.top5 /= double(n);
    return metrics;
}

struct EpochReport {
    long epoch = 0;            // the epoch just finished (0-based)
    double train_loss = 0, train_top1 = 0;
    std::size_t images = 0;
    double seconds = 0;
};

struct FitOptions {
    long epochs = 1;
    long steps = 0;               // when > 0: stop after this many steps in total instead
    TrainOptions train;
    std::string checkpoint;       // when set: saved here every `checkpoint_every` steps and at the end
    long checkpoint_every = 0;    // 0: at the end of every epoch only
    FitOptions& with_epochs(long n) { epochs = n; return *this; }
    FitOptions& with_steps(long n) { steps = n; return *this; }
    FitOptions& with_checkpoint(std::string path, long every = 0) { checkpoint = std::move(path); checkpoint_every = every; return *this; }
};

struct Callbacks {
    std::function<void(const StepReport&)> on_step;
    std::function<void(const EpochReport&)> on_epoch;
};

// Total optimizer steps a FitOptions asks for with this loader.
inline long total_steps(const FitOptions& options, const BatchLoader& loader) {
    return options.steps > 0 ? options.steps : options.epochs * long(loader.batches_per_epoch());
}

// Trains from `position` (zero for a fresh run, or what load_checkpoint returned)
// to the end, calling the callbacks; updates `position` as it goes.
template <class Backend>
void fit(Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule, BatchLoader& loader,
         const FitOptions& options, Position& position, const Callbacks& callbacks = {}) {
    check_labels(loader.data(), model.architecture().classes(), "training data");
    const long total = total_steps(options, loader);
    const long per_epoch = long(loader.batches_per_epoch());
    EpochReport epoch_report;
    auto save = [&] {
        if (!options.checkpoint.empty())
            save_checkpoint(options.checkpoint, model.architecture(), model.parameters(), optimizer, position,
                            {schedule.describe(), total});
    };
    while (position.step < total) {
        const Batch batch = loader.batch(std::uint64_t(position.epoch), std::size_t(position.batch));
        StepReport report = train_step(model, optimizer, batch, schedule(position.step), options.train);
        report.epoch = position.epoch;
        report.step = ++position.step;
        epoch_report.train_loss += report.loss * double(report.images);
        epoch_report.train_top1 += double(report.correct);
        epoch_report.images += report.images;
        epoch_report.seconds += report.seconds;
        const bool epoch_done = ++position.batch == per_epoch;
        if (epoch_done) {
            position.batch = 0;
            ++position.epoch;
        }
        if (callbacks.on_step) callbacks.on_step(report);
        if (epoch_done || position.step == total) {
            epoch_report.epoch = report.epoch;
            epoch_report.train_loss /= double(std::max<std::size_t>(1, epoch_report.images));
            epoch_report.train_top1 /= double(std::max<std::size_t>(1, epoch_report.images));
            if (callbacks.on_epoch) callbacks.on_epoch(epoch_report);
            epoch_report = {};
        }
        if (epoch_done || position.step == total ||
            (options.checkpoint_every > 0 && position.step % options.checkpoint_every == 0))
            save();
    }
}

// Where a run checkpointed by fit() stands, with the model and optimizer restored:
// continuing it with fit(model, optimizer, schedule, loader, options, position)
// ends exactly where the uninterrupted run would have. Refuses a checkpoint of
// another architecture, optimizer, seed, schedule or length.
template <class Backend>
Position resume(const std::string& checkpoint, Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule,
                const BatchLoader& loader, const FitOptions& options) {
    Parameters params = model.parameters();
    const Position position = resume_checkpoint(checkpoint, model.architecture(), params, optimizer,
                                                {schedule.describe(), total_steps(options, loader)}, loader.seed());
    model.mutable_parameters() = std::move(params);
    return position;
}

// One pass over the loader's data from the start of `position.epoch`'s remaining batches.
template <class Backend>
EpochReport train_epoch(Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule, BatchLoader& loader,
                        Position& position, const TrainOptions& options = {}, const Callbacks& callbacks = {}) {
    FitOptions fit_options;
    fit_options.train = options;
    fit_options.steps = position.step + long(loader.batches_per_epoch()) - position.batch;
    EpochReport result;
    Callbacks inner = callbacks;
    inner.on_epoch = [&](const EpochReport& r) {
        result = r;
        if (callbacks.on_epoch) callbacks.on_epoch(r);
    };
    fit(model, optimizer, schedule, loader, fit_options, position, inner);
    return result;
}

}  // namespace bagnet::train
