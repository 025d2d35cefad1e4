# Runs one libFuzzer binary for $ENV{FEDGE_FUZZ_SECONDS} seconds (default 20)
# from its seed corpus; fails the test on any crash, sanitizer report, leak,
# input slower than 10 s or allocation over 1 GiB.
#   cmake -DFUZZER=bin -DSEEDS=dir -DCORPUS=dir -DCRASHES=dir -P run_fuzzer.cmake
# New inputs go to CORPUS (kept between runs, read first next time); a failing
# input is written to CRASHES/ and can be replayed with `FUZZER CRASHES/crash-...`.
set(seconds 20)
if(DEFINED ENV{FEDGE_FUZZ_SECONDS} AND NOT "$ENV{FEDGE_FUZZ_SECONDS}" STREQUAL "")
  set(seconds $ENV{FEDGE_FUZZ_SECONDS})
endif()
file(MAKE_DIRECTORY ${CORPUS} ${CRASHES})
message(STATUS "fuzz: ${FUZZER} for ${seconds} s")
execute_process(
  COMMAND ${FUZZER} -max_total_time=${seconds} -timeout=10 -rss_limit_mb=2048
          -malloc_limit_mb=1024 -max_len=4096 -print_final_stats=1
          -artifact_prefix=${CRASHES}/ ${CORPUS} ${SEEDS}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "fuzz: ${FUZZER} failed (${rc}); the input is in ${CRASHES}/")
endif()
