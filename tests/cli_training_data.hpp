#pragma once
// Data for `bagnet train` tests that run the program: small enough for a step to take
// milliseconds.
#include <cstdint>
#include <string>

#include "bagnet/io/npy.hpp"
#include "random_tensors.hpp"
#include "test_files.hpp"

namespace bagnet::testing {

// Eight random 28 x 28 grey images and their labels (of 10 classes), as npy files in `dir`,
// with the options that train small9 on them.
inline std::string small_data(const ScratchDirectory& dir) {
    bagnet::io::save_npy(dir.file("x.npy"), random_images(8, 28, 28, 3));
    write_labels_npy(dir.file("y.npy"), {0, 1, 2, 3, 4, 5, 6, 7});
    return "--arch small9 --input " + dir.file("x.npy") + " --labels " + dir.file("y.npy") +
           " --batch-size 4 --threads 1";
}

}  // namespace bagnet::testing
