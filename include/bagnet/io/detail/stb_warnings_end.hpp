// Closes the diagnostic scope opened by stb_warnings_begin.hpp.
#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
