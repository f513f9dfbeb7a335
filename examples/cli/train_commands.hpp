#pragma once
// bagnet train | evaluate | saliency
#include <cstdio>
#include <fstream>
#include <iostream>

#include "bagnet/io/atomic_file.hpp"
#include "bagnet/data/image_folder.hpp"
#include "bagnet/io/json.hpp"
#include "bagnet/io/npy.hpp"
#include "bagnet/train.hpp"
#include "common.hpp"
#include "inference_commands.hpp"

namespace bagnet::cli {

// Where the images come from: --dataset fashion-mnist, --data-dir DIR (one sub-folder per
// class, decoded as they are needed), or --data-npy with --labels-npy. In-memory images are
// held here; the data sets refer to them, so a DataSource stays where it was filled.
struct DataSource {
    LabelledImages train_images, test_images;
    std::unique_ptr<data::Dataset> train, test;  // test: Fashion-MNIST's test split when training
    std::string name;
    bool folder = false;
};

inline std::set<std::string> data_options() {
    return with({"dataset", "data-dir", "data-npy", "labels-npy", "size"}, loading_options());
}

// The transform of a training folder: --train-transform imagenet (RandomResizedCrop + flip,
// the default), center (the evaluation transform) or none (images used as they are).
inline data::ImageTransform train_transform_of(const Arguments& args, int size) {
    const std::string name = args.get("train-transform", args.flag("no-augment") ? "center" : "imagenet");
    if (name == "imagenet") return data::ImageTransform::imagenet_train(size);
    if (name == "center") return data::ImageTransform::imagenet_eval(size);
    if (name == "none") return data::ImageTransform::unchanged(size);
    throw UsageError("unknown --train-transform '" + name + "' (expected imagenet, center or none)");
}

// Fills `data` with the data the options name: for training, the training set (augmented
// by `augment` when in memory) and Fashion-MNIST's test set; for evaluation, the set to evaluate.
inline void load_data(const Arguments& args, bool training, const data::TensorAugment& augment, DataSource& data) {
    const int sources = int(args.has("dataset")) + int(args.has("data-dir")) + int(args.has("data-npy"));
    if (sources != 1) throw UsageError("give exactly one of --dataset, --data-dir or --data-npy");
    if (args.has("train-transform") && !args.has("data-dir"))
        throw UsageError("--train-transform is for --data-dir (in-memory data sets use --crop-padding and flips)");
    auto& target = training ? data.train : data.test;
    if (args.has("dataset")) {
        const std::string name = args.get("dataset");
        if (name != "fashion-mnist") throw UsageError("unknown dataset '" + name + "' (expected fashion-mnist)");
        data.name = name;
        if (training) {
            data.train_images = load_fashion_mnist("train");
            normalize_fashion_mnist(data.train_images.images);
            data.train = std::make_unique<data::TensorDataset>(data.train_images, augment, "train");
        }
        data.test_images = load_fashion_mnist("test");
        normalize_fashion_mnist(data.test_images.images);
        data.test = std::make_unique<data::TensorDataset>(data.test_images, data::TensorAugment(), "test");
        return;
    }
    if (args.has("data-dir")) {
        const int size = int(args.get_int("size", 224, 8, 4096));
        data::ImageTransform transform = training ? train_transform_of(args, size) : data::ImageTransform::imagenet_eval(size);
        data.name = args.get("data-dir");
        data.folder = true;
        target = std::make_unique<data::ImageFolderDataset>(data::scan_image_folder(data.name), std::move(transform),
                                                            decode_options_of(args));
        return;
    }
    const std::string images = args.get("data-npy"), labels_path = args.get("labels-npy");
    data.name = images;
    LabelledImages& loaded = training ? data.train_images : data.test_images;
    loaded = {load_input(images), io::load_npy_int64(labels_path)};
    require(loaded.labels.size() == loaded.images.shape()[0],
            labels_path + " holds " + std::to_string(loaded.labels.size()) + " labels but " + images + " holds " +
                std::to_string(loaded.images.shape()[0]) + " images");
    target = std::make_unique<data::TensorDataset>(loaded, training ? augment : data::TensorAugment(), images);
}

// The files a stream left out as corrupt, for the metrics JSON.
inline std::vector<std::pair<std::string, std::string>> skipped_fields(const data::BatchStream& stream) {
    std::string list = "[";
    const auto skipped = stream.skipped();
    for (std::size_t i = 0; i < skipped.size(); ++i)
        list += std::string(i ? ",\n  " : "\n  ") + "{\"file\": " + io::json_string(skipped[i].name) +
                ", \"error\": " + io::json_string(skipped[i].error) + "}";
    return {{"skipped", std::to_string(skipped.size())}, {"skipped_files", list + (skipped.empty() ? "]" : "\n ]")}};
}

// --init: a converted checkpoint. Every tensor must fit except the linear head,
// which is kept freshly initialised when its class count differs (fine-tuning an
// ImageNet model for other classes).
template <class Backend>
void load_initial_weights(Model<Backend>& model, const std::string& path) {
    io::SafetensorsFile file(path);
    const Architecture& arch = model.architecture();
    Parameters params = model.parameters();
    bool head_kept = true;
    for (const auto& slot : parameter_slots(arch)) {
        const bool head = slot.key.rfind(arch.fc.name + ".", 0) == 0;
        if (!file.contains(slot.key) || file.shape(slot.key) != slot.shape) {
            require(head, path + ": tensor '" + slot.key + "' is " +
                              (file.contains(slot.key) ? "of shape " + shape_string(file.shape(slot.key)) : "missing") +
                              " but " + arch.name + " needs " + shape_string(slot.shape));
            head_kept = false;
            continue;
        }
        params.at(slot.key) = file.load_float(slot.key);
    }
    if (!head_kept) std::cerr << "bagnet train: " << path << ": head does not fit " << arch.classes()
                              << " classes; it starts from random weights\n";
    model.mutable_parameters() = std::move(params);
}

inline std::unique_ptr<train::Optimizer> optimizer_of(const Arguments& args, bool fashion_recipe) {
    const std::string name = args.get("optimizer", "sgd");
    const double weight_decay = args.get_double("weight-decay", name == "sgd" ? 5e-4 : 1e-2);
    if (name == "sgd")
        return std::make_unique<train::Sgd>(train::SgdOptions()
                                                .momentum(args.get_double("momentum", 0.9))
                                                .nesterov(fashion_recipe || args.flag("nesterov"))
                                                .weight_decay(weight_decay));
    if (name == "adamw") return std::make_unique<train::AdamW>(train::AdamWOptions().weight_decay(weight_decay));
    throw UsageError("unknown optimizer '" + name + "' (expected sgd or adamw)");
}

inline void write_metrics(const std::string& path, const std::vector<std::pair<std::string, std::string>>& fields) {
    io::write_file_atomically(path, [&](std::ostream& out) {
        out << "{";
        for (std::size_t i = 0; i < fields.size(); ++i)
            out << (i ? ",\n " : "\n ") << io::json_string(fields[i].first) << ": " << fields[i].second;
        out << "\n}\n";
    });
}

inline int run_train(const std::vector<std::string>& raw) {
    const Arguments args(raw,
                         with(with(model_options(), data_options()),
                              {"init", "optimizer", "lr", "momentum", "weight-decay", "batch-size", "epochs", "steps",
                               "seed", "resume", "save", "metrics", "checkpoint", "checkpoint-every", "label-smoothing",
                               "warmup", "accumulate", "fine-tune", "crop-padding", "train-transform"}),
                         {"no-shuffle", "no-augment", "nesterov", "skip-corrupt"});
    check_device(args);
    apply_threads(args);
    const bool fashion = args.get("dataset", "") == "fashion-mnist";
    if (!args.has("arch") && !fashion) throw UsageError("missing required option --arch");
    // Fashion-MNIST's default: BagNet-9, each of its 5 x 5 logits computed from one 9 x 9 patch.
    // Its recipe (12 epochs, label smoothing 0.1, flips but no crops) reaches about 90.6% test
    // accuracy in 7 minutes on 2 cores. The model underfits rather than overfits: at 10 epochs
    // random crops over a 2-pixel border cost accuracy (88.9% against 90.4%) and smoothing
    // gains some (90.7%); 12 epochs gave 90.6% and 90.8% with two seeds.
    const Architecture arch = args.has("arch") ? architecture_of(args) : architecture_by_name("fashion9");
    const std::string save = args.get("save");
    if (args.has("epochs") && args.has("steps")) throw UsageError("give --epochs or --steps, not both");
    const auto seed = std::uint64_t(args.get_int("seed", 0, 0, 1L << 40));
    const double lr = args.get_double("lr", 0.1);
    const auto batch_size = std::size_t(args.get_int("batch-size", 128, 1, 1 << 16));
    const double smoothing = args.get_double("label-smoothing", fashion ? 0.1 : 0.0);
    if (!(lr > 0)) throw UsageError("--lr must be positive");
    if (!(smoothing >= 0 && smoothing < 1)) throw UsageError("--label-smoothing must be in [0, 1)");

    // Augmentation of in-memory images: random horizontal flips (clothes are left-right
    // symmetric) and random crops over a --crop-padding border filled with the background
    // (black for Fashion-MNIST, the mean elsewhere: normalised 0); none for Fashion-MNIST by
    // default (see the recipe above). Image folders take --train-transform instead.
    data::TensorAugment augment;
    if (!args.flag("no-augment")) {
        augment.random_flip(true);
        const int padding = int(args.get_int("crop-padding", fashion ? 0 : 2, 0, 64));
        if (padding > 0) augment.random_crop(padding, fashion ? fashion_mnist_background : 0.f);
    }
    const int workers = workers_of(args);

    // Everything that can fail on the user's input is checked before any work (a corrupt
    // image is found when it is loaded: it stops the run before weights or metrics are written).
    DataSource data;
    load_data(args, true, augment, data);
    data::check_labels(*data.train, arch.classes(), data.name);
    if (data.test) data::check_labels(*data.test, arch.classes(), data.name + " (test)");
    require(int(data.train->shape().channels) == arch.in_channels,
            data.name + ": images have " + std::to_string(data.train->shape().channels) + " channels but " + arch.name +
                " expects " + std::to_string(arch.in_channels));
    return with_backend(args, [&](auto backend) {
        Model<decltype(backend)> model(arch, seed);
        if (args.has("init")) load_initial_weights(model, args.get("init"));
        auto optimizer = optimizer_of(args, fashion && !args.has("optimizer"));
        data::BatchStream loader(*data.train, data::StreamOptions()
                                                  .batch(batch_size)
                                                  .shuffled(!args.flag("no-shuffle"))
                                                  .seeded(seed)
                                                  .with_workers(workers)
                                                  .skipping_corrupt(args.flag("skip-corrupt")));

        train::FitOptions fit_options;
        if (args.has("steps")) fit_options.with_steps(args.get_int("steps", 1, 1, 1L << 40));
        else fit_options.with_epochs(args.get_int("epochs", fashion ? 12 : 1, 1, 1 << 20));
        fit_options.train.label_smoothing = smoothing;
        fit_options.train.accumulate = int(args.get_int("accumulate", 1, 1, 1 << 16));
        const std::string fine_tune = args.get("fine-tune", "all");
        if (fine_tune == "head") fit_options.train.frozen = train::frozen_except(arch, {arch.fc.name + "."});
        else if (fine_tune == "last-stage") fit_options.train.frozen = train::frozen_except(arch, {"layer4.", arch.fc.name + "."});
        else if (fine_tune != "all") throw UsageError("unknown --fine-tune '" + fine_tune + "' (expected all, head or last-stage)");
        if (args.has("checkpoint"))
            fit_options.with_checkpoint(args.get("checkpoint"), args.get_int("checkpoint-every", 0, 0, 1L << 40));
        const long total = train::total_steps(fit_options, loader);
        const long warmup = args.get_int("warmup", std::min(200L, total / 10), 0, 1L << 40);
        const auto schedule = train::Schedule::cosine(lr, total).warmup(warmup);

        train::Position position{0, 0, 0, seed};
        if (args.has("resume")) {
            Parameters params = model.parameters();
            position = train::load_checkpoint(args.get("resume"), arch, params, *optimizer);
            require(position.seed == seed, args.get("resume") + ": checkpoint was trained with --seed " +
                                               std::to_string(position.seed) + ", this run uses " + std::to_string(seed));
            model.mutable_parameters() = std::move(params);
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
            progress.update(r.epoch, r.step, double(images) / std::max(1e-9, step_seconds), r.loss);
        };
        train::EpochReport last_epoch;
        callbacks.on_epoch = [&](const train::EpochReport& r) { last_epoch = r; };
        const auto start = std::chrono::steady_clock::now();
        train::fit(model, *optimizer, schedule, loader, fit_options, position, callbacks);
        progress.finish();
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        model.save(save);

        std::vector<std::pair<std::string, std::string>> fields{
            {"architecture", io::json_string(arch.name)},
            {"dataset", io::json_string(data.name)},
            {"optimizer", io::json_string(optimizer->name())},
            {"lr", io::json_number(lr)},
            {"batch_size", std::to_string(batch_size)},
            {"steps", std::to_string(position.step)},
            {"seed", std::to_string(seed)},
            {"train_loss_last_epoch", io::json_number(last_epoch.train_loss)},
            {"train_top1_last_epoch", io::json_number(last_epoch.train_top1)},
            {"last_step_loss", io::json_number(last_loss)},
            {"images_per_second", io::json_number(double(images) / std::max(1e-9, step_seconds))},
            {"training_seconds", io::json_number(seconds)},
            {"workers", std::to_string(workers)},
            {"data_wait_seconds", io::json_number(wait_seconds)},
            {"data_wait_fraction", io::json_number(wait_seconds / std::max(1e-9, wait_seconds + step_seconds))}};
        if (data.folder) fields.emplace_back("train_transform", io::json_string(args.get("train-transform", args.flag("no-augment") ? "center" : "imagenet")));
        const auto skipped = skipped_fields(loader);
        fields.insert(fields.end(), skipped.begin(), skipped.end());
        if (data.test) {
            data::BatchStream test_stream(*data.test, data::StreamOptions::in_order(500, workers));
            const train::EvalMetrics test = train::evaluate(model, test_stream);
            std::printf("test: loss %.4f  top-1 %.4f  top-5 %.4f  (%zu images)\n", test.loss, test.top1, test.top5,
                        test.images);
            fields.insert(fields.end(), {{"test_loss", io::json_number(test.loss)},
                                         {"test_top1", io::json_number(test.top1)},
                                         {"test_top5", io::json_number(test.top5)}});
        }
        std::printf("trained %s for %ld steps in %s (%.1f img/s); weights: %s\n", arch.name.c_str(), position.step,
                    train::Progress::duration(seconds).c_str(), double(images) / std::max(1e-9, step_seconds), save.c_str());
        if (args.has("metrics")) write_metrics(args.get("metrics"), fields);
        return 0;
    });
}

inline int run_evaluate(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(with(model_options(), data_options()), {"metrics", "batch-size"}), {"skip-corrupt"});
    const auto batch_size = std::size_t(args.get_int("batch-size", 500, 1, 1 << 16));
    const int workers = workers_of(args);
    return on_device(args, [&](const auto& model) {
        DataSource data;
        load_data(args, false, {}, data);
        data::BatchStream stream(*data.test,
                                 data::StreamOptions::in_order(batch_size, workers).skipping_corrupt(args.flag("skip-corrupt")));
        const auto metrics = train::evaluate(model, stream);
        std::printf("loss %.4f  top-1 %.4f  top-5 %.4f  (%zu images)\n", metrics.loss, metrics.top1, metrics.top5,
                    metrics.images);
        std::vector<std::pair<std::string, std::string>> fields{{"loss", io::json_number(metrics.loss)},
                                                                {"top1", io::json_number(metrics.top1)},
                                                                {"top5", io::json_number(metrics.top5)},
                                                                {"images", std::to_string(metrics.images)}};
        const auto skipped = skipped_fields(stream);
        fields.insert(fields.end(), skipped.begin(), skipped.end());
        if (args.has("metrics")) write_metrics(args.get("metrics"), fields);
        return 0;
    });
}

inline int run_saliency(const std::vector<std::string>& raw) {
    const Arguments args(raw, with(model_options(), {"input", "class", "output"}), {});
    return on_device(args, [&](const auto& model) {
        const int classes = model.architecture().classes();
        if (!args.has("class")) throw UsageError("missing required option --class");
        const int class_index = int(args.get_int("class", 0, 0, classes - 1));
        const Tensor4 x = load_input(args.get("input"));
        io::save_npy(args.get("output"), input_gradient(model, x, class_index));
        return 0;
    });
}

}  // namespace bagnet::cli
