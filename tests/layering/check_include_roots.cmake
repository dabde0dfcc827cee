# Builds each layering case and checks its outcome (tests/layering/CMakeLists.txt).
#   cmake -DBUILD_DIR=build -DCASES=target:expect:header,... -P check_include_roots.cmake
# expect is "compiles" or "fails"; a case that fails must fail because `header` is not found, not for any
# other reason (a broken header would otherwise pass for a layering check).
string(REPLACE "," ";" cases "${CASES}")
set(wrong 0)
foreach(case IN LISTS cases)
  string(REPLACE ":" ";" parts "${case}")
  list(GET parts 0 target)
  list(GET parts 1 expect)
  list(GET parts 2 header)
  execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${target}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  string(REPLACE "." "\\." header_re "${header}")
  # g++: "fatal error: persist/wal_format.hpp: No such file or directory"; clang: "'...' file not found".
  if(out MATCHES "${header_re}: No such file or directory" OR out MATCHES "'${header_re}' file not found")
    set(not_found TRUE)
  else()
    set(not_found FALSE)
  endif()
  if(expect STREQUAL "compiles" AND rc EQUAL 0)
    message(STATUS "ok: ${target} compiles")
  elseif(expect STREQUAL "fails" AND NOT rc EQUAL 0 AND not_found)
    message(STATUS "ok: ${target} fails to compile: ${header} is not on its include path")
  else()
    message(STATUS "WRONG: ${target}: expected \"${expect}\", got exit status ${rc}:\n${out}")
    math(EXPR wrong "${wrong} + 1")
  endif()
endforeach()
if(wrong GREATER 0)
  message(FATAL_ERROR "${wrong} layering case(s) did not behave as expected")
endif()
