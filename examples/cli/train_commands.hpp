#pragma once
// bagnet train | evaluate | saliency
#include <signal.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>

#include "bagnet/io/atomic_file.hpp"
#include "bagnet/io/json.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "bagnet/explain/logit_correlation.hpp"
#include "bagnet/train/recipe.hpp"
#include "data_options.hpp"
#include "inference_commands.hpp"

namespace bagnet::cli {

// The files left out as corrupt, added to a metrics document.
inline void add_skipped(io::Json& metrics, const std::vector<data::SkippedItem>& skipped) {
    metrics["skipped"] = skipped.size();
    io::Json& files = metrics["skipped_files"] = io::Json::array();
    for (const data::SkippedItem& item : skipped) files.push_back({{"file", item.name}, {"error", item.error}});
}

// SIGINT and SIGTERM while training: the first asks the training loop to stop at the
// next step boundary (the command then writes the checkpoint, the weights and the
// metrics so far and says how to continue); a second ends the program at once, as the
// signal would have. A signal the program was started with ignored (a background job of
// a script) stays ignored. Installed for the life of the object: the steps, where stopping
// loses nothing.
class StopOnSignals {
public:
    StopOnSignals() {
        struct sigaction action {};
        action.sa_handler = &StopOnSignals::handle;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;  // reads and writes under way carry on
        for (std::size_t i = 0; i < 2; ++i) {
            sigaction(handled[i], nullptr, &previous_[i]);
            if (previous_[i].sa_handler != SIG_IGN) sigaction(handled[i], &action, nullptr);
        }
    }
    ~StopOnSignals() {
        for (std::size_t i = 0; i < 2; ++i) sigaction(handled[i], &previous_[i], nullptr);
    }
    StopOnSignals(const StopOnSignals&) = delete;
    StopOnSignals& operator=(const StopOnSignals&) = delete;

