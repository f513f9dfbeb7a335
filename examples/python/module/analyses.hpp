#pragma once
// The Python module's data-set analyses (analyses.cpp), added to bagnet.Model and the module.
#include <pybind11/pybind11.h>

#include "python_model.hpp"

namespace bagnet::python {
void add_analyses(pybind11::class_<PythonModel>& model, pybind11::module_& m);
}
