#pragma once
// Member detection for the compile-time backend contracts (layers/contract.hpp,
// backend/contract.hpp): a trait saying whether a type's member can be called
// with given arguments, so a backend missing one fails with a message naming it.
#include <type_traits>

namespace bagnet::detect {
template <class T>
T& a();  // an lvalue of T, for unevaluated expressions (declared only, as std::declval)
}  // namespace bagnet::detect

// Defines trait<T>: true when a<T>().member(arguments...) compiles. The arguments
// may name T (the type tested) and use a<X>() for a value of type X.
#define BAGNET_DETECT_CALL(trait, member, ...)                                                         \
    template <class T, class = void>                                                                   \
    struct trait : std::false_type {};                                                                 \
    template <class T>                                                                                 \
    struct trait<T, std::void_t<decltype(::bagnet::detect::a<T>().member(__VA_ARGS__))>> : std::true_type {};