    static const train::StopRequest& request() { return request_; }
    static int received() { return received_; }  // the first signal, 0 while none came

private:
    static constexpr int handled[2] = {SIGINT, SIGTERM};
    // Only async-signal-safe work: a lock-free flag, sigaction and raise.
    static void handle(int signal) {
        if (received_ != 0) {
            struct sigaction fatal {};
            fatal.sa_handler = SIG_DFL;
            sigemptyset(&fatal.sa_mask);
            sigaction(signal, &fatal, nullptr);
            raise(signal);  // blocked while this handler runs: delivered, fatally, once it returns
            return;
        }
        received_ = signal;
        request_.request();
    }
    static inline volatile std::sig_atomic_t received_ = 0;
    static inline train::StopRequest request_;
    struct sigaction previous_[2] {};
};

// What `train` throws once a stopped run's outputs are written: bagnet.cpp, which
// knows the command line, says how to continue and exits with 128 + the signal.
struct TrainingStopped {
    int signal = SIGINT;       // SIGINT if any process got it, else SIGTERM
    long step = 0, total = 0;  // where the run stands, and its length
    std::string checkpoint;    // where it continues from (empty: no --checkpoint)
    std::string save;          // the weights so far
};

struct TrainOptions {
    ModelOptions model;
    DataOptions data;
    std::string init, save, metrics, checkpoint, resume, optimizer = "sgd", schedule, fine_tune = "all";
    double lr = 0.1, momentum = 0.9, weight_decay = 5e-4, label_smoothing = 0, gamma = 0.1;
    long warmup = 0, step_size = 30, cosine_steps = 0, epochs = 1, steps = 0, checkpoint_every = 0;
    std::uint64_t seed = 0;
    std::size_t batch_size = 128;
    int accumulate = 1, crop_padding = 2;
    bool nesterov = false, no_shuffle = false, no_augment = false, sync_batch_norm = false;
    // The options whose default depends on the recipe, or that only some choices take.
    CLI::Option *epochs_given, *steps_given, *lr_given, *momentum_given, *nesterov_given, *weight_decay_given,
        *schedule_given, *warmup_given, *smoothing_given, *crop_given, *step_size_given, *gamma_given,
        *cosine_steps_given;

    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::none, false);
        data.add_to(c, DataOptions::Use::training);
        c.add_option("--save", save, "where the trained weights go (safetensors)")->required();
        c.add_option("--metrics", metrics, "a JSON file of the recipe, the losses and the test accuracy");
        c.add_option("--init", init, "start from these weights (a head of another class count starts afresh)");
        c.add_option("--optimizer", optimizer, "sgd or adamw")->check(CLI::IsMember({"sgd", "adamw"}));
        lr_given = c.add_option("--lr", lr, "the learning rate (what --schedule starts from)");
        momentum_given = c.add_option("--momentum", momentum, "SGD momentum");
        nesterov_given = c.add_flag("--nesterov", nesterov, "SGD with Nesterov momentum (fashion-mnist recipe: on)");
        weight_decay_given = c.add_option("--weight-decay", weight_decay, "weight decay (AdamW's default: 0.01)");
        schedule_given = c.add_option("--schedule", schedule, "constant, cosine or step (fashion-mnist recipe: cosine)")
                             ->check(CLI::IsMember({"constant", "cosine", "step"}));
        warmup_given = c.add_option("--warmup", warmup, "linear warm-up steps (fashion-mnist recipe: 200)");
        step_size_given = c.add_option("--step-size", step_size, "--schedule step: steps between decays");
        gamma_given = c.add_option("--gamma", gamma, "--schedule step: the factor of each decay");
        cosine_steps_given = c.add_option("--cosine-steps", cosine_steps,
                                          "cosine schedule: its length in steps (default: the run's; resuming a "
                                          "run for longer keeps the recorded one)")
                                 ->check(CLI::Range(1L, 1L << 40));
        c.add_option("--batch-size", batch_size, "images per step")->check(CLI::Range(1, 1 << 16));
        epochs_given = c.add_option("--epochs", epochs, "passes over the data (fashion-mnist recipe: 12)")
                           ->check(CLI::Range(1L, 1L << 20));
        steps_given = c.add_option("--steps", steps, "optimizer steps in all, instead of --epochs")
                          ->check(CLI::Range(1L, 1L << 40))
                          ->excludes(epochs_given);
        c.add_option("--seed", seed, "seed of the initial weights, the data order and the augmentation");
        c.add_flag("--no-shuffle", no_shuffle, "keep the data in order");
        auto* augment = c.add_flag("--no-augment", no_augment, "no random flips and crops");
        crop_given = c.add_option("--crop-padding", crop_padding,
                                  "random crops over a border of this many pixels (fashion-mnist recipe: 0)")
                         ->check(CLI::Range(0, 64))
                         ->excludes(augment);
        smoothing_given =
            c.add_option("--label-smoothing", label_smoothing, "label smoothing (fashion-mnist recipe: 0.1)");
        c.add_option("--accumulate", accumulate, "micro-batches per step (gradient accumulation)")
            ->check(CLI::Range(1, 1 << 16));
        c.add_option("--fine-tune", fine_tune, "what is trained: all, head or last-stage")
            ->check(CLI::IsMember({"all", "head", "last-stage"}));
        auto* ckpt = c.add_option("--checkpoint", checkpoint, "a checkpoint to continue from, written every epoch");
        c.add_option("--checkpoint-every", checkpoint_every, "also write the checkpoint every N steps")
            ->check(CLI::Range(1L, 1L << 40))
            ->needs(ckpt);
        c.add_option("--resume", resume, "continue the run of this checkpoint (same recipe and seed)");
        c.add_flag("--sync-batch-norm", sync_batch_norm,
                   "under mpirun: batch norms normalise over the whole batch of all processes (what one process "
                   "computes), not each process's share");
    }

    // The defaults (the built-in Fashion-MNIST recipe, or the generic one) with the
    // options given applied; checked before any work.
    train::Recipe recipe() const {
        using train::Recipe;
        Recipe r = data.fashion() ? train::fashion_mnist_recipe() : Recipe{};
        if (!data.fashion()) r.crop_padding = 2;
        const bool adamw = optimizer == "adamw";
        if (adamw && (momentum_given->count() || nesterov_given->count()))
            throw UsageError("--momentum and --nesterov are for --optimizer sgd");
        if (adamw) {
            r.optimizer = Recipe::OptimizerKind::adamw;
            r.weight_decay = 1e-2;
        }
        if (lr_given->count()) r.lr = lr;
        if (momentum_given->count()) r.momentum = momentum;
        if (nesterov_given->count()) r.nesterov = true;
        if (weight_decay_given->count()) r.weight_decay = weight_decay;
        if (schedule_given->count())
            r.schedule = schedule == "cosine" ? Recipe::ScheduleKind::cosine
                         : schedule == "step" ? Recipe::ScheduleKind::step
                                              : Recipe::ScheduleKind::constant;
        if ((step_size_given->count() || gamma_given->count()) && r.schedule != Recipe::ScheduleKind::step)
            throw UsageError("--step-size and --gamma are for --schedule step");
        if (cosine_steps_given->count() && r.schedule != Recipe::ScheduleKind::cosine)
            throw UsageError("--cosine-steps is for --schedule cosine");
        if (cosine_steps_given->count()) r.cosine_steps = cosine_steps;
        if (warmup_given->count()) r.warmup = warmup;
        if (step_size_given->count()) r.step_size = step_size;
        if (gamma_given->count()) r.gamma = gamma;
        if (epochs_given->count()) r.epochs = epochs;
        if (steps_given->count()) r.steps = steps;
        r.batch_size = batch_size;
        if (smoothing_given->count()) r.label_smoothing = label_smoothing;
        r.accumulate = accumulate;
        r.shuffle = !no_shuffle;
        if (no_augment) {
            r.flip = false;
            r.crop_padding = 0;
        }
        if (crop_given->count()) r.crop_padding = crop_padding;
        as_usage_error([&] { r.check(); });
        return r;
    }
};

