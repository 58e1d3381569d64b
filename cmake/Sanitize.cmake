# The ASan+UBSan build of the unit tests (scripts/test-sanitize.sh, run by
# `make test`): TESSERA_SANITIZE=ON instruments every project source, and
# the target `sanitize_unit_tests` builds the unit tests of the code that reads
# untrusted input or does the planner's arithmetic and needs neither CAF's
# runtime, Beast nor ONNX (translation units with those cost minutes each under
# the sanitizers; the ordinary build and the integration tests cover them),
# and the fuzz replays of the same code. The executables' paths are written to
# sanitize_unit_tests.txt in the build directory for the script.
option(TESSERA_SANITIZE "Instrument everything with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)

if(TESSERA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all)
  add_link_options(-fsanitize=address,undefined)
endif()

# Called after the tests are defined.
function(tessera_sanitize_targets)
  if(NOT TESSERA_SANITIZE)
    return()
  endif()
  set(candidates
    tessera_planner_tests tessera_cli_tests
    sha256_test model_stats_test tokenizer_bytes_test tokenizer_chat_test tokenizer_hf_test
    actors_config_test actors_rebuild_plan_test actors_client_protocol_test actors_openai_protocol_test
    actors_request_session_test actors_liveness_test actors_spot_check_test actors_load_probe_test
    fuzz_regressions_test)
  set(unit_tests)
  set(listing "")
  foreach(t IN LISTS candidates)
    if(TARGET ${t})
      list(APPEND unit_tests ${t})
      string(APPEND listing "$<TARGET_FILE:${t}>\n")
    endif()
  endforeach()
  # The replays of tests/fuzz take arguments: the script runs them through ctest (label sanitize).
  get_property(replays GLOBAL PROPERTY TESSERA_SANITIZE_REPLAYS)
  add_custom_target(sanitize_unit_tests DEPENDS ${unit_tests} ${replays})
  file(GENERATE OUTPUT ${PROJECT_BINARY_DIR}/sanitize_unit_tests.txt CONTENT "${listing}")
endfunction()
