#pragma once
// Python arguments into the library's types, with one-line errors that name the argument.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bagnet::python {

namespace py = pybind11;

// A path given as str or os.PathLike (pathlib.Path), as Python's own file functions take it.
inline std::string path_of(const py::handle& path) {
    return py::str(py::module_::import("os").attr("fspath")(path)).cast<std::string>();
}

// `labels=` of an analysis over n images: an integer numpy array or sequence of n class
// indices (-1: unknown), or None (every label unknown).
inline std::vector<std::int64_t> labels_of(const py::object& labels, std::size_t n) {
    if (labels.is_none()) return std::vector<std::int64_t>(n, -1);
    const py::array a = py::array::ensure(labels);
    if (!a || a.ndim() != 1 || (a.dtype().kind() != 'i' && a.dtype().kind() != 'u'))
        throw py::type_error("labels must be a 1-d array of integer class indices (-1: unknown)");
    if (std::size_t(a.shape(0)) != n)
        throw py::value_error(std::to_string(a.shape(0)) + " labels for " + std::to_string(n) + " images");
    return a.cast<std::vector<std::int64_t>>();
}

// A JSON text of the library's (reports, listings) as Python objects.
inline py::object from_json(const std::string& text) { return py::module_::import("json").attr("loads")(text); }

}  // namespace bagnet::python
