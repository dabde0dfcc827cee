# Project-wide warnings: applied to our own targets only (not to third-party headers).
add_library(ecsdb_warnings INTERFACE)
target_compile_options(ecsdb_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Werror=unused-result -Werror=return-type)
install(TARGETS ecsdb_warnings EXPORT ECSDbTargets)
