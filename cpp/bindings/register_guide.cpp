// The Guide interface for Python: subclass pmp_vvc._vtm.Guide and override begin_picture, decide, end_ctu.
#include "bindings/PyObjects.h"
#include "guide/Guide.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

namespace py = pybind11;
using namespace pmp;

namespace
{
// The trampoline takes the GIL only inside calls and turns Python exceptions into GuideError, whose message
// is read while the GIL is still held.
class PyGuide : public Guide
{
public:
  void beginPicture(const PictureInfo& pic) override
  {
    py::gil_scoped_acquire gil;
    try
    {
      py::function f = py::get_override(static_cast<const Guide*>(this), "begin_picture");
      if (!f)
      {
        return;
      }
      // Zero-copy, read-only view of the encoder's plane, valid during this call only.
      py::array_t<int16_t> luma({ pic.luma.height, pic.luma.width },
                                { pic.luma.stride * std::ptrdiff_t(sizeof(int16_t)), std::ptrdiff_t(sizeof(int16_t)) },
                                pic.luma.data, py::capsule(pic.luma.data, [](void*) {}));
      py::detail::array_proxy(luma.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
      f(luma, pic.bitDepth, pic.qp, pic.poc);
    }
    catch (py::error_already_set& e)
    {
      throw guideError(e);
    }
  }

  Decision decide(const CuQuery& cu) override
  {
    py::gil_scoped_acquire gil;
    try
    {
      py::function f = py::get_override(static_cast<const Guide*>(this), "decide");
      if (!f)
      {
        throw GuideError("a Guide subclass must define decide(self, cu)");
      }
      return f(cu).cast<Decision>();
    }
    catch (py::error_already_set& e)
    {
      throw guideError(e);
    }
    catch (py::cast_error&)
    {
      throw GuideError("Guide.decide must return a pmp_vvc._vtm.Decision");
    }
  }

  void endCtu(int x, int y) override
  {
    py::gil_scoped_acquire gil;
    try
    {
      if (py::function f = py::get_override(static_cast<const Guide*>(this), "end_ctu"))
      {
        f(x, y);
      }
    }
    catch (py::error_already_set& e)
    {
      throw guideError(e);
    }
  }
};
}   // namespace

void registerGuide(py::module_& m)
{
  py::enum_<SplitMode>(m, "SplitMode", py::arithmetic(), "Test modes a guide rules on (bit flags)")
    .value("NO_SPLIT", kNoSplit)
    .value("QT", kQt)
    .value("BT_H", kBtH)
    .value("BT_V", kBtV)
    .value("TT_H", kTtH)
    .value("TT_V", kTtV)
    .value("ALL", kAllModes);

  py::class_<CuQuery>(m, "CuQuery", "A CU node of the split search (luma units for both trees)")
    .def(py::init<>())
    .def_readwrite("x", &CuQuery::x)
    .def_readwrite("y", &CuQuery::y)
    .def_readwrite("width", &CuQuery::width)
    .def_readwrite("height", &CuQuery::height)
    .def_readwrite("chroma", &CuQuery::chroma)
    .def_readwrite("qt_depth", &CuQuery::qtDepth)
    .def_readwrite("mt_depth", &CuQuery::mtDepth)
    .def_readwrite("bt_depth", &CuQuery::btDepth)
    .def_readwrite("split_series", &CuQuery::splitSeries)
    .def("__repr__", [](const CuQuery& q) {
      return "CuQuery(x=" + std::to_string(q.x) + ", y=" + std::to_string(q.y) + ", width=" + std::to_string(q.width)
             + ", height=" + std::to_string(q.height) + ", chroma=" + (q.chroma ? "True" : "False")
             + ", qt_depth=" + std::to_string(q.qtDepth) + ", mt_depth=" + std::to_string(q.mtDepth) + ")";
    });

  py::class_<Decision>(m, "Decision", "Modes to veto and to force for one CU (SplitMode bit masks)")
    .def(py::init([](int veto, int force) {
           if (veto < 0 || veto > kAllModes || force < 0 || force > kAllModes)
           {
             throw py::value_error("veto/force must be SplitMode bit masks");
           }
           return Decision{ uint8_t(veto), uint8_t(force) };
         }),
         py::arg("veto") = 0, py::arg("force") = 0)
    .def_readonly("veto", &Decision::veto)
    .def_readonly("force", &Decision::force);

  py::class_<Guide, PyGuide, std::shared_ptr<Guide>>(m, "Guide",
                                                     "Base class of partition guides; override decide(cu), and "
                                                     "optionally begin_picture(luma, bit_depth, qp, poc), end_ctu(x, y)")
    .def(py::init<>());
}
