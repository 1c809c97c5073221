// MapGuide for Python: built with a map source (a callable returning the picture's probability maps) or fed
// maps directly with set_maps, and decide() callable from Python so that the rules are testable alone.
#include "bindings/PyObjects.h"
#include "guide/MapGuide.h"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <tuple>

namespace py = pybind11;
using namespace pmp;

namespace
{
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

void checkShape(const FloatArray& a, const char* name, std::initializer_list<py::ssize_t> tail)
{
  bool ok = a.ndim() == py::ssize_t(tail.size()) + 1;
  int  i  = 1;
  for (py::ssize_t n : tail)
  {
    ok = ok && a.shape(i++) == n;
  }
  if (!ok)
  {
    std::string want = "(B";
    for (py::ssize_t n : tail)
    {
      want += "," + std::to_string(n);
    }
    throw py::value_error(std::string("map guide: ") + name + " must have shape " + want + ")");
  }
}

void setTreeMaps(MapGuide& g, bool chroma, int width, int height, const FloatArray& qt, const FloatArray& mtt,
                 const FloatArray& dir)
{
  constexpr int C = MapGuide::kMttClasses, L = MapGuide::kMttLayers, M = MapGuide::kMttGrid;
  checkShape(qt, "qt", { MapGuide::kQtClasses, MapGuide::kQtGrid, MapGuide::kQtGrid });
  checkShape(mtt, "mtt", { C, L, M, M });
  checkShape(dir, "direction", { C, L, M, M });
  if (qt.shape(0) != mtt.shape(0) || qt.shape(0) != dir.shape(0))
  {
    throw py::value_error("map guide: qt, mtt and direction must have the same number of blocks");
  }
  const auto set = chroma ? &MapGuide::setChromaMaps : &MapGuide::setMaps;
  (g.*set)(width, height, qt.data(), mtt.data(), dir.data(), size_t(qt.shape(0)));
}

void setMapsFromArrays(MapGuide& g, int width, int height, const FloatArray& qt, const FloatArray& mtt,
                       const FloatArray& dir)
{
  setTreeMaps(g, false, width, height, qt, mtt, dir);
}

void setChromaMapsFromArrays(MapGuide& g, int width, int height, const FloatArray& qt, const FloatArray& mtt,
                             const FloatArray& dir)
{
  setTreeMaps(g, true, width, height, qt, mtt, dir);
}

// One tree's maps from an object with qt, mtt and direction arrays (pmp_vvc.predictor.MapProbabilities).
void setTreeMapsFromObject(MapGuide& g, bool chroma, int width, int height, const py::handle& maps)
{
  setTreeMaps(g, chroma, width, height, maps.attr("qt").cast<FloatArray>(), maps.attr("mtt").cast<FloatArray>(),
              maps.attr("direction").cast<FloatArray>());
}

using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;
using LimitsTuple = std::tuple<int, int, int, int>;   // max_bt, max_tt, max_mtt_depth, min_qt

// Rows x, y, w, h, split series, relatedValid, bestISPIntraMode, ispPredModeVal bits, bestDCT2NonISPCost,
// bestNonDCT2Cost, costBudget: the intra-search state of each luma node visit of a replayed encode.
void setSearchStateFromArray(MapGuide& g, const DoubleArray& rows)
{
  if (rows.ndim() != 2 || rows.shape(1) != 11)
  {
    throw py::value_error("map guide: the search-state table must have shape (K,11)");
  }
  SearchStateTable& table = g.searchStateTable();
  table.clear();
  auto r = rows.unchecked<2>();
  for (py::ssize_t i = 0; i < rows.shape(0); i++)
  {
    CuQuery     node;
    SearchState state;
    node.x                   = int(r(i, 0));
    node.y                   = int(r(i, 1));
    node.width               = int(r(i, 2));
    node.height              = int(r(i, 3));
    node.splitSeries         = uint64_t(r(i, 4));
    state.relatedValid       = r(i, 5) != 0;
    state.bestISPIntraMode   = uint8_t(r(i, 6));
    state.ispPredModeVal     = uint16_t(r(i, 7));
    state.bestDCT2NonISPCost = r(i, 8);
    state.bestNonDCT2Cost    = r(i, 9);
    state.costBudget         = r(i, 10);
    table.add(node, state);
  }
}

// A read-only numpy view of a plane, valid during the source call only.
py::array_t<int16_t> planeArray(const PlaneView& plane)
{
  py::array_t<int16_t> a({ py::ssize_t(plane.height), py::ssize_t(plane.width) },
                         { plane.stride * py::ssize_t(sizeof(int16_t)), py::ssize_t(sizeof(int16_t)) }, plane.data,
                         py::capsule(plane.data, [](void*) {}));
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return a;
}

// A Python callable source(luma, bit_depth, qp, poc, chroma) -> maps, called with the GIL held and released
// with the GIL held. chroma: (cb, cr) planes when the guide rules the chroma tree, else None. maps: an object
// with luma (qt, mtt, direction arrays), chroma (the same, or None) and search_states (array or None), as
// pmp_vvc.predictor.PictureMaps.
MapSource wrapSource(py::object source)
{
  if (source.is_none())
  {
    return nullptr;
  }
  auto held = holdObject(std::move(source));
  return [held](const PictureInfo& pic, MapGuide& guide) {
    py::gil_scoped_acquire gil;
    try
    {
      const bool chroma = guide.chromaLevel() > 0;
      py::object planes = chroma ? py::object(py::make_tuple(planeArray(pic.cb), planeArray(pic.cr))) : py::none();
      py::object maps   = (*held)(planeArray(pic.luma), pic.bitDepth, pic.qp, pic.poc, planes);
      setTreeMapsFromObject(guide, false, pic.luma.width, pic.luma.height, maps.attr("luma"));
      py::object chromaMaps = maps.attr("chroma");
      if (chroma && chromaMaps.is_none())
      {
        throw GuideError("map guide: the chroma level is > 0 but the map source gave no chroma maps");
      }
      if (chroma)
      {
        setTreeMapsFromObject(guide, true, pic.luma.width, pic.luma.height, chromaMaps);
      }
      py::object states = maps.attr("search_states");
      if (!states.is_none())
      {
        setSearchStateFromArray(guide, states.cast<DoubleArray>());
      }
    }
    catch (py::error_already_set& e)
    {
      throw guideError(e);
    }
    catch (py::cast_error& e)
    {
      throw GuideError(std::string("map source must return maps of float arrays: ") + e.what());
    }
  };
}
}   // namespace

