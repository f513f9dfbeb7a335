#pragma once
// The whole library: #include <bagnet/bagnet.hpp>.
#include "bagnet/arch.hpp"
#include "bagnet/backend/backend.hpp"
#include "bagnet/backend/cpu/executor.hpp"
#include "bagnet/backend/reference/executor.hpp"
#include "bagnet/error.hpp"
#include "bagnet/inference.hpp"
#include "bagnet/model.hpp"
#include "bagnet/parameters.hpp"
#include "bagnet/tensor.hpp"
#if BAGNET_WITH_CUDA
#include "bagnet/backend/cuda/executor.hpp"
#endif
