# Locates the VTM-23.13 source tree, copies it into the build directory and applies vtm_patches/ in order.
#
# Order of sources (first that exists wins):
#   1. PMP_VTM_SOURCE_DIR (CMake variable or environment variable)
#   2. the per-user cache: $XDG_CACHE_HOME/pmp-vvc/VTM-23.13 (default ~/.cache/pmp-vvc/VTM-23.13)
#   3. a git clone of the official repository at the pinned commit (needs network)
# The user's tree is never modified: the patched copy lives in ${CMAKE_BINARY_DIR}/vtm-src.

include_guard(GLOBAL)

set(PMP_VTM_TAG "VTM-23.13")
set(PMP_VTM_COMMIT "5be52e4386c2086168158d8bed02cecaa55d801c")
set(PMP_VTM_GIT_URL "https://vcgit.hhi.fraunhofer.de/jvet/VVCSoftware_VTM.git")

function(_pmp_vtm_cache_dir out)
  if(DEFINED ENV{XDG_CACHE_HOME} AND NOT "$ENV{XDG_CACHE_HOME}" STREQUAL "")
    set(${out} "$ENV{XDG_CACHE_HOME}/pmp-vvc/${PMP_VTM_TAG}" PARENT_SCOPE)
  else()
    set(${out} "$ENV{HOME}/.cache/pmp-vvc/${PMP_VTM_TAG}" PARENT_SCOPE)
  endif()
endfunction()

function(_pmp_vtm_is_tree dir out)
  if(EXISTS "${dir}/source/Lib/EncoderLib/EncCu.cpp" AND EXISTS "${dir}/cfg/encoder_intra_vtm.cfg")
    set(${out} TRUE PARENT_SCOPE)
  else()
    set(${out} FALSE PARENT_SCOPE)
  endif()
endfunction()

# Sets PMP_VTM_ORIGIN (where the pristine tree is) in the caller's scope.
function(pmp_find_vtm_source)
  _pmp_vtm_cache_dir(cache_dir)
  if(NOT PMP_VTM_SOURCE_DIR AND DEFINED ENV{PMP_VTM_SOURCE_DIR})
    set(PMP_VTM_SOURCE_DIR "$ENV{PMP_VTM_SOURCE_DIR}")
  endif()
  if(PMP_VTM_SOURCE_DIR)
    _pmp_vtm_is_tree("${PMP_VTM_SOURCE_DIR}" ok)
    if(NOT ok)
      message(FATAL_ERROR "PMP_VTM_SOURCE_DIR=${PMP_VTM_SOURCE_DIR} is not a VTM source tree "
                          "(no source/Lib/EncoderLib/EncCu.cpp or cfg/encoder_intra_vtm.cfg).")
    endif()
    set(PMP_VTM_ORIGIN "${PMP_VTM_SOURCE_DIR}" PARENT_SCOPE)
    return()
  endif()
  _pmp_vtm_is_tree("${cache_dir}" ok)
  if(ok)
    set(PMP_VTM_ORIGIN "${cache_dir}" PARENT_SCOPE)
    return()
  endif()
  message(STATUS "pmp-vvc: no VTM source given and none in ${cache_dir}; cloning ${PMP_VTM_TAG}")
  find_package(Git QUIET)
  set(clone_dir "${CMAKE_BINARY_DIR}/vtm-clone")
  set(clone_ok FALSE)
  if(GIT_FOUND)
    file(REMOVE_RECURSE "${clone_dir}")
    execute_process(COMMAND "${GIT_EXECUTABLE}" clone --quiet --no-checkout "${PMP_VTM_GIT_URL}" "${clone_dir}"
                    RESULT_VARIABLE rc OUTPUT_QUIET ERROR_VARIABLE err TIMEOUT 900)
    if(rc EQUAL 0)
      execute_process(COMMAND "${GIT_EXECUTABLE}" -C "${clone_dir}" checkout --quiet "${PMP_VTM_COMMIT}"
                      RESULT_VARIABLE rc ERROR_VARIABLE err)
      if(rc EQUAL 0)
        set(clone_ok TRUE)
      endif()
    endif()
  else()
    set(err "git not found")
  endif()
  if(NOT clone_ok)
    message(FATAL_ERROR
      "pmp-vvc needs the VTM-23.13 source (commit ${PMP_VTM_COMMIT}) and could not get it.\n"
      "Cloning ${PMP_VTM_GIT_URL} failed: ${err}\n"
      "Provide the source in one of these ways, then build again:\n"
      "  * export PMP_VTM_SOURCE_DIR=/path/to/VVCSoftware_VTM   (a checkout of tag ${PMP_VTM_TAG})\n"
      "  * unpack tag ${PMP_VTM_TAG} into ${cache_dir}\n"
      "    e.g. git -C /path/to/VVCSoftware_VTM archive ${PMP_VTM_TAG} | tar -x -C ${cache_dir}\n")
  endif()
  set(PMP_VTM_ORIGIN "${clone_dir}" PARENT_SCOPE)
endfunction()

# Copies the pristine tree to ${CMAKE_BINARY_DIR}/vtm-src and applies the patches, only when the origin or a
# patch changed (a stamp holds their hash), so that rebuilds do not touch VTM's files and stay incremental.
# Sets PMP_VTM_DIR in the caller's scope.
function(pmp_prepare_vtm_source patch_dir)
  pmp_find_vtm_source()
  file(GLOB patches "${patch_dir}/*.patch")
  list(SORT patches)
  set(stamp_text "${PMP_VTM_ORIGIN}")
  foreach(p IN LISTS patches)
    file(SHA256 "${p}" h)
    string(APPEND stamp_text ";${p}=${h}")
  endforeach()
  string(SHA256 stamp "${stamp_text}")
  set(dest "${CMAKE_BINARY_DIR}/vtm-src")
  set(stamp_file "${CMAKE_BINARY_DIR}/vtm-src.stamp")
  if(EXISTS "${stamp_file}")
    file(READ "${stamp_file}" old_stamp)
  else()
    set(old_stamp "")
  endif()
  if(NOT old_stamp STREQUAL stamp OR NOT EXISTS "${dest}/source")
    message(STATUS "pmp-vvc: copying VTM from ${PMP_VTM_ORIGIN} and applying ${patch_dir}")
    file(REMOVE_RECURSE "${dest}")
    file(MAKE_DIRECTORY "${dest}")
    file(COPY "${PMP_VTM_ORIGIN}/source" "${PMP_VTM_ORIGIN}/cfg" DESTINATION "${dest}")
    find_program(PATCH_EXECUTABLE patch REQUIRED)
    foreach(p IN LISTS patches)
      get_filename_component(name "${p}" NAME)
      execute_process(COMMAND "${PATCH_EXECUTABLE}" -p1 --forward --batch --quiet -i "${p}"
                      WORKING_DIRECTORY "${dest}" RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
      if(NOT rc EQUAL 0)
        file(REMOVE "${stamp_file}")
        message(FATAL_ERROR "pmp-vvc: patch ${name} does not apply to the VTM tree from ${PMP_VTM_ORIGIN} "
                            "(is it ${PMP_VTM_TAG}?):\n${out}")
      endif()
      message(STATUS "pmp-vvc: applied ${name}")
    endforeach()
    file(WRITE "${stamp_file}" "${stamp}")
  endif()
  set(PMP_VTM_DIR "${dest}" PARENT_SCOPE)
endfunction()
