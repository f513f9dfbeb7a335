# cmake -P script behind the `consumer_project` test: installs the bagnet build tree BAGNET_BUILD_DIR
# (configuration BAGNET_CONFIG) into WORK_DIR/prefix, then configures, builds and runs the project in
# CONSUMER_SOURCE_DIR against that prefix alone, with CONSUMER_GENERATOR and CONSUMER_CXX_COMPILER:
# once header-only and once linking bagnet::compiled. CONSUMER_LINK_FLAGS are what the installed
# compiled part needs beyond the package (the sanitizer runtimes, where the build is sanitized).

function(run_step description)
    execute_process(COMMAND ${ARGN} RESULT_VARIABLE result)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "consumer project: ${description} failed (${result})")
    endif()
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})

run_step("installing ${BAGNET_BUILD_DIR}"
    ${CMAKE_COMMAND} --install ${BAGNET_BUILD_DIR} --prefix ${prefix} --config ${BAGNET_CONFIG})
foreach(compiled IN ITEMS OFF ON)
    set(build ${WORK_DIR}/build-compiled-${compiled})
    run_step("configuring ${CONSUMER_SOURCE_DIR} (compiled part: ${compiled})"
        ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${build} -G ${CONSUMER_GENERATOR}
            -DCMAKE_BUILD_TYPE=Release
            -DCMAKE_CXX_COMPILER=${CONSUMER_CXX_COMPILER}
            -DCMAKE_PREFIX_PATH=${prefix}
            -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
            -DCONSUMER_LINKS_COMPILED=${compiled}
            "-DCMAKE_EXE_LINKER_FLAGS=${CONSUMER_LINK_FLAGS}")
    run_step("building the consumer (compiled part: ${compiled})" ${CMAKE_COMMAND} --build ${build} --config Release)
    run_step("running the consumer (compiled part: ${compiled})" ${build}/bagnet_consumer)
endforeach()
