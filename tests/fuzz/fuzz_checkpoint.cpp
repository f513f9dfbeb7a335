// libFuzzer target for training checkpoints, the one file the training code reads
// back: its safetensors header, its metadata (format, architecture, optimizer,
// the position and the run's plan: schedule and step count) and its tensors either
// restore a run or are refused with a one-line bagnet::Error. The architecture is a
// tiny one (5 tensors) so that a whole checkpoint is a seed of a few hundred bytes;
// the seeds in corpus/checkpoint are train::save_checkpoint's files for it.
// Build and run: see tests/fuzz/README.md.
#include <bagnet/train/checkpoint.hpp>

#include <cstddef>
#include <cstdint>

#include "fuzzing.hpp"

namespace {

// 1 grey channel -> 1 x 1 convolution to 2 channels, batch norm, ReLU, mean, 3 classes.
bagnet::Architecture tiny_architecture() {
    bagnet::Architecture arch;
    arch.name = "fuzz1";
    arch.patch_size = 1;
    arch.in_channels = 1;
    bagnet::Graph& g = arch.graph;
    const int x = g.convolution(bagnet::Graph::input, bagnet::ConvSpec{"conv1", 1, 2, 1, 1, 0, false});
    g.linear(g.spatial_mean(g.relu(g.batch_norm(x, bagnet::BatchNormSpec{"bn1", 2}))),
             bagnet::LinearSpec{"fc", 2, 3});
    return arch;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const bagnet::Architecture arch = tiny_architecture();
    bagnet::fuzzing::expect_result_or_error([&] {
        const bagnet::io::SafetensorsView file(data, size, "fuzz.ckpt");
        bagnet::Parameters params;
        bagnet::train::Sgd optimizer;
        (void)bagnet::train::load_checkpoint(file, arch, params, optimizer);
    });
    return 0;
}
