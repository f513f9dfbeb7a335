#pragma once
// Certified robustness against adversarial patches: #include <bagnet/robust.hpp> (on top of
// <bagnet/bagnet.hpp>). Robust masking (PatchGuard) and Clipped BagNet over a logit map, their
// exact per-image certificates, `certify` over a model and a data set, and a projected-gradient
// patch attack to test them.
#include "bagnet/robust/certify.hpp"
#include "bagnet/robust/clipping.hpp"
#include "bagnet/robust/defense.hpp"
#include "bagnet/robust/masking.hpp"
#include "bagnet/robust/patch_attack.hpp"
#include "bagnet/robust/window.hpp"
#include "bagnet/robust/window_sums.hpp"
