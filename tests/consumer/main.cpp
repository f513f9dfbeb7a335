// Compiles and links against an installed bagnet, so a header or dependency missing from the
// package shows up here and not on a user's machine: runs a small BagNet end to end.
#include <bagnet/bagnet.hpp>

#include <iostream>

int main() {
    bagnet::BagNet<9, bagnet::small<10, 1>> model;  // random weights
    bagnet::Tensor4 batch = xt::zeros<float>({std::size_t(2), std::size_t(1), std::size_t(28), std::size_t(28)});
    const auto logits = bagnet::logits(model, batch);
    if (logits.shape()[0] != 2 || logits.shape()[1] != 10) {
        std::cerr << "unexpected logits shape " << bagnet::shape_string(logits.shape()) << "\n";
        return 1;
    }
    std::cout << "bagnet consumer ok: logits " << bagnet::shape_string(logits.shape()) << "\n";
    return 0;
}
