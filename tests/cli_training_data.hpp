#pragma once
// Data for `bagnet train` tests that run the program: small enough for a step to take
// milliseconds.
#include <cstdint>
#include <fstream>
#include <string>

#include "bagnet/io/npy.hpp"
#include "random_tensors.hpp"
#include "test_files.hpp"

namespace bagnet::testing {

// Eight random 28 x 28 grey images and their labels (of 10 classes), as npy files in `dir`,
// with the options that train small9 on them.
inline std::string small_data(const ScratchDirectory& dir) {
    bagnet::io::save_npy(dir.file("x.npy"), random_images(8, 28, 28, 3));
    std::ofstream labels(dir.file("y.npy"), std::ios::binary);
    const std::string header = "{'descr': '<i8', 'fortran_order': False, 'shape': (8,), }";
    const std::string padded = header + std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
    labels << std::string("\x93NUMPY\x01\x00", 8) << char(padded.size() & 0xff) << char(padded.size() >> 8) << padded;
    for (std::int64_t label = 0; label < 8; ++label) labels.write(reinterpret_cast<const char*>(&label), 8);
    return "--arch small9 --data-npy " + dir.file("x.npy") + " --labels-npy " + dir.file("y.npy") +
           " --batch-size 4 --threads 1";
}

}  // namespace bagnet::testing
