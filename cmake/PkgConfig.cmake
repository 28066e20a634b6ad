# doclayout.pc, written at install time so that `cmake --install build --prefix DIR` (and
# DESTDIR) give a file whose paths point at where the library actually went, not at the
# prefix that was current when the tree was configured. Relative GNUInstallDirs paths are
# written as ${prefix}/..., absolute ones as they are.
foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(DL_PC_${kind} "${CMAKE_INSTALL_${kind}}")
    set(DL_PC_${kind}_DEST "${CMAKE_INSTALL_${kind}}")
  else()
    set(DL_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
    set(DL_PC_${kind}_DEST "\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()

install(CODE "
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(DL_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  set(DL_PC_LIBDIR [[${DL_PC_LIBDIR}]])
  set(DL_PC_INCLUDEDIR [[${DL_PC_INCLUDEDIR}]])
  configure_file([[${CMAKE_CURRENT_LIST_DIR}/doclayout.pc.in]]
                 [[${CMAKE_BINARY_DIR}/doclayout.pc]] @ONLY)
  file(INSTALL DESTINATION \"${DL_PC_LIBDIR_DEST}/pkgconfig\" TYPE FILE
       FILES [[${CMAKE_BINARY_DIR}/doclayout.pc]])
")
