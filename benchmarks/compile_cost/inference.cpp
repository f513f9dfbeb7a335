// A consumer translation unit that only runs a model: BagNet-33's logits of a batch.
// benchmarks/compile_cost.py compiles it header-only and against bagnet::compiled.
#include <bagnet/bagnet.hpp>

#include <iostream>

int main() {
    bagnet::BagNet<33> model;  // random weights: nothing to load
    bagnet::Tensor4 batch = xt::zeros<float>({std::size_t(1), std::size_t(3), std::size_t(224), std::size_t(224)});
    const bagnet::Tensor2 scores = bagnet::logits(model, batch);
    std::cout << "top class " << bagnet::top_classes(scores, 0, 1).front() << "\n";
}
