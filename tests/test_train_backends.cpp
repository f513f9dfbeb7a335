// The cpu backend's training ops (oneDNN backward primitives) against the
// reference backend, layer by layer and through whole BagNets.
#include "bagnet/backend/cpu/training.hpp"

#define BAGNET_TRAINING_BACKENDS bagnet::cpu
#include "training_ops_cases.hpp"
