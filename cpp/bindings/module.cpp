// pmp_vvc._vtm: the private compiled part of pmp-vvc. Each area registers itself.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void registerGuide(py::module_& m);
void registerEncoder(py::module_& m);
void registerMapGuide(py::module_& m);

PYBIND11_MODULE(_vtm, m)
{
  m.doc() = "VTM-23.13 encoder/decoder with the pmp-vvc partition guide (private; use pmp_vvc)";
  registerGuide(m);
  registerMapGuide(m);
  registerEncoder(m);
}
