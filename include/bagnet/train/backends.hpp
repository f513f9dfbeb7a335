#pragma once
// The training ops (layers/contract.hpp) of every backend this build has, for the functions
// that run a Model's backward pass on its own backend: training (train/loop.hpp) and input
// gradients (train/input_gradient.hpp), and through them gradient attribution and the patch
// attack. Code that instantiates them for a backend needs nothing else.
#include "bagnet/backend/cpu/training.hpp"
#include "bagnet/backend/reference/training.hpp"
#if BAGNET_WITH_CUDA
#include "bagnet/backend/cuda/training.hpp"
#endif
