#pragma once
// numpy arrays in and out of the library without copies.
//
// In: a C-contiguous, aligned float32 N x C x H x W array is read where it lies (an
// ImagesView of its buffer); anything else is refused with one line naming what is
// expected, since a silent conversion would copy (and a float64 batch of 224 px images
// is 1.2 MB per image). Out: the library's result tensor is moved into a heap object
// that a capsule owns, and the array is a view of its buffer with the capsule as base.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "bagnet/tensor.hpp"

namespace bagnet::python {

namespace py = pybind11;

// "float64 array of shape (2, 3)": what a refused argument was.
inline std::string describe(const py::array& a) {
    std::string shape = "(";
    for (py::ssize_t d = 0; d < a.ndim(); ++d) shape += (d ? ", " : "") + std::to_string(a.shape(d));
    if (a.ndim() == 1) shape += ",";
    return py::str(a.dtype()).cast<std::string>() + " array of shape " + shape + ")";
}

// The images of `x` (`what` names the argument in messages), read in place. The
// array must stay alive and unchanged while the view is used: callers hold it.
inline ImagesView images_of(const py::handle& x, const char* what = "x") {
    const std::string expected = std::string(what) + " must be a C-contiguous float32 numpy array N x C x H x W";
    if (!py::isinstance<py::array>(x))
        throw py::type_error(expected + ", got " + py::str(py::type::of(x).attr("__name__")).cast<std::string>());
    const auto a = py::reinterpret_borrow<py::array>(x);
    // isinstance<array_t<float>> compares the dtype as numpy's EquivTypes does: a
    // byte-swapped float32 is not one.
    if (!py::isinstance<py::array_t<float>>(a)) throw py::type_error(expected + ", got a " + describe(a));
    if (a.ndim() != 4) throw py::value_error(expected + ", got a " + describe(a));
    if (!(a.flags() & py::array::c_style) || reinterpret_cast<std::uintptr_t>(a.data()) % alignof(float) != 0)
        throw py::value_error(expected + ", got a non-contiguous or unaligned " + describe(a) +
                              " (numpy.ascontiguousarray copies it into one)");
    return ImagesView(static_cast<const float*>(a.data()),
                      {std::size_t(a.shape(0)), std::size_t(a.shape(1)), std::size_t(a.shape(2)), std::size_t(a.shape(3))});
}

// A numpy array that owns `tensor`'s buffer (an xtensor container, moved, not copied).
template <class Container>
py::array_t<float> to_numpy(Container&& tensor) {
    using Owned = std::decay_t<Container>;
    auto owned = std::make_unique<Owned>(std::forward<Container>(tensor));
    const std::vector<py::ssize_t> shape(owned->shape().begin(), owned->shape().end());
    const float* data = owned->data();
    py::capsule base(owned.get(), [](void* p) { delete static_cast<Owned*>(p); });
    owned.release();  // the capsule owns it now
    return py::array_t<float>(shape, data, base);
}

}  // namespace bagnet::python
