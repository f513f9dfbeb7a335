# Finds cuDNN, which NVIDIA ships either inside the CUDA toolkit tree or under /usr (Debian/Ubuntu
# packages), and defines the imported target CUDNN::cudnn.
#   CUDNN_ROOT (variable or environment) may point at a separate cuDNN install.
# Sets CUDNN_FOUND, CUDNN_VERSION, CUDNN_INCLUDE_DIR, CUDNN_LIBRARY.

set(cudnn_hints ${CUDNN_ROOT} $ENV{CUDNN_ROOT})
if(CUDAToolkit_LIBRARY_ROOT)
    list(APPEND cudnn_hints ${CUDAToolkit_LIBRARY_ROOT})
endif()
if(CUDAToolkit_INCLUDE_DIRS)
    list(APPEND cudnn_hints ${CUDAToolkit_INCLUDE_DIRS})
endif()
if(CUDAToolkit_LIBRARY_DIR)
    list(APPEND cudnn_hints ${CUDAToolkit_LIBRARY_DIR})
endif()
list(APPEND cudnn_hints /usr/local/cuda)

find_path(CUDNN_INCLUDE_DIR cudnn.h HINTS ${cudnn_hints} PATH_SUFFIXES include)
find_library(CUDNN_LIBRARY cudnn HINTS ${cudnn_hints} PATH_SUFFIXES lib lib64 lib/x86_64-linux-gnu)

# cuDNN 8+ keeps the version in cudnn_version.h, older releases in cudnn.h.
foreach(header cudnn_version.h cudnn.h)
    if(CUDNN_INCLUDE_DIR AND EXISTS ${CUDNN_INCLUDE_DIR}/${header} AND NOT CUDNN_VERSION)
        file(STRINGS ${CUDNN_INCLUDE_DIR}/${header} version_lines
             REGEX "^#define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +[0-9]+")
        if(version_lines)
            string(REGEX REPLACE ".*CUDNN_MAJOR +([0-9]+).*" "\\1" major "${version_lines}")
            string(REGEX REPLACE ".*CUDNN_MINOR +([0-9]+).*" "\\1" minor "${version_lines}")
            string(REGEX REPLACE ".*CUDNN_PATCHLEVEL +([0-9]+).*" "\\1" patch "${version_lines}")
            set(CUDNN_VERSION ${major}.${minor}.${patch})
        endif()
    endif()
endforeach()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(CUDNN
    REQUIRED_VARS CUDNN_LIBRARY CUDNN_INCLUDE_DIR
    VERSION_VAR CUDNN_VERSION)

if(CUDNN_FOUND AND NOT TARGET CUDNN::cudnn)
    add_library(CUDNN::cudnn UNKNOWN IMPORTED)
    set_target_properties(CUDNN::cudnn PROPERTIES
        IMPORTED_LOCATION ${CUDNN_LIBRARY}
        INTERFACE_INCLUDE_DIRECTORIES ${CUDNN_INCLUDE_DIR})
endif()
mark_as_advanced(CUDNN_INCLUDE_DIR CUDNN_LIBRARY)