inline void run_train(const TrainOptions& o, distributed::Communicator& processes) {
    // Everything that can fail on the user's input is checked before any work.
    o.data.check();
    o.model.require_fp32("training");
    if (o.model.arch.empty() && !o.data.fashion()) throw UsageError("--arch is required (except with --dataset)");
    const Architecture arch = o.model.arch.empty() ? train::fashion_mnist_architecture(o.model.classes)
                                                   : o.model.architecture();
    const train::Recipe recipe = o.recipe();
    if (recipe.batch_size % std::size_t(processes.size()) != 0)
        throw UsageError("--batch-size " + std::to_string(recipe.batch_size) + " is the batch of all " +
                         std::to_string(processes.size()) + " processes together and must be a multiple of it");
    const bool root = processes.is_root();  // the process that prints and writes
    io::OutputSet outputs;
    const std::string save = root ? outputs.stage(o.save) : "";
    const std::string metrics = root && !o.metrics.empty() ? outputs.stage(o.metrics) : "";
    if (root && !o.checkpoint.empty()) io::require_writable(o.checkpoint);
    backend::cpu::set_threads(o.model.threads);

    // A corrupt image is found when it is loaded: it stops the run before the weights or
    // the metrics are written.
    const bool augmenting = recipe.flip || recipe.crop_padding > 0;
    const Inputs train_data(o.data, o.model.threads, data::Use::training, recipe.tensor_augment(), augmenting);
    const data::Dataset& train_set = train_data.set();
    const std::string& name = train_data.data.name();
    std::optional<data::SourceData> test;  // a named data set's test split, evaluated after training
    if (o.data.fashion()) test.emplace(data::Source::named(o.data.dataset, "test"));
    data::check_labels(train_set, arch.classes(), name);
    if (test) data::check_labels(test->set(), arch.classes(), name + " (test)");
    require(int(train_set.shape().channels) == arch.in_channels,
            name + ": images have " + std::to_string(train_set.shape().channels) + " channels but " + arch.name +
                " expects " + std::to_string(arch.in_channels));
    with_backend(o.model.device, [&](auto backend) {
        Model<decltype(backend)> model(arch, o.seed);
        if (!o.init.empty() && !train::load_pretrained(model, o.init))
            std::cerr << "bagnet train: " << o.init << ": head does not fit " << arch.classes()
                      << " classes; it starts from random weights\n";
        auto optimizer = recipe.make_optimizer();
        data::BatchStream loader(train_set, recipe.stream_options(o.seed)
                                                    .with_workers(train_data.workers)
                                                    .skipping_corrupt(train_data.skip_corrupt)
                                                    .shard(processes.rank(), processes.size()));

        train::FitOptions fit_options = recipe.fit_options();
        fit_options.train.processes = &processes;
        fit_options.train.sync_batch_norm = o.sync_batch_norm;
        fit_options.train.frozen = train::frozen_for(arch, train::parse_fine_tune(o.fine_tune));
        if (!o.checkpoint.empty()) fit_options.with_checkpoint(o.checkpoint, o.checkpoint_every);
        fit_options.stopping_on(StopOnSignals::request());
        const long total = train::total_steps(fit_options, loader);
        const train::Schedule schedule = recipe.make_schedule(total);
        train::Position position{0, 0, 0, o.seed};
        if (!o.resume.empty()) position = train::resume(o.resume, model, *optimizer, schedule, loader, fit_options);
        if (root) {
            std::printf("training %s on %s: %s%s\n", arch.name.c_str(), name.c_str(),
                        recipe.describe(total).c_str(),
                        processes.size() > 1 ? (", on " + std::to_string(processes.size()) + " processes" +
                                                (o.sync_batch_norm ? " (batch norm synchronised)" : ""))
                                                   .c_str()
                                             : "");
            std::fflush(stdout);
        }

        train::Progress progress(total);
        double step_seconds = 0, wait_seconds = 0, last_loss = 0;
        std::size_t images = 0;
        train::Callbacks callbacks;
        callbacks.on_step = [&](const train::StepReport& r) {
            step_seconds += r.seconds;
            wait_seconds += r.data_seconds;
            images += r.images;
            last_loss = r.loss;
            if (root) progress.update(r.epoch, r.step, double(images) / std::max(1e-9, step_seconds), r.loss);
        };
        train::EpochReport last_epoch;
        callbacks.on_epoch = [&](const train::EpochReport& r) { last_epoch = r; };
        const auto start = std::chrono::steady_clock::now();
        // Only the steps stop on a signal: before them there is nothing to lose, after them
        // the checkpoint holds the whole run.
        std::optional<StopOnSignals> signals(std::in_place);
        const bool stopped =
            train::fit(model, *optimizer, schedule, loader, fit_options, position, callbacks) == train::FitEnd::stopped;
        signals.reset();
        if (root) progress.finish();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const double rate = double(images) / std::max(1e-9, step_seconds);

        io::Json fields{{"architecture", arch.name},
                        {"dataset", name},
                        {"recipe", recipe.to_json(total)},
                        {"seed", o.seed},
                        {"processes", processes.size()},
                        {"sync_batch_norm", o.sync_batch_norm},
                        {"steps", position.step},
                        {"stopped", stopped},  // by a signal, at a step boundary (no test evaluation)
                        {"train_loss_last_epoch", last_epoch.train_loss},
                        {"train_top1_last_epoch", last_epoch.train_top1},
                        {"last_step_loss", last_loss},
                        {"images_per_second", rate},
                        {"training_seconds", seconds},
                        {"workers", train_data.workers},
                        {"data_wait_seconds", wait_seconds},
                        {"data_wait_fraction", wait_seconds / std::max(1e-9, wait_seconds + step_seconds)}};
        if (!o.data.data_dir.empty()) fields["train_transform"] = o.data.folder_transform_name(augmenting);
        add_skipped(fields, distributed::gather_skipped(loader.skipped(), [](std::size_t i) { return i; }, processes));
        if (test && !stopped) {  // a stopped run is asked to end soon, not to evaluate
            const train::EvalMetrics result =
                train::evaluate(model, test->set(), {500, train_data.workers, false}, processes);
            if (root)
                std::printf("test: loss %.4f  top-1 %.4f  top-5 %.4f  (%zu images)\n", result.loss, result.top1,
                            result.top5, result.images);
            fields["test_loss"] = result.loss;
            fields["test_top1"] = result.top1;
            fields["test_top5"] = result.top5;
        }
        if (root) {
            model.save(save);
            if (!metrics.empty()) io::write_text(metrics, io::json_text(fields));
            outputs.commit();
        }
        if (stopped) {
            // Each process knows only its own signal; all exit alike: with SIGINT's code if
            // any process got SIGINT, else with SIGTERM's.
            double interrupted = StopOnSignals::received() == SIGINT ? 1 : 0;
            processes.all_reduce_sum(&interrupted, 1);
            throw TrainingStopped{interrupted > 0 ? SIGINT : SIGTERM, position.step, total, o.checkpoint, o.save};
        }
        if (root)
            std::printf("trained %s for %ld steps in %s (%.1f img/s); weights: %s\n", arch.name.c_str(),
                        position.step, train::Progress::duration(seconds).c_str(), rate, o.save.c_str());
    });
}

