# `make install` (cmake --install BUILD [--prefix PREFIX], DESTDIR honoured): the binary in
# PREFIX/bin, the systemd unit in PREFIX/lib/systemd/system with ExecStart naming that binary, and
# the example configuration as /etc/modelgate/modelgate.yml unless one is there already (an
# installed configuration is the operator's; an upgrade must not overwrite it).
include(GNUInstallDirs)
install(TARGETS modelgate RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(CODE "set(MODELGATE_UNIT \"${CMAKE_CURRENT_SOURCE_DIR}/deploy/systemd/modelgate.service\")
set(MODELGATE_EXAMPLE_CONFIG \"${CMAKE_CURRENT_SOURCE_DIR}/deploy/modelgate.yml\")
set(MODELGATE_STAGING \"${CMAKE_CURRENT_BINARY_DIR}/install-staging\")
set(MODELGATE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")")
install(CODE [[
  file(READ "${MODELGATE_UNIT}" unit)
  string(REPLACE "/usr/bin/modelgate" "${CMAKE_INSTALL_PREFIX}/${MODELGATE_BINDIR}/modelgate" unit "${unit}")
  file(WRITE "${MODELGATE_STAGING}/modelgate.service" "${unit}")
  file(INSTALL DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" TYPE FILE
       FILES "${MODELGATE_STAGING}/modelgate.service")
  if(EXISTS "$ENV{DESTDIR}/etc/modelgate/modelgate.yml")
    message(STATUS "Kept: $ENV{DESTDIR}/etc/modelgate/modelgate.yml (the example is ${MODELGATE_EXAMPLE_CONFIG})")
  else()
    file(INSTALL DESTINATION "/etc/modelgate" TYPE FILE FILES "${MODELGATE_EXAMPLE_CONFIG}"
         RENAME modelgate.yml)
  endif()
]])
