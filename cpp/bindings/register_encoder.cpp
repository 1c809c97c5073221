// Running VTM's encoder and decoder from Python, with the GIL released while they work.
#include "bindings/PyObjects.h"
#include "encoder/Entry.h"
#include "pmp_build_id.h"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace pmp;

namespace
{
GuideFactory wrapFactory(py::object factory)
{
  if (factory.is_none())
  {
    return nullptr;
  }
  auto held = holdObject(std::move(factory));
  return [held](const std::map<std::string, std::string>& options) -> std::shared_ptr<Guide> {
    py::gil_scoped_acquire gil;
    try
    {
      py::object guide = (*held)(options);
      return guide.is_none() ? nullptr : holdGuide(std::move(guide));
    }
    catch (py::error_already_set& e)
    {
      throw guideError(e);
    }
  };
}
}   // namespace

void registerEncoder(py::module_& m)
{
  m.def(
    "run_encoder",
    [](std::vector<std::string> args, py::object guide, py::object factory) {
      std::shared_ptr<Guide> g = guide.is_none() ? nullptr : holdGuide(guide);
      GuideFactory           f = wrapFactory(std::move(factory));
      py::gil_scoped_release release;
      return runEncoder(args, std::move(g), std::move(f));
    },
    py::arg("args"), py::arg("guide") = py::none(), py::arg("guide_factory") = py::none(),
    "Run VTM's EncoderApp with args (argv[0] first); returns its exit code. The log goes to stdout.");
  m.def(
    "run_decoder",
    [](std::vector<std::string> args) {
      py::gil_scoped_release release;
      return runDecoder(args);
    },
    py::arg("args"), "Run VTM's DecoderApp with args (argv[0] first); returns its exit code.");
  m.attr("BUILD_ID")    = PMP_BUILD_ID;
  m.attr("VTM_VERSION") = PMP_VTM_VERSION;
}