struct EvaluateOptions {
    ModelOptions model;
    DataOptions data;
    std::string metrics;
    std::size_t batch_size = 500;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        data.add_to(c, DataOptions::Use::evaluation);
        c.add_option("--metrics", metrics, "also write loss, top-1 and top-5 to this JSON file");
        c.add_option("--batch-size", batch_size, "images per forward pass")->check(CLI::Range(1, 1 << 16));
    }
};

inline void run_evaluate(const EvaluateOptions& o, distributed::Communicator& processes) {
    o.data.check();
    if (processes.is_root() && !o.metrics.empty()) io::require_writable(o.metrics);
    on_device(o.model, [&](const auto& model) {
        const Inputs in(o.data, o.model.threads);
        std::vector<data::SkippedItem> skipped;
        const train::EvalMetrics metrics =
            train::evaluate(model, in.set(), in.shards(o.batch_size), processes, &skipped);
        if (!processes.is_root()) return;
        io::Json fields{{"loss", metrics.loss}, {"top1", metrics.top1}, {"top5", metrics.top5}, {"images", metrics.images}};
        add_skipped(fields, skipped);
        if (!o.metrics.empty()) io::write_text(o.metrics, io::json_text(fields));
        std::printf("loss %.4f  top-1 %.4f  top-5 %.4f  (%zu images)\n", metrics.loss, metrics.top1, metrics.top5,
                    metrics.images);
    });
}

