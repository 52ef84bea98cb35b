# Writes OUT with the git commit of SRC and whether its checkout has uncommitted changes. Run at
# every build (app/CMakeLists.txt); OUT changes, and build_info.cpp recompiles, only when they do.
# Outside a git checkout (a release tarball) the commit is "unknown".
execute_process(COMMAND git -C "${SRC}" rev-parse HEAD OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc ERROR_QUIET)
set(dirty false)
if(NOT rc EQUAL 0)
  set(commit "unknown")
else()
  execute_process(COMMAND git -C "${SRC}" status --porcelain --untracked-files=no OUTPUT_VARIABLE st ERROR_QUIET)
  if(NOT st STREQUAL "")
    set(dirty true)
  endif()
endif()
file(WRITE "${OUT}.tmp" "#pragma once\n#define BWSIM_GIT_COMMIT \"${commit}\"\n#define BWSIM_GIT_DIRTY ${dirty}\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
