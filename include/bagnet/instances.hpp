#pragma once
// The optional compiled part (CMake target bagnet::compiled), as fmt's and spdlog's: the
// headers stay complete and header-only use needs nothing else, but a program that links
// bagnet::compiled (which defines BAGNET_COMPILED=1 for it) finds the heavy templates for the
// `cpu` and `reference` backends already instantiated there, and each of its translation
// units compiles only its own code.
//
// A header that has such templates lists their signatures once, in a macro taking a prefix and
// a backend, and declares them with BAGNET_EXTERN_INSTANCES(ITS_LIST):
//
//   #define BAGNET_INFERENCE_INSTANCES(prefix, Backend)
//       prefix Tensor2 logits<Backend>(const Model<Backend>&, const ImagesView&); ...
//   BAGNET_EXTERN_INSTANCES(BAGNET_INFERENCE_INSTANCES)
//
// and one source of bagnet::compiled (include/bagnet/compiled/) defines them with
// `BAGNET_INFERENCE_INSTANCES(template, cpu)`.
//
// Non-template functions that pull a heavy library into every caller (oneDNN, Eigen) are
// declared in their header and defined in an `_impl.hpp` beside it with BAGNET_INLINE: inline
// when header-only (the header includes its _impl.hpp), compiled once into bagnet::compiled
// otherwise, so that a consumer of the compiled part never parses oneDNN or Eigen for them.

#ifndef BAGNET_COMPILED
#define BAGNET_COMPILED 0
#endif

#if BAGNET_COMPILED
#define BAGNET_INLINE
#define BAGNET_EXTERN_INSTANCES(list) list(extern template, cpu) list(extern template, reference)
#else
#define BAGNET_INLINE inline
#define BAGNET_EXTERN_INSTANCES(list)
#endif
