# The CUDA backend compiles wherever nvcc exists (CI included) and runs only where a GPU is present.
# Architectures: -DCMAKE_CUDA_ARCHITECTURES=90 (the default, Hopper), e.g. "80;89;90" for several;
# QUANTLAB_CUDA_ARCHITECTURES is read too (the same list) so a preset need not know CMake's name.
if(QUANTLAB_CUDA)
  include(CheckLanguage)
  check_language(CUDA)
  file(GLOB_RECURSE QUANTLAB_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/backend/cuda/*.cu)
  if(CMAKE_CUDA_COMPILER AND QUANTLAB_CUDA_SOURCES)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      if(DEFINED QUANTLAB_CUDA_ARCHITECTURES)
        set(CMAKE_CUDA_ARCHITECTURES ${QUANTLAB_CUDA_ARCHITECTURES})
      else()
        set(CMAKE_CUDA_ARCHITECTURES 90)
      endif()
    endif()
    enable_language(CUDA)
    # CMake 3.25 does not know nvcc 13's flag for C++20 (targets ask for it through CXX_STANDARD 20).
    set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
    set(CMAKE_CUDA_STANDARD 20)
    find_package(CUDAToolkit REQUIRED)
    # Objects folded into quantlab_lib: the backend uses the library (formats, errors) and the
    # library's device dispatch uses the backend, so one archive holds both.
    add_library(quantlab_cuda OBJECT ${QUANTLAB_CUDA_SOURCES})
    # The directory's C++ flags (-Wall, -march=native, ...) are host-compiler flags nvcc does not take.
    set_property(TARGET quantlab_cuda PROPERTY COMPILE_OPTIONS "")
    target_compile_options(quantlab_cuda PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra --expt-relaxed-constexpr>)
    if(QUANTLAB_WERROR)
      target_compile_options(quantlab_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Werror>)
    endif()
    target_include_directories(quantlab_cuda PRIVATE ${CMAKE_SOURCE_DIR}/include ${CMAKE_SOURCE_DIR})
    # The runtime is linked statically (it opens the driver itself, at the first CUDA call) and cuBLAS
    # is opened with dlopen by the backend (src/backend/cuda/cublas_library.hpp): a CPU-only run loads
    # no CUDA library, and the binary starts where none is installed.
    target_include_directories(quantlab_cuda PRIVATE ${CUDAToolkit_INCLUDE_DIRS})
    target_sources(quantlab_lib PRIVATE $<TARGET_OBJECTS:quantlab_cuda>)
    # quantlab_lib was made before the architectures were known; its CUDA objects need them too.
    set_property(TARGET quantlab_lib PROPERTY CUDA_ARCHITECTURES ${CMAKE_CUDA_ARCHITECTURES})
    target_link_libraries(quantlab_lib PUBLIC CUDA::cudart_static ${CMAKE_DL_LIBS})
    target_compile_definitions(quantlab_lib PUBLIC QUANTLAB_HAVE_CUDA=1)
  endif()
endif()
