#pragma once
// The images a command reads (a data::Source), named by one set of flags for every command:
//   IMAGE...                          PNG or JPEG files
//   --input X.npy [--labels Y.npy]    normalised float32 N x C x H x W arrays
//   --dataset fashion-mnist [--split train|test]
//   --data-dir DIR                    DIR/<class>/<image>.png|jpg
// with --size (the side the model sees, for folders and files), --label (for images without
// labels), --limit, --workers and --max-pixels; --skip-corrupt where a command can leave
// images out, and --train-transform for training. --data-npy and --labels-npy, the training
// commands' names for --input and --labels before this release, still work and say so.
#include <iostream>
#include <string>
#include <vector>

#include "bagnet/data/class_names.hpp"
#include "bagnet/data/source.hpp"
#include "bagnet/data/stream.hpp"
#include "bagnet/distributed/shard.hpp"
#include "bagnet/explain/heatmap_picture.hpp"
#include "options.hpp"

namespace bagnet::cli {

struct DataOptions {
    // Which of the optional flags a command takes: --skip-corrupt where it can leave images
    // out (training, evaluate, correlate), --train-transform when it trains.
    enum class Use { analysis, evaluation, training };

    Use use = Use::analysis;
    std::vector<std::string> images;
    std::string input, labels, dataset, split, data_dir, train_transform;
    std::string renamed_input, renamed_labels;  // --data-npy, --labels-npy
    int size = 224;
    long label = -1;
    std::size_t limit = 0;
    bool skip_corrupt = false;
    LoadingOptions loading;

    void add_to(CLI::App& c, Use command_use) {
        use = command_use;
        c.add_option("images", images, "PNG or JPEG files (ImageNet's evaluation preprocessing)");
        c.add_option("--input", input, "float32 N x C x H x W npy array of normalised images");
        c.add_option("--labels", labels, "int64 npy array of the --input images' labels");
        c.add_option("--data-npy", renamed_input, "the old name of --input (goes in the next release)")
            ->each([](const std::string&) { renamed("--data-npy", "--input"); });
        c.add_option("--labels-npy", renamed_labels, "the old name of --labels (goes in the next release)")
            ->each([](const std::string&) { renamed("--labels-npy", "--labels"); });
        c.add_option("--dataset", dataset, "a data set bagnet knows: fashion-mnist (Debian's dataset-fashion-mnist)");
        c.add_option("--split", split, "--dataset: train or test (default: train for training, else test)")
            ->check(CLI::IsMember({"train", "test"}));
        c.add_option("--data-dir", data_dir, "a folder of images, DIR/<class>/<image>.png|jpg");
        c.add_option("--size", size, "--data-dir and image files: the side of the images the model sees (the "
                                     "evaluation transform resizes the shorter side to 8/7 of it, then crops the centre)")
            ->check(CLI::Range(8, 4096));
        c.add_option("--label", label, "the true class of every image given without labels")
            ->check(CLI::NonNegativeNumber);
        c.add_option("--limit", limit, "use only the first N images (0: all)");
        if (use != Use::analysis)
            c.add_flag("--skip-corrupt", skip_corrupt, "--data-dir and image files: skip undecodable images (each "
                                                        "reported, and listed in the metrics)");
        if (use == Use::training)
            c.add_option("--train-transform", train_transform,
                         "--data-dir: imagenet (RandomResizedCrop + flip; the default), center (the evaluation "
                         "transform; the default with --no-augment) or none (images already --size)")
                ->check(CLI::IsMember({"imagenet", "center", "none"}));
        loading.add_to(c);
    }

    bool fashion() const { return !dataset.empty(); }
    const std::string& npy_images() const { return input.empty() ? renamed_input : input; }
    const std::string& npy_labels() const { return labels.empty() ? renamed_labels : labels; }

    // The source the flags name; `augmenting`: whether training augments its images (the
    // default folder transform then is imagenet, else center). Usage errors before any work.
    data::Source source(bool augmenting = true) const {
        if (!renamed_input.empty() && !input.empty()) throw UsageError("give --input or its old name --data-npy, not both");
        if (!renamed_labels.empty() && !labels.empty())
            throw UsageError("give --labels or its old name --labels-npy, not both");
        if (int(!npy_images().empty()) + int(fashion()) + int(!data_dir.empty()) + int(!images.empty()) != 1)
            throw UsageError("give exactly one of --input X.npy, --dataset fashion-mnist, --data-dir DIR or image files");
        if (!npy_labels().empty() && npy_images().empty()) throw UsageError("--labels goes with --input");
        if (!split.empty() && !fashion()) throw UsageError("--split goes with --dataset");
        if (!train_transform.empty() && data_dir.empty()) throw UsageError("--train-transform goes with --data-dir");
        if (label >= 0 && (fashion() || !data_dir.empty() || !npy_labels().empty()))
            throw UsageError("--label is for images given without labels (image files, or --input without --labels)");
        data::Source s = !npy_images().empty() ? data::Source::arrays(npy_images(), npy_labels())
                         : fashion()           ? data::Source::named(dataset, !split.empty()        ? split
                                                                              : use == Use::training ? "train"
                                                                                                     : "test")
                         : !data_dir.empty() ? data::Source::folder(data_dir)
                                             : data::Source::files(images);
        s.label(label).limit(limit).size(size).decode(loading.decode());
        s.folder_transform(folder_transform(augmenting));
        as_usage_error([&] { s.validate(); });
        return s;
    }
    // The usage errors of source(), before any work.
    void check(bool augmenting = true) const { (void)source(augmenting); }
    // For the metrics: the name of the training folder's transform.
    std::string folder_transform_name(bool augmenting) const {
        return !train_transform.empty() ? train_transform : augmenting ? "imagenet" : "center";
    }

private:
    data::FolderTransform folder_transform(bool augmenting) const {
        const std::string name = folder_transform_name(augmenting);
        return name == "imagenet" ? data::FolderTransform::augmented
               : name == "none"   ? data::FolderTransform::none
                                  : data::FolderTransform::center;
    }
    static void renamed(const char* old_name, const char* name) {
        std::cerr << "bagnet: " << old_name << " is now " << name << " (the old name goes in the next release)\n";
    }
};

// The images the options name, opened, with how the commands read them. Built in place
// (its data set refers to what it holds), never moved.
struct Inputs {
    data::SourceData data;
    Display display;  // how pictures undo the images' normalisation
    int workers = 1;
    bool skip_corrupt = false;

    Inputs(const DataOptions& o, int threads, data::Use use = data::Use::evaluation, const data::TensorAugment& augment = {},
           bool augmenting = true)
        : data(o.source(augmenting), use, augment), display{data.mean(), data.stddev()},
          workers(o.loading.workers_for(threads)), skip_corrupt(o.skip_corrupt) {}
    Inputs(const Inputs&) = delete;
    Inputs& operator=(const Inputs&) = delete;

    const data::Dataset& set() const { return data.set(); }
    std::size_t size() const { return set().size(); }
    std::string name(std::size_t index) const { return set().name(index); }
    // The names of the model's classes: the data set's, if it names them all.
    data::ClassNames class_names(const Architecture& arch) const { return data::ClassNames(arch.classes(), set().class_names()); }
    data::BatchStream stream(std::size_t batch) const {
        return data::BatchStream(set(), data::StreamOptions::in_order(batch, workers));
    }
    distributed::ShardOptions shards(std::size_t batch) const { return {batch, workers, skip_corrupt}; }
};

}  // namespace bagnet::cli
