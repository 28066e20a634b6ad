# ctest entry `test_install`: installs this build into a temporary prefix, then builds and runs
# a small program against it using nothing but `pkg-config --cflags --libs doclayout`.
# Sanitizer builds pass their flags on, since the installed library then needs their runtime.
# Cross builds pass the sysroot to the compiler and run the programs under the emulator.
set(DL_INSTALL_TEST_FLAGS "")
set(DL_INSTALL_TEST_RUNNER "")
if(DL_SANITIZE OR DL_FUZZ)
  set(DL_INSTALL_TEST_FLAGS "-fsanitize=address,undefined")
endif()
if(CMAKE_CROSSCOMPILING)
  if(CMAKE_SYSROOT)
    string(APPEND DL_INSTALL_TEST_FLAGS " --sysroot=${CMAKE_SYSROOT} ${CMAKE_EXE_LINKER_FLAGS_INIT}")
  endif()
  if(CMAKE_CROSSCOMPILING_EMULATOR)
    list(JOIN CMAKE_CROSSCOMPILING_EMULATOR " " DL_INSTALL_TEST_RUNNER)
  endif()
endif()
add_test(NAME test_install
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/tests/test_install.sh ${CMAKE_BINARY_DIR}
                 ${CMAKE_CURRENT_SOURCE_DIR} ${CMAKE_C_COMPILER} "${DL_INSTALL_TEST_FLAGS}"
                 "${DL_INSTALL_TEST_RUNNER}")
set_tests_properties(test_install PROPERTIES SKIP_RETURN_CODE 77 TIMEOUT 300)
