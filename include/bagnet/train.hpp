#pragma once
// Training: backprop over any network of bagnet's layers, losses, optimizers,
// schedules, data loaders, checkpoints and the train/evaluate loops.
// (Kept out of bagnet/bagnet.hpp so that inference-only code compiles faster.)
#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/train/backends.hpp"
#include "bagnet/train/backprop.hpp"
#include "bagnet/train/checkpoint.hpp"
#include "bagnet/train/data.hpp"
#include "bagnet/layers/graph.hpp"
#include "bagnet/train/input_gradient.hpp"
#include "bagnet/train/fine_tune.hpp"
#include "bagnet/train/loop.hpp"
#include "bagnet/train/loss.hpp"
#include "bagnet/train/optimizer.hpp"
#include "bagnet/train/progress.hpp"
#include "bagnet/train/recipe.hpp"
#include "bagnet/train/schedule.hpp"
