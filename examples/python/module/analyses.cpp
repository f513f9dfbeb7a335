// The Python module's data-set analyses: evaluation, top patches, certificates, the patch
// attack and two models' logit correlation over images in numpy arrays, and the data sets the
// library reads (Fashion-MNIST, image folders) as such arrays. The results are the command
// line's reports as Python objects.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "analyses.hpp"
#include "arguments.hpp"
#include "interruptible.hpp"
#include "bagnet/data/class_names.hpp"
#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/data/image_folder.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/distributed/communicator.hpp"
#include "bagnet/explain/logit_correlation.hpp"
#include "bagnet/explain/top_patches.hpp"
#include "bagnet/robust.hpp"
#include "bagnet/robust/pixel_ranges.hpp"
#include "bagnet/train/fine_tune.hpp"
#include "bagnet/train/loop.hpp"
#include "bagnet/train/recipe.hpp"
#include "numpy_arrays.hpp"

namespace bagnet::python {

using namespace py::literals;

namespace {

constexpr double no_clip = std::numeric_limits<double>::infinity();

// The images (copied once: a data set holds its images) and labels of an analysis.
LabelledImages labelled(const py::object& x, const py::object& labels) {
    const ImagesView images = images_of(x);
    return {to_tensor(images), labels_of(labels, images.shape()[0])};
}

py::object evaluate(const PythonModel& p, const py::object& x, const py::object& labels, std::size_t batch) {
    const LabelledImages data = labelled(x, labels);
    for (std::int64_t label : data.labels)
        if (label < 0) throw py::value_error("evaluate needs a label for every image");
    const data::TensorDataset set(data.images, data.labels);
    const Interruptible watched(set);
    const train::EvalMetrics m = p.run([&](const auto& model) {
        data::BatchStream stream(watched, data::StreamOptions::in_order(batch));
        return train::evaluate(model, stream);
    });
    return py::dict("loss"_a = m.loss, "top1"_a = m.top1, "top5"_a = m.top5, "images"_a = m.images);
}

py::object top_patches(const PythonModel& p, const py::object& x, const std::vector<int>& classes, std::size_t k,
                       const py::object& labels, std::size_t batch) {
    const LabelledImages data = labelled(x, labels);
    const data::TensorDataset set(data.images, data.labels);
    const Interruptible watched(set);
    const auto found = p.run([&](const auto& model) {
        data::BatchStream stream(watched, data::StreamOptions::in_order(batch));
        return bagnet::top_patches(model, stream, classes, k);
    });
    const data::ClassNames names(p.model().architecture().classes());
    py::list out;
    for (const TopPatches& top : found) {
        py::dict listing = from_json(to_json(top, names.label(top.class_index)));
        // The pixels too, which the JSON leaves out: C x q x q per patch, in the listing's order.
        const std::pair<const char*, const std::vector<Patch>*> kinds[] = {{"of_class", &top.of_class},
                                                                           {"of_other_classes", &top.of_other_classes}};
        for (const auto& [kind, list] : kinds) {
            const std::vector<Patch>& patches = *list;
            py::list entries = listing[kind];
            for (std::size_t i = 0; i < patches.size(); ++i)
                entries[i].cast<py::dict>()["pixels"] = to_numpy(Tensor(patches[i].pixels));
        }
        out.append(listing);
    }
    return out;
}

// The images and labels of an analysis that needs a label for every image (`what`: its name).
LabelledImages fully_labelled(const char* what, const py::object& x, const py::object& labels) {
    if (labels.is_none()) throw py::value_error(std::string(what) + " needs labels: one class index per image");
    return labelled(x, labels);
}

py::object certify(const PythonModel& p, const py::object& x, const py::object& labels, int patch,
                   const std::string& defense_name, std::optional<double> threshold, std::optional<double> clip,
                   std::size_t batch) {
    const Defense defense = defense_by_name(defense_name, threshold, clip.value_or(no_clip));
    const LabelledImages data = fully_labelled("certify", x, labels);
    const data::TensorDataset set(data.images, data.labels);
    const Interruptible watched(set);
    const CertificationReport report = p.run([&](const auto& model) {
        data::check_labels(set, model.architecture().classes(), "certify's labels");
        data::BatchStream stream(watched, data::StreamOptions::in_order(batch));
        return bagnet::certify(model, stream, PatchSize::square(patch), defense);
    });
    return from_json(to_json(report));
}

// attack_patch's positions: at=(y, x), or every position on `stride` (default 1).
PatchAttackOptions attack_options(const std::optional<std::pair<int, int>>& at, std::optional<int> stride, int steps,
                                  double step_size, std::uint64_t seed, std::size_t batch) {
    PatchAttackOptions options;
    options.steps(steps).step_size(step_size).stride(stride.value_or(1)).seed(seed).batch_size(batch);
    if (at) {
        if (stride) throw py::value_error("give either at=(y, x) or stride=S, not both");
        if (at->first < 0 || at->second < 0)
            throw py::value_error("at must be (y, x), the patch's top-left pixel, got (" + std::to_string(at->first) +
                                  ", " + std::to_string(at->second) + ")");
        options.at(at->first, at->second);
    }
    options.validate();
    return options;
}

py::object attack_patch(const PythonModel& p, const py::object& x, const py::object& labels, int patch,
                        const std::string& defense_name, std::optional<double> threshold, std::optional<double> clip,
                        const std::optional<std::pair<int, int>>& at, std::optional<int> stride, int steps,
                        double step_size, std::uint64_t seed, const std::string& normalization, std::size_t batch) {
    if (p.model().precision() != Precision::fp32)
        throw Error("attack_patch runs in fp32 only (gradients are computed in fp32)");
    const Defense defense = defense_by_name(defense_name, threshold, clip.value_or(no_clip));
    const PatchAttackOptions options = attack_options(at, stride, steps, step_size, seed, batch);
    const PixelRange range = pixel_range_by_name(normalization, p.model().architecture().in_channels);
    const LabelledImages data = fully_labelled("attack_patch", x, labels);
    const data::TensorDataset set(data.images, data.labels);
    const Interruptible watched(set);
    const PatchAttackReport report = p.run([&](const auto& model) {
        data::check_labels(set, model.architecture().classes(), "attack_patch's labels");
        data::BatchStream stream(watched, data::StreamOptions::in_order(batch));
        return bagnet::attack_patch(model, stream, PatchSize::square(patch), range, defense, options);
    });
    return from_json(to_json(report));
}

// Per image of x, the correlation of the two models' logits, and what `bagnet correlate` prints.
py::dict correlate(const PythonModel& first, const PythonModel& second, const py::object& x, std::size_t batch) {
    if (batch < 1) throw py::value_error("batch must be at least 1");
    const LabelledImages data = labelled(x, py::none());
    const data::TensorDataset set(data.images, data.labels);
    const Interruptible watched(set);
    const std::vector<double> r = first.run_with(second, [&](const auto& model, const auto& other) {
        distributed::SingleProcess one;
        return logit_correlations(model, other, watched, distributed::ShardOptions{batch}, one);
    });
    const CorrelationSummary s = correlation_summary(r);
    return py::dict("arch"_a = first.model().architecture().name, "against_arch"_a = second.model().architecture().name,
                    "r"_a = py::array_t<double>(py::ssize_t(r.size()), r.data()), "mean"_a = s.mean,
                    "median"_a = s.median, "images"_a = s.images);
}

// The recipe fit starts from, with the caller's changes.
train::Recipe recipe_of(const std::string& name, std::optional<long> epochs, std::optional<long> steps,
                        std::optional<double> lr, std::optional<std::size_t> batch_size, bool augment) {
    if (name != "fashion-mnist" && name != "default")
        throw py::value_error("recipe must be 'fashion-mnist' or 'default', got '" + name + "'");
    train::Recipe recipe = name == "fashion-mnist" ? train::fashion_mnist_recipe() : train::Recipe{};
    if (epochs) recipe.epochs = *epochs;
    if (steps) recipe.steps = *steps;
    if (lr) recipe.lr = *lr;
    if (batch_size) recipe.batch_size = *batch_size;
    if (!augment) {
        recipe.flip = false;
        recipe.crop_padding = 0;
    }
    recipe.check();
    return recipe;
}

using StepCallback = std::function<void(const py::dict&)>;

py::object fit(PythonModel& p, const py::object& x, const py::object& labels, const std::string& recipe_name,
               std::optional<long> epochs, std::optional<long> steps, std::optional<double> lr,
               std::optional<std::size_t> batch_size, bool augment, std::uint64_t seed, const std::string& fine_tune,
               const std::optional<StepCallback>& progress) {
    const train::Recipe recipe = recipe_of(recipe_name, epochs, steps, lr, batch_size, augment);
    const train::FineTune trained = train::parse_fine_tune(fine_tune);
    if (p.model().precision() != Precision::fp32) throw Error("training runs in fp32 only");
    const LabelledImages data = labelled(x, labels);
    const Architecture& arch = p.model().architecture();
    const data::TensorDataset set(data.images, data.labels, recipe.tensor_augment());
    data::check_labels(set, arch.classes(), "fit's labels");
    data::BatchStream stream(set, recipe.stream_options(seed));
    train::FitOptions options = recipe.fit_options();
    options.train.frozen = train::frozen_for(arch, trained);
    const long total = train::total_steps(options, stream);
    const train::Schedule schedule = recipe.make_schedule(total);
    const auto optimizer = recipe.make_optimizer();
    train::Position position{0, 0, 0, seed};
    train::StepReport last;
    train::Callbacks callbacks;
    // Called with the GIL held after every step, where Ctrl-C stops the run (the model keeps
    // the steps done).
    callbacks.on_step = [&](const train::StepReport& r) {
        last = r;
        check_signals();
        py::gil_scoped_acquire held;
        if (progress)
            (*progress)(py::dict("epoch"_a = r.epoch, "step"_a = r.step, "steps"_a = total, "loss"_a = r.loss,
                                 "lr"_a = r.lr));
    };
    p.update([&](Model<cpu>& model) { train::fit(model, *optimizer, schedule, stream, options, position, callbacks); });
    return py::dict("steps"_a = position.step, "last_step_loss"_a = last.loss, "recipe"_a = from_json(io::json_text(recipe.to_json(total))));
}

// A Fashion-MNIST split (Debian's dataset-fashion-mnist) as normalised arrays.
py::tuple fashion_mnist(const std::string& split) {
    LabelledImages data = load_fashion_mnist(split);
    normalize_fashion_mnist(data.images);
    py::array_t<std::int64_t> labels(py::ssize_t(data.labels.size()), data.labels.data());
    return py::make_tuple(to_numpy(std::move(data.images)), labels, fashion_mnist_class_names());
}

// Every image of DIR/<class>/<image> with ImageNet's evaluation transform, and the labels.
py::tuple image_folder(const py::object& dir, std::uint64_t max_pixels) {
    const data::ImageFolderDataset set(data::scan_image_folder(path_of(dir)), data::ImageTransform::imagenet_eval(),
                                       io::DecodeOptions().with_max_pixels(max_pixels));
    Tensor4 images = [&] {
        py::gil_scoped_release released;
        const data::ItemShape s = set.shape();
        Tensor4 out = Tensor4::from_shape({set.size(), s.channels, s.height, s.width});
        data::Random unused(0);  // the evaluation transform draws nothing
        for (std::size_t i = 0; i < set.size(); ++i) set.load(i, unused, out.data() + i * s.size());
        return out;
    }();
    std::vector<std::int64_t> labels(set.size());
    for (std::size_t i = 0; i < set.size(); ++i) labels[i] = set.label(i);
    return py::make_tuple(to_numpy(std::move(images)), py::array_t<std::int64_t>(py::ssize_t(labels.size()), labels.data()),
                          set.class_names());
}

}  // namespace

void add_analyses(py::class_<PythonModel>& model, py::module_& m) {
    model
        .def("evaluate", &evaluate, "x"_a, "labels"_a, "batch"_a = 100,
             "evaluate(x, labels, batch=100) -> {'loss', 'top1', 'top5', 'images'}\n\n"
             "Mean cross-entropy and top-1 / top-5 accuracy (fractions) over the images of x (float32\n"
             "N x C x H x W) with their labels (N class indices), batch images per pass.")
        .def("top_patches", &top_patches, "x"_a, "classes"_a, "k"_a = 8, "labels"_a = py::none(), "batch"_a = 100,
             "top_patches(x, classes, k=8, labels=None, batch=100) -> [listing per class]\n\n"
             "The k q x q patches of the images with the most evidence for each class: per class a dict\n"
             "as the command line's patches_classC.json ('class', 'class_name', 'images_scanned',\n"
             "'of_class' among images labelled with the class, 'of_other_classes'), each patch with\n"
             "'score', 'image' (index), 'label', 'y', 'x' (its top-left pixel) and 'pixels' (float32\n"
             "C x q x q). labels: N class indices, or None (then every patch counts as of another class).")
        .def("certify", &certify, "x"_a, "labels"_a, "patch"_a, "defense"_a = "masking", "threshold"_a = py::none(),
             "clip"_a = py::none(), "batch"_a = 64,
             "certify(x, labels, patch, defense='masking', threshold=None, clip=None, batch=64) -> report\n\n"
             "Exact per-image certificates against an adversarial patch x patch square anywhere in the\n"
             "image: the command line's certify report as a dict ('defense', 'patch', 'window', 'images':\n"
             "[{'index', 'label', 'prediction', 'robust_prediction', 'certified'}], 'summary': clean, robust\n"
             "and certified accuracy). defense: 'masking' (robust masking: threshold T in [0, 1), clip C)\n"
             "or 'clipping' (Clipped BagNet: clip C, else tanh).")
        .def("attack_patch", &attack_patch, "x"_a, "labels"_a, "patch"_a, "defense"_a = "masking",
             "threshold"_a = py::none(), "clip"_a = py::none(), "at"_a = py::none(), "stride"_a = py::none(),
             "steps"_a = 40, "step_size"_a = 0.05, "seed"_a = 0, "normalization"_a = "", "batch"_a = 64,
             "attack_patch(x, labels, patch, defense='masking', threshold=None, clip=None, at=None, stride=None,\n"
             "             steps=40, step_size=0.05, seed=0, normalization='', batch=64) -> report\n\n"
             "The command line's attack-patch: a projected-gradient attack with a patch x patch square of\n"
             "pixels at (y, x) = at (its top-left pixel) or at every position on stride (default 1), steps\n"
             "sign-gradient steps of step_size (a share of each channel's pixel range, in (0, 1]) from a\n"
             "random patch (seed), maximising the best wrong class's margin over the label. Pixels stay in\n"
             "the range of [0, 1] pixels normalised as normalization says: 'fashion-mnist', 'imagenet', or\n"
             "'' (by the model's channels: 1 fashion-mnist, else imagenet). defense, threshold, clip: as\n"
             "certify's. The report as a dict: 'defense', 'patch', 'window', 'steps', 'step_size', 'seed',\n"
             "'positions', 'images': [{'index', 'label', 'clean_prediction', 'clean_robust_prediction',\n"
             "'certified', 'margin' (logit units), 'position', 'prediction', 'robust_prediction',\n"
             "'robust_flipped', 'robust_position'}], 'summary' (accuracies before and after the attack,\n"
             "'certified_flipped': always 0). batch: images per certificate pass and patched images per\n"
             "attack pass. fp32 only.");
    model.def("fit", &fit, "x"_a, "labels"_a, "recipe"_a = "default", "epochs"_a = py::none(), "steps"_a = py::none(),
              "lr"_a = py::none(), "batch_size"_a = py::none(), "augment"_a = true, "seed"_a = 0,
              "fine_tune"_a = "all", "progress"_a = py::none(),
              "fit(x, labels, recipe='default', epochs=None, steps=None, lr=None, batch_size=None, augment=True,\n"
              "    seed=0, fine_tune='all', progress=None) -> {'steps', 'last_step_loss', 'recipe'}\n\n"
              "Trains the model in place on x (float32 N x C x H x W) and labels, as `bagnet train` does:\n"
              "recipe 'default' (SGD, momentum 0.9, weight decay 5e-4, lr 0.1, batch 128, 1 epoch, flips) or\n"
              "'fashion-mnist' (the built-in recipe: Nesterov, cosine from 0.1 after 200 warm-up steps, 12\n"
              "epochs, label smoothing 0.1), with the arguments given changed. augment=False: no flips or\n"
              "crops. seed: the data order and augmentation. fine_tune: 'all', 'head' or 'last-stage'.\n"
              "progress(report) is called after every step with its epoch, step, steps, loss and lr;\n"
              "Ctrl-C stops after the step under way (the model keeps the steps done).");
    model.def(
        "save",
        [](const PythonModel& p, const py::object& path) {
            const std::string file = path_of(path);
            p.run([&](const auto& model) { model.save(file); });
        },
        "path"_a, "save(path): the weights as safetensors with PyTorch's key names, written atomically");
    m.def("correlate", &correlate, "model"_a, "against"_a, "x"_a, "batch"_a = 100,
          "correlate(model, against, x, batch=100) -> {'arch', 'against_arch', 'r', 'mean', 'median', 'images'}\n\n"
          "The command line's correlate: per image of x (float32 N x C x H x W) the Pearson correlation of\n"
          "the two models' logits over the classes (r: float64 N, in [-1, 1]; 0 where either is constant),\n"
          "their mean and median (sorted r[N // 2], as the command line prints it). Both models need as\n"
          "many classes (e.g. a BagNet and a resnet50); they run on model's threads, batch images a pass.");
    m.def("fashion_mnist", &fashion_mnist, "split"_a = "test",
          "fashion_mnist(split='test') -> (float32 N x 1 x 28 x 28, int64 N labels, class names)\n\n"
          "Debian's Fashion-MNIST (dataset-fashion-mnist), normalised as the library trains on it.");
    m.def("image_folder", &image_folder, "dir"_a, "max_pixels"_a = io::default_max_pixels,
          "image_folder(dir, max_pixels=178956970) -> (float32 N x 3 x 224 x 224, int64 N labels, class names)\n\n"
          "Every PNG and JPEG of dir/<class>/ (classes in name order), with imagenet_preprocess's\n"
          "transform; the labels are the class folders' indices.");
}

}  // namespace bagnet::python
