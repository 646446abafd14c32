# The libFuzzer targets of fuzz/ (docs/fuzzing.md), built with clang++ as a project of their own
# in <build>/fuzz, since the main build uses g++ and libFuzzer is clang's. Each target then runs
# for FUZZ_TEST_SECONDS under ctest (label "fuzz"), with AddressSanitizer and UBSan; `make fuzz`
# runs them longer. Without clang++ and its fuzzer runtime (Debian: clang, libclang-rt-14-dev)
# the targets are left out with a message, and the rest of the build is unchanged.
option(MODELGATE_FUZZ "build the libFuzzer targets (needs clang++) and run each briefly in ctest" ON)
set(FUZZ_TEST_SECONDS 5 CACHE STRING "seconds each fuzz target runs under ctest")

if(NOT MODELGATE_FUZZ)
  return()
endif()
find_program(MODELGATE_CLANGXX NAMES clang++ clang++-14)
if(MODELGATE_CLANGXX)
  execute_process(COMMAND ${MODELGATE_CLANGXX} -print-resource-dir
                  OUTPUT_VARIABLE clang_resource_dir OUTPUT_STRIP_TRAILING_WHITESPACE)
  file(GLOB fuzzer_runtime "${clang_resource_dir}/lib/linux/libclang_rt.fuzzer-*.a")
endif()
if(NOT MODELGATE_CLANGXX OR NOT fuzzer_runtime)
  message(STATUS "fuzz targets left out: no clang++ with libFuzzer (apt-get install clang libclang-rt-14-dev)")
  return()
endif()

include(ExternalProject)
set(MODELGATE_FUZZ_DIR ${CMAKE_CURRENT_BINARY_DIR}/fuzz)
ExternalProject_Add(fuzz_targets
  SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}/fuzz
  BINARY_DIR ${MODELGATE_FUZZ_DIR}
  CMAKE_ARGS -DCMAKE_CXX_COMPILER=${MODELGATE_CLANGXX} -DCMAKE_BUILD_TYPE=RelWithDebInfo
             -DCMAKE_CXX_COMPILER_LAUNCHER=${CMAKE_CXX_COMPILER_LAUNCHER}
  INSTALL_COMMAND ""
  BUILD_ALWAYS ON)  # its own build decides what is out of date

include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/targets.cmake)
foreach(name ${MODELGATE_FUZZ_TARGETS})
  add_test(NAME fuzz_${name}
           COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh ${MODELGATE_FUZZ_DIR} ${FUZZ_TEST_SECONDS} ${name})
  set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 120)
endforeach()
