// The Python module `bagnet`: the library's free functions as methods of bagnet.Model
// and functions of the module, on numpy arrays (numpy_arrays.hpp: read in place,
// results handed over without copies). Long calls release the GIL; every bagnet::Error
// becomes bagnet.Error with the same one-line message.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "bagnet/bagnet.hpp"
#include "bagnet/data/class_names.hpp"
#include "bagnet/explain.hpp"
#include "bagnet/io/image.hpp"
#include "analyses.hpp"
#include "arguments.hpp"
#include "bagnet/train/input_gradient.hpp"
#include "interruptible.hpp"
#include "numpy_arrays.hpp"
#include "python_model.hpp"

namespace py = pybind11;
using namespace py::literals;
using bagnet::python::check_signals;
using bagnet::python::images_of;
using bagnet::python::path_of;
using bagnet::python::PythonModel;
using bagnet::python::to_numpy;

namespace {

// heatmaps' `classes=` (an int or a list of ints) or `top=` (each image's K best), exactly one.
bagnet::ClassChoice class_choice(const std::optional<std::variant<int, std::vector<int>>>& classes,
                                 const std::optional<int>& top) {
    if (classes.has_value() == top.has_value())
        throw py::value_error("give either classes=C (an int or a list of ints) or top=K");
    if (top) {
        if (*top < 1) throw py::value_error("top must be at least 1, got " + std::to_string(*top));
        return bagnet::ClassChoice::top(*top);
    }
    if (const int* one = std::get_if<int>(&*classes)) return bagnet::ClassChoice(*one);
    return bagnet::ClassChoice(std::get<std::vector<int>>(*classes));
}

py::tuple to_python(bagnet::Heatmaps&& maps) {
    return py::make_tuple(to_numpy(std::move(maps.evidence)), py::cast(maps.classes));
}

// heatmap_png's `display=`: how the normalised input becomes pixels again.
bagnet::Display display_of(const py::object& display) {
    if (display.is_none()) return {};
    if (py::isinstance<py::str>(display)) {
        const auto name = display.cast<std::string>();
        if (name != "imagenet") throw py::value_error("display must be None, 'imagenet' or (mean, std), got '" + name + "'");
        return bagnet::Display::imagenet();
    }
    const auto [mean, stddev] = display.cast<std::pair<std::vector<float>, std::vector<float>>>();
    return {mean, stddev};
}

// Wraps the user's progress callback (if any, called with the GIL held) with the check for
// Ctrl-C between two passes (interruptible.hpp).
bagnet::HeatmapProgress progress_of(const std::optional<std::function<void(std::size_t, std::size_t)>>& user) {
    return [user](std::size_t done, std::size_t total) {
        check_signals();
        if (!user) return;
        py::gil_scoped_acquire held;
        (*user)(done, total);
    };
}

}  // namespace

