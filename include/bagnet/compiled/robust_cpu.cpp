// bagnet::compiled: certificates and the patch attack on the cpu backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/robust.hpp"

namespace bagnet {
BAGNET_CERTIFY_INSTANCES(template, cpu)
BAGNET_PATCH_ATTACK_INSTANCES(template, cpu)
}  // namespace bagnet
