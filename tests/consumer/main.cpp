// Compiles and links against an installed bagnet, so a header or dependency missing from the
// package shows up here and not on a user's machine.
// TODO(lead): include <bagnet/bagnet.hpp> once the umbrella header exists, and touch one model type.
#include <bagnet/error.hpp>
#include <bagnet/tensor.hpp>

#include <iostream>

int main() {
    bagnet::Tensor4 batch = bagnet::Tensor4::from_shape({2, 3, 33, 33});
    try {
        bagnet::require(batch.shape()[1] == 1,
                        "expected one channel, got " + bagnet::shape_string(batch.shape()));
    } catch (const bagnet::Error& error) {
        std::cout << "bagnet consumer ok: " << error.what() << '\n';
        return 0;
    }
    std::cerr << "bagnet::require did not throw\n";
    return 1;
}
