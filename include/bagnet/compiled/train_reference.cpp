// bagnet::compiled: training on the reference backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/train.hpp"

namespace bagnet {
BAGNET_INPUT_GRADIENT_INSTANCES(template, reference)
namespace train {
BAGNET_TRAIN_LOOP_INSTANCES(template, reference)
BAGNET_FINE_TUNE_INSTANCES(template, reference)
}  // namespace train
}  // namespace bagnet
