# Settings for the project's own programs (tests, examples, benchmarks, the command line).
# They live on a private INTERFACE target instead of on `bagnet` so that warnings and sanitizers
# never leak into the builds of people who link bagnet::bagnet.

# bagnet_warnings carries the warnings alone, for the one target that must not be sanitized
# (the Python module, examples/python/module/CMakeLists.txt says why).
add_library(bagnet_warnings INTERFACE)
if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(bagnet_warnings INTERFACE
        $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra $<$<BOOL:${BAGNET_WERROR}>:-Werror>>)
    # Every switch over a layer kind or tensor slot lists each one, so a kind added to the
    # graph fails to compile wherever it is not yet handled (docs/architecture.md).
    target_compile_options(bagnet_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror=switch>)
endif()
add_library(bagnet_project_options INTERFACE)
target_link_libraries(bagnet_project_options INTERFACE bagnet_warnings)
if(BAGNET_SANITIZE)
    set(sanitizer_flags -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    target_compile_options(bagnet_project_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:${sanitizer_flags}>)
    target_link_options(bagnet_project_options INTERFACE ${sanitizer_flags})
    # GCC's flow analysis sees through the sanitizer instrumentation badly and reports
    # -Wmaybe-uninitialized inside libstdc++ (<regex>, std::function); the unsanitized builds keep it.
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
        target_compile_options(bagnet_project_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
    endif()
endif()

# bagnet_add_program(<target> <source>...): an executable of the project, linked to the library and
# its compiled part, so that a change to one library header rebuilds the instantiation sources that
# use it and not every program (bagnet/instances.hpp).
function(bagnet_add_program target)
    add_executable(${target} ${ARGN})
    target_link_libraries(${target} PRIVATE bagnet::compiled bagnet_project_options)
endfunction()

# bagnet_add_program_per_source(<glob>): one program per matching .cpp, named after the file.
# CONFIGURE_DEPENDS makes a new file join the build without re-running cmake by hand.
function(bagnet_add_program_per_source pattern)
    file(GLOB sources CONFIGURE_DEPENDS ${pattern})
    foreach(source IN LISTS sources)
        get_filename_component(name ${source} NAME_WE)
        bagnet_add_program(${name} ${source})
    endforeach()
endfunction()
