#pragma once
// The library's tunables that a user may want to know or change, in one place.
#include <algorithm>
#include <thread>

namespace bagnet::config {

// The cores of this machine (logical CPUs): the default number of compute threads,
// and the most that bagnet runs, since more only slows compute-bound work down.
inline int machine_cores() { return std::max(1, int(std::thread::hardware_concurrency())); }

}  // namespace bagnet::config
