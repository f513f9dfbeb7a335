// bagnet::compiled: training on the cpu backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/train.hpp"

namespace bagnet {
BAGNET_INPUT_GRADIENT_INSTANCES(template, cpu)
namespace train {
BAGNET_TRAIN_LOOP_INSTANCES(template, cpu)
BAGNET_FINE_TUNE_INSTANCES(template, cpu)
}  // namespace train
}  // namespace bagnet
