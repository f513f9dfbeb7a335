# `cmake --install build --prefix P` lays out a package that another project uses with
#   find_package(bagnet CONFIG REQUIRED)  and  target_link_libraries(app PRIVATE bagnet::bagnet)
include(CMakePackageConfigHelpers)

set(BAGNET_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/bagnet)

# The whole include tree, data headers (class names etc.) included.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

file(GLOB converter CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tools/convert_checkpoint.py)
if(converter)
    install(PROGRAMS ${converter} DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()

set_target_properties(bagnet PROPERTIES EXPORT_NAME bagnet)
set_target_properties(bagnet_core PROPERTIES EXPORT_NAME core)
set_target_properties(bagnet_compiled PROPERTIES EXPORT_NAME compiled)
set(bagnet_targets bagnet bagnet_core bagnet_compiled)
if(BAGNET_WITH_CUDA)
    set_target_properties(bagnet_cuda PROPERTIES EXPORT_NAME cuda)
    list(APPEND bagnet_targets bagnet_cuda)
endif()
if(BAGNET_WITH_MPI)
    set_target_properties(bagnet_mpi PROPERTIES EXPORT_NAME mpi)
    list(APPEND bagnet_targets bagnet_mpi)
endif()
install(TARGETS ${bagnet_targets} EXPORT bagnetTargets)
install(EXPORT bagnetTargets NAMESPACE bagnet:: DESTINATION ${BAGNET_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/bagnetConfig.cmake.in
    ${PROJECT_BINARY_DIR}/bagnetConfig.cmake
    INSTALL_DESTINATION ${BAGNET_INSTALL_CMAKEDIR})
# 0.x releases promise nothing across minor versions.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/bagnetConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/bagnetConfig.cmake
    ${PROJECT_BINARY_DIR}/bagnetConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/FindCUDNN.cmake
    DESTINATION ${BAGNET_INSTALL_CMAKEDIR})
