// Must not compile: no ImageNet BagNet has a 13 x 13 receptive field. The test
// checks that the compiler says so in words (tests/CMakeLists.txt).
#include <bagnet/bagnet.hpp>

int main() {
    bagnet::BagNet<13> model;
    return model.architecture().patch_size;
}
