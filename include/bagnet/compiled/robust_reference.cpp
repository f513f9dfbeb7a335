// bagnet::compiled: certificates and the patch attack on the reference backend (bagnet/instances.hpp).
#include "bagnet/bagnet.hpp"
#include "bagnet/robust.hpp"

namespace bagnet {
BAGNET_CERTIFY_INSTANCES(template, reference)
BAGNET_PATCH_ATTACK_INSTANCES(template, reference)
}  // namespace bagnet
