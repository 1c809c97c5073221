// Python objects held from C++ beyond a call: released with the GIL held, from whatever thread drops them.
#pragma once

#include "guide/Guide.h"

#include <pybind11/pybind11.h>

#include <cstdlib>
#include <memory>
#include <string>

namespace pmp
{
// Shares ownership of a Python object with C++; the last owner releases it with the GIL held.
inline std::shared_ptr<pybind11::object> holdObject(pybind11::object obj)
{
  return std::shared_ptr<pybind11::object>(new pybind11::object(std::move(obj)), [](pybind11::object* o) {
    pybind11::gil_scoped_acquire gil;
    delete o;
  });
}

// A Python guide as a C++ Guide that keeps the Python object alive as long as the encoder holds it.
inline std::shared_ptr<Guide> holdGuide(pybind11::object obj)
{
  Guide* raw = obj.cast<Guide*>();
  return std::shared_ptr<Guide>(holdObject(std::move(obj)), raw);
}


// A guide's Python exception as a GuideError whose message is one line ("ValueError: ..."), the encoder's
// error report. The traceback is for whoever debugs a guide: printed to stderr only with PMP_VVC_TRACEBACK set.
// Call with the GIL held.
inline GuideError guideError(pybind11::error_already_set& e)
{
  const std::string what = pybind11::str(e.type().attr("__name__")).cast<std::string>() + ": "
                           + pybind11::str(e.value()).cast<std::string>();
  if (std::getenv("PMP_VVC_TRACEBACK") == nullptr)
  {
    return GuideError(what);
  }
  try
  {
    pybind11::module_::import("traceback").attr("print_exception")(e.type(), e.value(), e.trace());
    pybind11::module_::import("sys").attr("stderr").attr("flush")();
  }
  catch (pybind11::error_already_set&)
  {
    // Printing the traceback is a courtesy; the message above is what matters.
  }
  return GuideError(what);
}
}   // namespace pmp
