# Fails when a registered ctest entry stands for more than one Catch test case
# or for none. catch_discover_tests() stores the names as a CMake list: a name
# with ';' or an unbalanced '[' swallows its neighbours into one entry, which
# Catch then runs as "No test cases matched" — and passes. Seen twice.
#   cmake -DCTEST=... -DBUILD_DIR=... -P check_test_names.cmake
execute_process(COMMAND ${CTEST} -N WORKING_DIRECTORY ${BUILD_DIR}
                OUTPUT_VARIABLE listing RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ctest -N failed in ${BUILD_DIR} (${rc})")
endif()
string(REPLACE "\n" "|" lines "${listing}")
string(REGEX MATCHALL "Test +#[0-9]+: [^|]*;[^|]*" merged "${lines}")
list(LENGTH merged count)
if(count GREATER 0)
  foreach(m IN LISTS merged)
    message(SEND_ERROR "several test cases in one ctest entry (a ';' or an unbalanced '[' in a test name): ${m}")
  endforeach()
  message(FATAL_ERROR "${count} merged ctest entries")
endif()
string(REGEX MATCHALL "Test +#[0-9]+:" all "${lines}")
list(LENGTH all total)
message(STATUS "${total} ctest entries, each one test")