PYBIND11_MODULE(bagnet, m) {
    m.doc() = "BagNets (Brendel & Bethge, ICLR 2019) on the CPU: the bagnet C++ library from Python.\n\n"
              "Images are numpy float32 arrays N x C x H x W (C-contiguous, normalised), read in place;\n"
              "results are float32 numpy arrays that own the library's buffers.";

    // RuntimeError as its base: bagnet::Error is a std::runtime_error.
    py::register_exception<bagnet::Error>(m, "Error", PyExc_RuntimeError);

    py::class_<PythonModel> model(m, "Model", "A BagNet (or resnet50) chosen by name, with its weights.");
    model
        .def(py::init([](const std::string& arch, const py::object& weights, std::optional<int> threads,
                         const std::string& precision, int classes, const std::string& device) {
                 return std::make_unique<PythonModel>(arch, weights.is_none() ? "" : path_of(weights),
                                    threads.value_or(bagnet::config::machine_cores()), precision, classes, device);
             }),
             "arch"_a, "weights"_a = py::none(), "threads"_a = py::none(), "precision"_a = "fp32", "classes"_a = 0,
             "device"_a = "cpu",
             "Model(arch, weights=None, threads=None, precision='fp32', classes=0, device='cpu')\n\n"
             "arch: bagnet9|bagnet17|bagnet33 (ImageNet), fashion<q>|small<q> (28 x 28 grey), fashionfine<q>,\n"
             "resnet50, as the command line's --arch. weights: a safetensors file with PyTorch's key names\n"
             "(tools/convert_checkpoint.py), or None for random weights (seed 0). threads: compute threads\n"
             "(default: the machine's cores). precision: 'fp32' or 'bf16'. classes: the head's classes\n"
             "(0: the architecture's own). device: 'cpu', the module's only device (others, 'cuda' included,\n"
             "are refused with bagnet.Error before the weights are read).")
        .def_property_readonly("arch", [](const PythonModel& p) { return p.model().architecture().name; },
                               "the architecture's name, e.g. 'bagnet33'")
        .def_property_readonly("patch_size", [](const PythonModel& p) { return p.model().architecture().patch_size; },
                               "q: the side in pixels of the patch each logit-map entry sees")
        .def_property_readonly("output_stride",
                               [](const PythonModel& p) { return bagnet::output_stride(p.model().architecture()); },
                               "s: pixels between the patches of neighbouring logit-map entries (8 for ImageNet)")
        .def_property_readonly("classes", [](const PythonModel& p) { return p.model().architecture().classes(); })
        .def_property_readonly("in_channels", [](const PythonModel& p) { return p.model().architecture().in_channels; })
        .def_property_readonly("threads", &PythonModel::threads)
        .def_property_readonly("precision", [](const PythonModel& p) { return bagnet::to_string(p.model().precision()); })
        .def("__repr__",
             [](const PythonModel& p) {
                 return "bagnet.Model('" + p.model().architecture().name + "', precision='" +
                        bagnet::to_string(p.model().precision()) + "', threads=" + std::to_string(p.threads()) + ")";
             })
        .def(
            "logits",
            [](const PythonModel& p, const py::object& x) {
                const bagnet::ImagesView images = images_of(x);
                return to_numpy(p.run([&](const auto& model) { return bagnet::logits(model, images); }));
            },
            "x"_a,
            "logits(x) -> float32 N x classes\n\n"
            "x: float32 N x C x H x W, normalised, H and W at least the model's minimum input size.\n"
            "The spatial mean of the logit map.")
        .def(
            "logit_map",
            [](const PythonModel& p, const py::object& x) {
                const bagnet::ImagesView images = images_of(x);
                return to_numpy(p.run([&](const auto& model) { return bagnet::logit_map(model, images); }));
            },
            "x"_a,
            "logit_map(x) -> float32 N x H' x W' x classes\n\n"
            "The class evidence of every q x q patch: for the ImageNet BagNets the patch of entry (i, j)\n"
            "has its top-left pixel at (8 i, 8 j).")
        .def(
            "top_predictions",
            [](const PythonModel& p, const py::object& x, int k) {
                const bagnet::ImagesView images = images_of(x);
                std::vector<std::vector<std::pair<int, double>>> out;
                for (const auto& row : p.run([&](const auto& model) { return bagnet::top_predictions(model, images, k); })) {
                    out.emplace_back();
                    for (const auto& c : row) out.back().emplace_back(c.index, c.probability);
                }
                return out;
            },
            "x"_a, "k"_a = 5,
            "top_predictions(x, k=5) -> [[(class, probability), ...] per image]\n\n"
            "Per image the k most probable classes, best first; probability: softmax of the logits,\n"
            "in [0, 1]. Of equal scores the lower class index comes first.")
        .def(
            "class_name", [](const PythonModel& p, int c) { return bagnet::data::ClassNames(p.model().architecture().classes()).name(c); },
            "c"_a, "class_name(c) -> str: ImageNet's name for 1000 classes, else 'class c'")
        .def(
            "coarse_heatmap",
            [](const PythonModel& p, const py::object& x, std::optional<std::variant<int, std::vector<int>>> classes,
               std::optional<int> top) {
                const bagnet::ClassChoice choice = class_choice(classes, top);
                const bagnet::ImagesView images = images_of(x);
                return to_python(p.run([&](const auto& model) { return bagnet::coarse_heatmap(model, images, choice); }));
            },
            "x"_a, "classes"_a = py::none(), "top"_a = py::none(),
            "coarse_heatmap(x, classes=None, top=None) -> (float32 N x K x H' x W', classes)\n\n"
            "One pass: entry (n, k, i, j) is the logit of class classes[n][k] for the q x q patch at map\n"
            "position (i, j). Give classes (an int or a list, the same for every image) or top=K (each\n"
            "image's K highest-scoring classes).")
        .def(
            "dense_heatmap",
            [](const PythonModel& p, const py::object& x, std::optional<std::variant<int, std::vector<int>>> classes,
               std::optional<int> top, std::optional<std::function<void(std::size_t, std::size_t)>> progress) {
                const bagnet::ClassChoice choice = class_choice(classes, top);
                const bagnet::ImagesView images = images_of(x);
                const bagnet::HeatmapProgress report = progress_of(progress);
                return to_python(
                    p.run([&](const auto& model) { return bagnet::dense_heatmap(model, images, choice, report); }));
            },
            "x"_a, "classes"_a = py::none(), "top"_a = py::none(), "progress"_a = py::none(),
            "dense_heatmap(x, classes=None, top=None, progress=None) -> (float32 N x K x H x W, classes)\n\n"
            "The exact per-pixel evidence: entry (n, k, y, x) is the logit of class classes[n][k] for the\n"
            "q x q patch centred on pixel (y, x) of the zero-padded image. progress(done, total) is called\n"
            "after each pass; Ctrl-C stops the call after the pass under way.")
        .def(
            "heatmap_png",
            [](const PythonModel& p, const py::object& x, std::optional<std::variant<int, std::vector<int>>> classes,
               std::optional<int> top, bool dense, std::optional<std::vector<std::string>> names,
               const py::object& display, double percentile, const py::object& path) -> py::object {
                const bagnet::ClassChoice choice = class_choice(classes, top);
                const bagnet::ImagesView images = images_of(x);
                const std::size_t n = images.shape()[0];
                if (names && names->size() != n)
                    throw py::value_error(std::to_string(names->size()) + " names for " + std::to_string(n) + " images");
                if (!(percentile > 0 && percentile <= 100)) throw py::value_error("percentile must be in (0, 100]");
                const bagnet::Display shown = display_of(display);
                const std::string file = path.is_none() ? "" : path_of(path);
                const bagnet::HeatmapProgress report = progress_of(std::nullopt);
                const auto png = p.run([&](const auto& model) {
                    const bagnet::Heatmaps maps = dense ? bagnet::dense_heatmap(model, images, choice, report)
                                                        : bagnet::coarse_heatmap(model, images, choice);
                    const bagnet::Tensor2 scores = bagnet::logits(model, images);
                    const bagnet::data::ClassNames class_names(model.architecture().classes());
                    std::vector<bagnet::Picture> figures;
                    for (std::size_t i = 0; i < n; ++i)
                        figures.push_back(bagnet::heatmap_figure(
                            model.architecture(), images, i, maps, scores, [&](int c) { return class_names.label(c); },
                            shown, names ? (*names)[i] : "image " + std::to_string(i), percentile));
                    const bagnet::Picture figure = bagnet::stacked(figures);
                    if (!file.empty()) figure.save_png(file);
                    return file.empty() ? figure.png() : std::vector<unsigned char>{};
                });
                if (!file.empty()) return py::none();
                return py::bytes(reinterpret_cast<const char*>(png.data()), png.size());
            },
            "x"_a, "classes"_a = py::none(), "top"_a = py::none(), "dense"_a = false, "names"_a = py::none(),
            "display"_a = py::none(), "percentile"_a = 99.0, "path"_a = py::none(),
            "heatmap_png(x, classes=None, top=None, dense=False, names=None, display=None, percentile=99.0,\n"
            "            path=None) -> PNG bytes, or None when written to path\n\n"
            "The command line's heatmap picture: per image (one under the other) the image, each class's\n"
            "map labelled with its logit (coarse maps spread over the pixels; dense=True: the exact\n"
            "per-pixel evidence) and a colour bar ending at the percentile of |evidence|. names: a caption\n"
            "per image (default 'image i'). display: None (stretch each image's range), 'imagenet', or\n"
            "(mean, std) per channel: how the normalised input is turned back into pixels.")
        .def(
            "saliency",
            [](const PythonModel& p, const py::object& x, int class_index) {
                if (p.model().precision() != bagnet::Precision::fp32)
                    throw bagnet::Error("saliency runs in fp32 only (gradients are computed in fp32)");
                const bagnet::ImagesView images = images_of(x);
                return to_numpy(
                    p.run([&](const auto& model) { return bagnet::input_gradient(model, images, class_index); }));
            },
            "x"_a, "class_index"_a,
            "saliency(x, class_index) -> float32 N x C x H x W\n\n"
            "d logit[n, class_index] / d x (evaluation mode: running batch-norm statistics), per image,\n"
            "in logit units per unit of the normalised input.");
    bagnet::python::add_analyses(model, m);

    m.def(
        "imagenet_preprocess",
        [](const py::object& files, std::uint64_t max_pixels) {
            std::vector<std::string> paths;
            if (py::isinstance<py::str>(files) || py::hasattr(files, "__fspath__")) paths.push_back(path_of(files));
            else
                for (const py::handle& f : files) paths.push_back(path_of(f));
            if (paths.empty()) throw py::value_error("no image files given");
            const auto options = bagnet::io::DecodeOptions().with_max_pixels(max_pixels);
            bagnet::Tensor4 batch = [&] {
                py::gil_scoped_release released;
                bagnet::Tensor4 images = bagnet::Tensor4::from_shape({paths.size(), 3, 224, 224});
                for (std::size_t i = 0; i < paths.size(); ++i) {
                    const bagnet::Tensor image = bagnet::io::imagenet_preprocess(paths[i], options);
                    std::copy(image.begin(), image.end(), &images(i, 0, 0, 0));
                }
                return images;
            }();
            return to_numpy(std::move(batch));
        },
        "files"_a, "max_pixels"_a = bagnet::io::default_max_pixels,
        "imagenet_preprocess(files, max_pixels=178956970) -> float32 N x 3 x 224 x 224\n\n"
        "PNG or JPEG files (a path or a list of paths) as torchvision's ImageNet evaluation transform\n"
        "makes them: shorter side resized to 256, centre crop 224, normalised with ImageNet's mean and\n"
        "std. Images of more than max_pixels pixels (PIL's decompression-bomb limit) are refused.");

    m.def(
        "imagenet_class_name", [](int c) { return std::string(bagnet::io::imagenet_class_name(c)); }, "c"_a,
        "imagenet_class_name(c) -> str: the name of ImageNet class c (0 <= c < 1000)");
}