void registerMapGuide(py::module_& m)
{
  py::class_<MapGuide, Guide, std::shared_ptr<MapGuide>>(
    m, "MapGuide",
    "Partition-map guide (C++). source(luma, bit_depth, qp, poc, chroma) -> maps with luma and chroma "
    "(qt (B,4,8,8), mtt (B,3,3,16,16), direction (B,3,3,16,16) class probabilities, blocks in raster order) "
    "and search_states (pmp_vvc.predictor.PictureMaps); None: maps come from set_maps.")
    .def(py::init([](py::object source, int level, double threshold, bool edgeBlocks, double qtThreshold,
                     int chromaLevel, double chromaThreshold, std::vector<std::pair<int, double>> byQp,
                     double branchThreshold, std::vector<std::pair<int, double>> bySide) {
           auto g = std::make_shared<MapGuide>(wrapSource(std::move(source)), level, threshold, edgeBlocks);
           g->setQtThreshold(qtThreshold);
           g->setBranchThreshold(branchThreshold);
           g->setChromaRules(chromaLevel, chromaThreshold);
           g->setThresholdByQp(std::move(byQp));
           g->setSideThresholds(std::move(bySide));
           return g;
         }),
         py::arg("source") = py::none(), py::arg("level") = 2, py::arg("threshold") = 0.0,
         py::arg("edge_blocks") = false, py::arg("qt_threshold") = -1.0, py::arg("chroma_level") = 0,
         py::arg("chroma_threshold") = -1.0, py::arg("threshold_by_qp") = std::vector<std::pair<int, double>>{},
         py::arg("branch_threshold") = -1.0, py::arg("side_thresholds") = std::vector<std::pair<int, double>>{},
         "qt_threshold: the threshold at nodes where QT is legal (negative: the same as threshold). "
         "chroma_level 1..3: the chroma maps rule the chroma tree's QT and MTT layers 1..k with "
         "chroma_threshold (negative: threshold); 0: VTM's chroma search. threshold_by_qp: [(qp, threshold)] "
         "knots (increasing QPs): the threshold of each picture, linear in its slice QP between them and "
         "constant beyond; empty: threshold. branch_threshold: the threshold below a split the maps did not "
         "imply (a candidate the threshold let in at an ancestor; negative: none). side_thresholds: [(side, "
         "threshold)]: the threshold at the luma nodes of that shorter side, in place of the others.")
    .def("set_maps", &setMapsFromArrays, py::arg("width"), py::arg("height"), py::arg("qt"), py::arg("mtt"),
         py::arg("direction"), "Set the maps of a width x height picture (probabilities, copied).")
    .def("set_chroma_maps", &setChromaMapsFromArrays, py::arg("width"), py::arg("height"), py::arg("qt"),
         py::arg("mtt"), py::arg("direction"), "Set the chroma tree's maps (the same layouts, luma cell units).")
    .def(
      "set_limits",
      [](MapGuide& g, const LimitsTuple& luma, const LimitsTuple& chroma) {
        const auto limits = [](const LimitsTuple& t) {
          return TreeLimits{ std::get<0>(t), std::get<1>(t), std::get<2>(t), std::get<3>(t) };
        };
        g.setLimits(limits(luma), limits(chroma));
      },
      py::arg("luma"), py::arg("chroma"),
      "The split limits (max_bt, max_tt, max_mtt_depth, min_qt; luma samples) of each tree, which the "
      "encoder sets from the picture (defaults: the AI cfg, chroma (64, 32, 3, 8)).")
    .def("clear_maps", &MapGuide::clearMaps)
    .def("decide", &MapGuide::decide, py::arg("cu"), "The decision for one CU node (as the encoder asks it).")
    .def("set_search_states", &setSearchStateFromArray, py::arg("rows"),
         "Set the search-state table (K,11): x, y, w, h, split series, relatedValid, bestISPIntraMode, "
         "ispPredModeVal bits, bestDCT2NonISPCost, bestNonDCT2Cost, costBudget of each luma node visit of the "
         "replayed encode (cleared at every picture; a source may return it as a fourth element).")
    .def(
      "search_state",
      [](const MapGuide& g, const CuQuery& cu) -> py::object {
        SearchState r;
        if (!g.searchState(cu, r))
        {
          return py::none();
        }
        return py::make_tuple(r.relatedValid, int(r.bestISPIntraMode), int(r.ispPredModeVal),
                              r.bestDCT2NonISPCost, r.bestNonDCT2Cost, r.costBudget);
      },
      py::arg("cu"), "(relatedValid, bestISPIntraMode, ispPredModeVal bits, bestDCT2NonISPCost, "
      "bestNonDCT2Cost, costBudget) of a node in the search-state table, or None.")
    .def(
      "candidates",
      [](const MapGuide& g, const CuQuery& cu) -> py::object {
        MapGuide::Candidates c;
        if (!g.candidates(cu, c))
        {
          return py::none();
        }
        py::dict prob;
        const char* names[6] = { "NO_SPLIT", "QT", "BT_H", "BT_V", "TT_H", "TT_V" };
        for (int i = 0; i < 6; i++)
        {
          prob[names[i]] = c.prob[size_t(i)];
        }
        return py::make_tuple(int(c.implied), prob);
      },
      py::arg("cu"), "(implied SplitMode bit, {mode name: probability}) of a node, or None if not ruled on.")
    .def_property_readonly("level", &MapGuide::level)
    .def_property_readonly("threshold", &MapGuide::threshold)
    .def_property_readonly("qt_threshold", &MapGuide::qtThreshold)
    .def_property_readonly("branch_threshold", &MapGuide::branchThreshold)
    .def_property_readonly("threshold_by_qp", &MapGuide::thresholdByQp)
    .def_property_readonly("side_thresholds", &MapGuide::sideThresholds)
    .def_property_readonly("edge_blocks", &MapGuide::edgeBlocks)
    .def_property_readonly("chroma_level", &MapGuide::chromaLevel)
    .def_property_readonly("chroma_threshold", &MapGuide::chromaThreshold)
    .def_property_readonly("has_maps", &MapGuide::hasMaps)
    .def_property_readonly("has_chroma_maps", &MapGuide::hasChromaMaps);
}
