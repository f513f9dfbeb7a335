#pragma once
// The input pipeline: data sets loaded one item at a time (image folders decoded
// as needed, images in memory), torchvision's transforms, deterministic epoch
// orders, and batches streamed by a pool of worker threads.
#include "bagnet/data/class_names.hpp"
#include "bagnet/data/dataset.hpp"
#include "bagnet/data/fashion_mnist.hpp"
#include "bagnet/data/image_folder.hpp"
#include "bagnet/data/random.hpp"
#include "bagnet/data/sampler.hpp"
#include "bagnet/data/stream.hpp"
#include "bagnet/data/tensor_dataset.hpp"
#include "bagnet/data/transforms.hpp"
