// Every primitive of every kind of plan the cpu backend makes runs a JIT kernel of
// oneDNN, never its `ref` fallback, on this CPU. ctest runs these cases again with
// ONEDNN_MAX_CPU_ISA capped (AVX2, AVX512_CORE), so a machine with AVX-512 also
// checks the paths an AVX2-only user gets.
#include <catch2/catch.hpp>

#include <string>

#include "bagnet/backend/cpu/inference_plan.hpp"
#include "bagnet/backend/cpu/kernel_log.hpp"
#include "bagnet/backend/cpu/training.hpp"
#include "bagnet/bagnet.hpp"
#include "bagnet/explain/dense_evaluation.hpp"
#include "bagnet/train/backprop.hpp"
#include "random_tensors.hpp"
#include "train_test_support.hpp"

using namespace bagnet;

namespace {

// Fails naming each primitive that runs on a reference implementation.
void require_no_reference_kernels() {
    const auto choices = backend::cpu::KernelLog::get().choices();
    REQUIRE(!choices.empty());
    for (const auto& k : choices) {
        INFO(k.primitive << " (" << k.shapes << ") runs oneDNN's " << k.implementation << " on "
                         << (std::getenv("ONEDNN_MAX_CPU_ISA") ? std::getenv("ONEDNN_MAX_CPU_ISA") : "this CPU's ISA"));
        CHECK(!k.is_reference());
    }
}

void build_inference_plans(const Architecture& arch, const Parameters& params, int n, int h, int w) {
    for (Output output : {Output::logits, Output::logit_map}) {
        backend::cpu::InferencePlan(arch, params, {n, arch.in_channels, h, w}, Precision::fp32, output);
        if (backend::cpu::cpu_has_bf16())
            backend::cpu::InferencePlan(arch, params, {n, arch.in_channels, h, w}, Precision::bf16, output);
    }
}

void train_one_step(const Architecture& arch, const Parameters& params, std::size_t n, std::size_t size) {
    auto& ops = train::training_ops<cpu>();
    const Tensor4 x = testing::random_input(n, std::size_t(arch.in_channels), size, size, 5);
    for (train::Mode mode : {train::Mode::training, train::Mode::evaluation}) {
        const auto tape = train::forward(ops, arch.graph, params, x, mode);
        const Tensor4 grad = xt::ones_like(tape.output());
        train::backward(ops, arch.graph, params, tape, grad, {true, true, {}});
    }
}

}  // namespace

TEST_CASE("inference plans of the BagNets use no reference kernel: batch 1 and 8, square and odd sizes",
          "[kernels]") {
    backend::cpu::KernelLog::get().clear();
    for (const std::string name : {"bagnet9", "bagnet17", "bagnet33"}) {
        const Architecture arch = imagenet_architecture(name);
        const Parameters params = testing::random_parameters(arch.graph, 1);
        build_inference_plans(arch, params, 1, 224, 224);
        build_inference_plans(arch, params, 8, 224, 224);
        build_inference_plans(arch, params, 2, 249, 193);
    }
    for (const std::string name : {"fashion9", "fashionfine9"}) {
        const Architecture arch = architecture_by_name(name);
        const Parameters params = testing::random_parameters(arch.graph, 1);
        build_inference_plans(arch, params, 64, 28, 28);
        build_inference_plans(arch, params, 1, 31, 29);
    }
    require_no_reference_kernels();
}

TEST_CASE("the dense heatmap's plans use no reference kernel", "[kernels]") {
    backend::cpu::KernelLog::get().clear();
    for (const std::string name : {"bagnet9", "bagnet33"}) {
        const Architecture arch = imagenet_architecture(name);
        const Parameters params = testing::random_parameters(arch.graph, 1);
        const DenseEvaluation dense(arch, params, {1, 5});
        backend::cpu::InferencePlan(dense.architecture(), dense.parameters(), {1, 3, 224 + arch.patch_size - 1, 64},
                              Precision::fp32, Output::logit_map);
    }
    const Architecture fashion = architecture_by_name("fashionfine9");
    const DenseEvaluation dense(fashion, testing::random_parameters(fashion.graph, 1), {0, 3});
    backend::cpu::InferencePlan(dense.architecture(), dense.parameters(), {4, 1, 36, 36}, Precision::fp32, Output::logit_map);
    require_no_reference_kernels();
}

TEST_CASE("ResNet-50's inference plans (padding, max-pool) use no reference kernel", "[kernels][resnet]") {
    backend::cpu::KernelLog::get().clear();
    const Architecture arch = resnet50_architecture();
    const Parameters params = testing::random_parameters(arch.graph, 1);
    build_inference_plans(arch, params, 1, 224, 224);
    build_inference_plans(arch, params, 8, 224, 224);
    build_inference_plans(arch, params, 1, 161, 193);
    require_no_reference_kernels();
}

TEST_CASE("training forward and backward of a BagNet and ResNet-50 use no reference kernel", "[kernels][train]") {
    backend::cpu::KernelLog::get().clear();
    const Architecture bagnet33 = imagenet_architecture("bagnet33", 10);
    train_one_step(bagnet33, testing::random_parameters(bagnet33.graph, 1), 2, 48);
    const Architecture fashion = architecture_by_name("fashion9");
    train_one_step(fashion, testing::random_parameters(fashion.graph, 1), 16, 28);
    const Architecture resnet = resnet50_architecture(10);
    train_one_step(resnet, testing::random_parameters(resnet.graph, 1), 2, 64);
    require_no_reference_kernels();
}
