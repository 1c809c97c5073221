// Python objects held from C++ beyond a call: released with the GIL held, from whatever thread drops them.
#pragma once

#include "guide/Guide.h"

#include <pybind11/pybind11.h>

#include <memory>

namespace pmp
{
inline std::shared_ptr<Guide> holdGuide(pybind11::object obj)
{
  Guide* raw    = obj.cast<Guide*>();
  auto*  holder = new pybind11::object(std::move(obj));
  return std::shared_ptr<Guide>(raw, [holder](Guide*) {
    pybind11::gil_scoped_acquire gil;
    delete holder;
  });
}

}   // namespace pmp