struct CorrelateOptions {
    ModelOptions model;
    std::string against_arch, against_weights, output;
    DataOptions data;
    std::size_t batch_size = 100;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        c.add_option("--against-arch", against_arch, "the other model's architecture (as --arch)")->required();
        c.add_option("--against-weights", against_weights, "the other model's safetensors weights")->required();
        data.add_to(c, DataOptions::Use::evaluation);
        c.add_option("--output", output, "also write every image's correlation to this npy file (float32, data-set order)");
        c.add_option("--batch-size", batch_size, "images per forward pass")->check(CLI::Range(1, 1 << 16));
    }
};

// The paper's agreement measure of two models over a data set: per image, the Pearson
// correlation of their logits.
inline void run_correlate(const CorrelateOptions& o, distributed::Communicator& processes) {
    o.data.check();
    if (processes.is_root() && !o.output.empty()) io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        using SameBackend = std::decay_t<decltype(model)>;
        SameBackend other(as_usage_error([&] { return architecture_by_name(o.against_arch, o.model.classes); }),
                          o.against_weights);
        other.precision(model.precision());
        require_comparable(model.architecture(), other.architecture());
        const Inputs in(o.data, o.model.threads);
        std::vector<data::SkippedItem> skipped;
        const std::vector<double> r =
            logit_correlations(model, other, in.set(), in.shards(o.batch_size), processes, &skipped);
        if (!processes.is_root()) return;
        const CorrelationSummary s = correlation_summary(r);
        for (const auto& item : skipped) std::fprintf(stderr, "skipped %s: %s\n", item.name.c_str(), item.error.c_str());
        if (!o.output.empty()) {
            Tensor values = xt::zeros<float>({r.size()});
            std::copy(r.begin(), r.end(), values.begin());
            io::save_npy(o.output, values);
        }
        std::printf("logit correlation of %s and %s: mean %.4f  median %.4f  (%zu images)\n",
                    model.architecture().name.c_str(), other.architecture().name.c_str(), s.mean, s.median, s.images);
    });
}

struct SaliencyOptions {
    ModelOptions model;
    std::string input, output;
    int class_index = 0;
    void add_to(CLI::App& c) {
        model.add_to(c, ModelOptions::Weights::required);
        c.add_option("--input", input, "float32 N x C x H x W npy array, normalised")->required();
        c.add_option("--class", class_index, "the class whose logit is differentiated")->required();
        c.add_option("--output", output, "npy file: d logit / d input, N x C x H x W")->required();
    }
};

inline void run_saliency(const SaliencyOptions& o, distributed::Communicator& /*processes: one*/) {
    o.model.require_fp32("saliency");
    io::require_writable(o.output);
    on_device(o.model, [&](const auto& model) {
        io::save_npy(o.output, input_gradient(model, io::load_npy_images(o.input), o.class_index));
    });
}

inline void add_train_commands(CLI::App& app, distributed::Communicator& processes) {
    add_command<TrainOptions>(app, processes, Processes::share_work, "train", "train or fine-tune a BagNet (the built-in Fashion-MNIST recipe, or "
                                            "your own data)", run_train);
    add_command<EvaluateOptions>(app, processes, Processes::share_work, "evaluate", "loss, top-1 and top-5 accuracy on a data set", run_evaluate);
    add_command<CorrelateOptions>(app, processes, Processes::share_work, "correlate",
                                  "per-image Pearson correlation of two models' logits over a data set", run_correlate);
    add_command<SaliencyOptions>(app, processes, Processes::one_only, "saliency", "the gradient of a class logit with respect to the input",
                                 run_saliency);
}

}  // namespace bagnet::cli
