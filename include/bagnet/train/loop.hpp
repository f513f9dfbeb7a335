#pragma once
// Training as free functions over a model and data:
//
//   data::TensorDataset train_set(images, labels, data::TensorAugment().random_flip(true));
//   data::BatchStream stream(train_set, data::StreamOptions().batch(128).seeded(seed));
//   train::Sgd sgd(train::SgdOptions().momentum(0.9).weight_decay(5e-4));
//   auto schedule = train::Schedule::cosine(0.1, total_steps).warmup(200);
//   train::fit(model, sgd, schedule, stream, train::FitOptions().steps(total_steps), position);
//   auto metrics = train::evaluate(model, test_set);     // loss, top-1, top-5
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <numeric>
#include <set>
#include <string>

#include "bagnet/distributed/gradient_reduction.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/instances.hpp"
#include "bagnet/train/backends.hpp"
#include "bagnet/train/backprop.hpp"
#include "bagnet/train/checkpoint.hpp"
#include "bagnet/train/data.hpp"
#include "bagnet/train/loss.hpp"
#include "bagnet/train/optimizer.hpp"
#include "bagnet/train/schedule.hpp"
#include "bagnet/train/stop_request.hpp"

namespace bagnet::train {

struct TrainOptions {
    double label_smoothing = 0;
    int accumulate = 1;            // micro-batches per optimizer step (gradient accumulation)
    std::set<std::string> frozen;  // parameter keys left as they are
    Mode batch_norm = Mode::training;  // evaluation: normalise with (and keep) the running statistics
    // Data parallelism: the processes that share every batch, each holding its share
    // (data::StreamOptions::shard); null: this process alone. Their gradients are summed,
    // so that the step is the whole batch's. Batch norm normalises each process's share
    // on its own (PyTorch DDP's default), or with sync_batch_norm the whole batch (what
    // one process computes). Either way the running statistics of the first process are
    // every process's after each step (DDP's broadcast_buffers), so all copies agree.
    distributed::Communicator* processes = nullptr;
    bool sync_batch_norm = false;
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

struct StepReport {
    long epoch = 0, step = 0;  // step: optimizer steps done, this one included
    double loss = 0, lr = 0;
    std::size_t images = 0, correct = 0;
    double seconds = 0;        // wall time of this step
    double data_seconds = 0;   // time spent waiting for its batch (fit only)
};

namespace detail {
// The sizes of every process's share of a batch.
inline std::vector<double> share_sizes(std::size_t mine, distributed::Communicator* processes) {
    if (!processes) return {double(mine)};
    std::vector<double> sizes(std::size_t(processes->size()), 0.0);
    sizes[std::size_t(processes->rank())] = double(mine);
    processes->all_reduce_sum(sizes.data(), sizes.size());
    return sizes;
}
}  // namespace detail

// One optimizer step on `batch` (with options.processes: this process's share of the
// batch): forward in training mode, softmax cross-entropy, backward, then the update.
// With options.accumulate = k the batch is processed as k micro-batches whose
// gradients add up to the full batch's mean-loss gradient. A non-finite loss or
// gradient throws before anything is updated.
template <class Backend>
StepReport train_step(Model<Backend>& model, Optimizer& optimizer, const Batch& batch, double lr,
                      const TrainOptions& options = {}) {
    const auto start = std::chrono::steady_clock::now();
    distributed::Communicator* processes =
        options.processes && options.processes->size() > 1 ? options.processes : nullptr;
    distributed::Communicator* synchronised = options.sync_batch_norm ? processes : nullptr;
    const Graph& graph = model.architecture().graph;
    auto& ops = training_ops<Backend>();
    const std::size_t n = batch.labels.size();
    const std::vector<double> shares = detail::share_sizes(n, processes);
    const double whole = std::accumulate(shares.begin(), shares.end(), 0.0);
    const double smallest = *std::min_element(shares.begin(), shares.end());
    StepReport report;
    report.images = std::size_t(whole);
    report.lr = lr;
    // Synchronised batch norms need every process in every forward pass.
    if (whole == 0 || (synchronised && smallest == 0)) return report;
    const std::size_t micro = synchronised ? std::size_t(smallest) : n;
    const std::size_t parts = std::size_t(std::clamp<long>(options.accumulate, 1, long(std::max<std::size_t>(micro, 1))));
    Parameters& params = model.mutable_parameters();
    // Running statistics change only once the whole step has succeeded.
    Parameters updated_statistics;
    for (const auto& tensor : tensors_of(graph))  // batch norm's running statistics and counter
        if (!tensor.trainable()) updated_statistics.tensors()[tensor.key] = params.at(tensor.key);
    Gradients total;
    for (const std::string& key : trainable_keys(graph))  // a process with an empty share adds zeros
        if (!options.frozen.count(key)) total[key] = xt::zeros<float>(params.at(key).shape());
    double loss_sum = 0, correct = 0;
    for (std::size_t part = 0; part < parts && n > 0; ++part) {
        const std::size_t begin = n * part / parts, end = n * (part + 1) / parts;
        const Tensor4 x = slice_batch(batch.images, begin, end);
        const std::vector<std::int64_t> labels(batch.labels.begin() + long(begin), batch.labels.begin() + long(end));
        const auto tape = forward(ops, graph, params, x, options.batch_norm, synchronised);
        LossResult loss = softmax_cross_entropy(tape.output(), labels, options.label_smoothing);
        if (!std::isfinite(loss.loss))
            throw Error("the loss became non-finite (" + std::to_string(loss.loss) +
                        "); lower the learning rate (training stopped, the last checkpoint is kept)");
        loss_sum += loss.loss * double(end - begin);
        correct += double(loss.correct);
        // The gradient of this part's share of the whole batch's mean loss.
        loss.gradient *= float(double(end - begin) / whole);
        BackwardOptions backward_options;
        backward_options.frozen = options.frozen;
        for (auto& [key, g] : backward(ops, graph, params, tape, loss.gradient, backward_options).parameters)
            total.at(key) += g;
        if (options.batch_norm == Mode::training) update_running_statistics(graph, tape, updated_statistics);
    }
    if (processes) {
        distributed::sum_gradients(total, *processes);
        double sums[2] = {loss_sum, correct};
        processes->all_reduce_sum(sums, 2);
        loss_sum = sums[0];
        correct = sums[1];
        distributed::broadcast_tensors(updated_statistics.tensors(), *processes);
    }
    report.loss = loss_sum / whole;
    report.correct = std::size_t(correct);
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

namespace detail {
// A batch's summed loss, top-1 and top-5 hits and images, added to `metrics` (not yet divided).
template <class Backend>
void add_batch_metrics(const Model<Backend>& model, const Batch& batch, EvalMetrics& metrics) {
    const std::size_t n = batch.labels.size(), classes = std::size_t(model.architecture().classes());
    if (n == 0) return;
    const Tensor2 scores = logits(model, batch.images);
    Tensor4 as4 = Tensor4::from_shape({n, classes, std::size_t(1), std::size_t(1)});
    std::copy(scores.begin(), scores.end(), as4.begin());
    const LossResult loss = softmax_cross_entropy(as4, batch.labels);
    metrics.loss += loss.loss * double(n);
    metrics.top1 += double(loss.correct);
    for (std::size_t i = 0; i < n; ++i) {
        const float target = scores(i, std::size_t(batch.labels[i]));
        std::size_t above = 0;
        for (std::size_t k = 0; k < classes; ++k) above += scores(i, k) > target;
        metrics.top5 += above < 5;
    }
    metrics.images += n;
}

inline EvalMetrics averaged(EvalMetrics metrics) {
    require(metrics.images > 0, "evaluation data: no image could be loaded");
    metrics.loss /= double(metrics.images);
    metrics.top1 /= double(metrics.images);
    metrics.top5 /= double(metrics.images);
    return metrics;
}
}  // namespace detail

// Loss, top-1 and top-5 accuracy in evaluation mode (the fast inference path),
// over one pass of the stream (StreamOptions::in_order: every item once).
template <class Backend>
EvalMetrics evaluate(const Model<Backend>& model, data::BatchStream& stream) {
    data::check_labels(stream.dataset(), model.architecture().classes(), "evaluation data");
    EvalMetrics metrics;
    for (std::size_t b = 0; b < stream.batches_per_epoch(); ++b) detail::add_batch_metrics(model, stream.batch(0, b), metrics);
    return detail::averaged(metrics);
}

// The same over images in memory.
template <class Backend>
EvalMetrics evaluate(const Model<Backend>& model, const LabelledImages& data, std::size_t batch_size = 500) {
    const data::TensorDataset dataset(data);
    data::BatchStream stream(dataset, data::StreamOptions::in_order(batch_size));
    return evaluate(model, stream);
}

// The same over a data set whose batches are shared between processes
// (distributed/shard.hpp): every process gets exactly the metrics one process
// computes; the first process also gets the files skipped as corrupt.
template <class Backend>
EvalMetrics evaluate(const Model<Backend>& model, const data::Dataset& data, const distributed::ShardOptions& options,
                     distributed::Communicator& processes, std::vector<data::SkippedItem>* skipped = nullptr) {
    data::check_labels(data, model.architecture().classes(), "evaluation data");
    const auto parts = distributed::map_batches(data, options, processes, [&](const Batch& batch) {
        EvalMetrics part;
        detail::add_batch_metrics(model, batch, part);
        return distributed::Writer().number(part.loss).number(part.top1).number(part.top5).number(std::uint64_t(part.images)).bytes();
    }, skipped);
    // Summed in batch order on the first process, as one process sums them.
    double totals[4] = {0, 0, 0, 0};
    for (const std::string& part : parts) {
        distributed::Reader in(part);
        for (int i = 0; i < 3; ++i) totals[i] += in.number<double>();
        totals[3] += double(in.number<std::uint64_t>());
    }
    processes.broadcast(totals, sizeof totals, 0);
    EvalMetrics metrics;
    metrics.loss = totals[0];
    metrics.top1 = totals[1];
    metrics.top5 = totals[2];
    metrics.images = std::size_t(totals[3]);
    return detail::averaged(metrics);
}

struct EpochReport {
    long epoch = 0;            // the epoch just finished (0-based)
    double train_loss = 0, train_top1 = 0;
    std::size_t images = 0;
    double seconds = 0, data_seconds = 0;  // in steps, and of that waiting for batches
};

// How fit() ended: every step done, or stopped at a step boundary by FitOptions::stop
// (at the last one too: a request that came during the last step is not lost).
enum class FitEnd { completed, stopped };

struct FitOptions {
    long epochs = 1;
    long steps = 0;               // when > 0: stop after this many steps in total instead
    TrainOptions train;
    std::string checkpoint;       // when set: saved here every `checkpoint_every` steps and at the end
    long checkpoint_every = 0;    // 0: at the end of every epoch only
    // When set: polled at every step boundary; once requested (by any process), fit()
    // writes the checkpoint (if any) where the run stands and returns FitEnd::stopped.
    const StopRequest* stop = nullptr;
    FitOptions& with_epochs(long n) { epochs = n; return *this; }
    FitOptions& with_steps(long n) { steps = n; return *this; }
    FitOptions& with_checkpoint(std::string path, long every = 0) { checkpoint = std::move(path); checkpoint_every = every; return *this; }
    FitOptions& stopping_on(const StopRequest& request) { stop = &request; return *this; }
};

struct Callbacks {
    std::function<void(const StepReport&)> on_step;
    std::function<void(const EpochReport&)> on_epoch;
};

// Total optimizer steps a FitOptions asks for with this stream.
inline long total_steps(const FitOptions& options, const data::BatchStream& stream) {
    return options.steps > 0 ? options.steps : options.epochs * long(stream.batches_per_epoch());
}

// Trains from `position` (zero for a fresh run, or what load_checkpoint returned)
// to the end, calling the callbacks; updates `position` as it goes. Step b of
// epoch e trains on batch (e, b) of the stream, so a resumed run sees the batches
// an uninterrupted one would. A batch whose every file was skipped as corrupt
// (StreamOptions::skip_corrupt) is a step without an update. With options.stop the
// run may end early, after a whole step and with its checkpoint written: continuing it
// (resume) then ends where the uninterrupted run ends. With several processes a request
// in any one of them stops them all after the same step (they agree at every boundary).
template <class Backend>
FitEnd fit(Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule, data::BatchStream& stream,
           const FitOptions& options, Position& position, const Callbacks& callbacks = {}) {
    data::check_labels(stream.dataset(), model.architecture().classes(), "training data");
    distributed::SingleProcess alone;
    distributed::Communicator& processes = options.train.processes ? *options.train.processes : alone;
    require(stream.options().ranks == processes.size() && stream.options().rank == processes.rank(),
            "the stream's share (process " + std::to_string(stream.options().rank) + " of " +
                std::to_string(stream.options().ranks) + ") is not this process's (" + std::to_string(processes.rank()) +
                " of " + std::to_string(processes.size()) + ")");
    // Every process starts from the first one's parameters and optimizer state.
    distributed::broadcast_tensors(model.mutable_parameters().tensors(), processes);
    distributed::broadcast_tensors(optimizer.state(), processes);
    const long total = total_steps(options, stream);
    const long per_epoch = long(stream.batches_per_epoch());
    EpochReport epoch_report;
    long saved_at = -1;  // the step the checkpoint was last written at
    auto save = [&] {
        if (!options.checkpoint.empty() && processes.is_root())
            save_checkpoint(options.checkpoint, model.architecture(), model.parameters(), optimizer, position,
                            {schedule.describe(), total});
        saved_at = position.step;
    };
    // One all-reduce of a flag per step with several processes: cheap next to the
    // gradients', and it makes every process stop after the same step.
    auto stop_agreed = [&] {
        double asked = options.stop && options.stop->requested() ? 1 : 0;
        processes.all_reduce_sum(&asked, 1);
        return asked > 0;
    };
    for (;;) {
        if (stop_agreed()) {
            if (saved_at != position.step) processes.guard(save);
            return FitEnd::stopped;
        }
        if (position.step >= total) return FitEnd::completed;
        const auto asked = std::chrono::steady_clock::now();
        const Batch batch =
            processes.guard([&] { return stream.batch(std::uint64_t(position.epoch), std::size_t(position.batch)); });
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - asked).count();
        StepReport report =
            processes.guard([&] { return train_step(model, optimizer, batch, schedule(position.step), options.train); });
        report.data_seconds = waited;
        report.epoch = position.epoch;
        report.step = ++position.step;
        epoch_report.train_loss += report.loss * double(report.images);
        epoch_report.train_top1 += double(report.correct);
        epoch_report.images += report.images;
        epoch_report.seconds += report.seconds + waited;
        epoch_report.data_seconds += waited;
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
            processes.guard(save);
    }
}

// Where a run checkpointed by fit() stands, with the model and optimizer restored:
// continuing it with fit(model, optimizer, schedule, stream, options, position)
// ends exactly where the uninterrupted run would have. Refuses a checkpoint of
// another architecture, optimizer, seed, schedule or length.
template <class Backend>
Position resume(const std::string& checkpoint, Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule,
                const data::BatchStream& stream, const FitOptions& options) {
    Parameters params = model.parameters();
    const Position position = resume_checkpoint(checkpoint, model.architecture(), params, optimizer,
                                                {schedule.describe(), total_steps(options, stream)},
                                                stream.options().seed);
    model.mutable_parameters() = std::move(params);
    return position;
}

// The rest of `position.epoch`: its remaining batches of the stream.
template <class Backend>
EpochReport train_epoch(Model<Backend>& model, Optimizer& optimizer, const Schedule& schedule, data::BatchStream& stream,
                        Position& position, const TrainOptions& options = {}, const Callbacks& callbacks = {}) {
    FitOptions fit_options;
    fit_options.train = options;
    fit_options.steps = position.step + long(stream.batches_per_epoch()) - position.batch;
    EpochReport result;
    Callbacks inner = callbacks;
    inner.on_epoch = [&](const EpochReport& r) {
        result = r;
        if (callbacks.on_epoch) callbacks.on_epoch(r);
    };
    fit(model, optimizer, schedule, stream, fit_options, position, inner);
    return result;
}

// Built once in bagnet::compiled (bagnet/instances.hpp).
#define BAGNET_TRAIN_LOOP_INSTANCES(prefix, Backend)                                                          \
    prefix StepReport train_step<Backend>(Model<Backend>&, Optimizer&, const Batch&, double,                  \
        const TrainOptions&);                                                                                 \
    prefix EvalMetrics evaluate<Backend>(const Model<Backend>&, data::BatchStream&);                          \
    prefix EvalMetrics evaluate<Backend>(const Model<Backend>&, const LabelledImages&, std::size_t);          \
    prefix EvalMetrics evaluate<Backend>(const Model<Backend>&, const data::Dataset&,                         \
        const distributed::ShardOptions&, distributed::Communicator&, std::vector<data::SkippedItem>*);       \
    prefix FitEnd fit<Backend>(Model<Backend>&, Optimizer&, const Schedule&, data::BatchStream&,              \
        const FitOptions&, Position&, const Callbacks&);                                                      \
    prefix Position resume<Backend>(const std::string&, Model<Backend>&, Optimizer&, const Schedule&,         \
        const data::BatchStream&, const FitOptions&);                                                         \
    prefix EpochReport train_epoch<Backend>(Model<Backend>&, Optimizer&, const Schedule&, data::BatchStream&, \
        Position&, const TrainOptions&, const Callbacks&);
BAGNET_EXTERN_INSTANCES(BAGNET_TRAIN_LOOP_INSTANCES)

}  // namespace bagnet::train
