// A guide driven by per-picture partition maps (design partition-map.md §2-3): for every whole 64x64 luma
// block, class probabilities of the QT depth (per 8x8 cell), and per MTT layer of the btDepth increment and
// split direction (per 4x4 cell). decide() turns them into the one split the maps imply (TIP-23 rules, at
// acceleration levels L0..L3), or, below a confidence threshold, into a small candidate set. The luma tree
// has its maps; the chroma tree of a dual-tree picture may have its own (the same layout over the same
// 64x64 luma area), ruled with their own level and threshold and the chroma tree's split limits.
// Plain C++17, no VTM types: the maps come from a MapSource (a model, an oracle, stored maps, a test).
#pragma once

#include "guide/Guide.h"
#include "guide/SearchStateTable.h"

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace pmp
{
class MapGuide;

// Called at the start of every picture; must hand the picture's maps to the guide (MapGuide::setMaps).
using MapSource = std::function<void(const PictureInfo&, MapGuide&)>;

class MapGuide : public Guide
{
public:
  static constexpr int kBlock     = 64;
  static constexpr int kQtGrid    = 8;    // 8x8 cells of 8x8 luma
  static constexpr int kMttGrid   = 16;   // 16x16 cells of 4x4 luma
  static constexpr int kQtClasses = 4;    // qtDepth - 1 = 0..3
  static constexpr int kMttLayers = 3;
  static constexpr int kMttClasses = 3;   // increments 0/+1/+2; directions none/hor/ver
  static constexpr size_t kQtPerBlock  = size_t(kQtClasses) * kQtGrid * kQtGrid;
  static constexpr size_t kMttPerBlock = size_t(kMttClasses) * kMttLayers * kMttGrid * kMttGrid;

  // level 0..3 (MTT layers decided by the map), threshold in [0, 1] (0: hard maps, one candidate per node);
  // edgeBlocks: also rule on nodes inside the picture of 64x64 blocks that cross its right/bottom edge (for
  // maps that are valid there, e.g. an oracle's; the model is trained on whole blocks only).
  MapGuide(MapSource source, int level, double threshold, bool edgeBlocks = false);

  // Threshold at the nodes where a QT split is legal (square nodes before any MTT split), where a wrong
  // decision costs most: no QT can follow an MTT split. Negative: the same as threshold.
  void setQtThreshold(double qtThreshold);

  // Threshold below a split the maps did not imply (a candidate that the threshold let in at an ancestor):
  // that branch is searched only to price the alternative, and most often loses. Negative: no such rule.
  void setBranchThreshold(double branchThreshold);

  // Thresholds by the shorter side of luma nodes: (side, threshold) pairs, each the threshold (in place of the
  // threshold, the QT and the per-QP ones) at the luma nodes whose shorter side is that many samples, where
  // the maps are more or less sure than on average. Empty: none.
  void setSideThresholds(std::vector<std::pair<int, double>> sides);
  const std::vector<std::pair<int, double>>& sideThresholds() const { return m_sideThresholds; }

  // The threshold as a function of the slice QP, set at every picture: linear between the (QP, threshold) knots
  // (increasing QPs), constant beyond the first and the last; empty: the fixed threshold. The QT and chroma
  // thresholds that follow the threshold follow it too.
  void setThresholdByQp(std::vector<std::pair<int, double>> knots);
  const std::vector<std::pair<int, double>>& thresholdByQp() const { return m_thresholdByQp; }

  // Chroma tree (dual tree): level 0 leaves it to VTM's search; 1..3: the chroma maps rule its QT and MTT
  // layers 1..k (there is no QT-only level), with the threshold (negative: the luma one). The map source must
  // then give chroma maps (and the input be 4:2:0).
  void setChromaRules(int level, double threshold);

  // Takes the picture's split limits of both trees, then the maps from the source.
  void     beginPicture(const PictureInfo& picture) override;
  Decision decide(const CuQuery& cu) override;
  // Luma nodes of the replayed encode (an oracle's anchor): the intra-search state of each of its node visits.
  bool     searchState(const CuQuery& cu, SearchState& out) const override;
  SearchStateTable& searchStateTable() { return m_searchStates; }

  // Maps of a width x height picture, blocks in raster order over ceil(width/64) x ceil(height/64), layouts
  // (block, class, row, col) for qt and (block, class, layer, row, col) for mtt/dir (the model's outputs after
  // a softmax over the class axis). Values are copied. Blocks not wholly inside the picture are ignored
  // unless edgeBlocks is set.
  void setMaps(int width, int height, const float* qt, const float* mtt, const float* dir, size_t numBlocks);
  // The chroma tree's maps, the same layouts (in luma cell units over the same 64x64 luma blocks).
  void setChromaMaps(int width, int height, const float* qt, const float* mtt, const float* dir, size_t numBlocks);
  void clearMaps();
  // The split limits the rules assume for each tree (beginPicture takes the picture's; defaults: the AI cfg).
  void setLimits(const TreeLimits& luma, const TreeLimits& chroma);

  bool   hasMaps() const { return m_luma.width > 0; }
  bool   hasChromaMaps() const { return m_chroma.width > 0; }
  int    level() const { return m_level; }
  double threshold() const { return m_threshold; }
  double qtThreshold() const { return m_qtThreshold < 0.0 ? m_threshold : m_qtThreshold; }
  double branchThreshold() const { return m_branchThreshold; }
  int    chromaLevel() const { return m_chromaLevel; }
  double chromaThreshold() const { return m_chromaThreshold < 0.0 ? m_threshold : m_chromaThreshold; }
  bool   edgeBlocks() const { return m_edgeBlocks; }
  int    width() const { return m_luma.width; }
  int    height() const { return m_luma.height; }

  // The candidate modes of a node with their probabilities, the map's own split first (exposed for tests).
  struct Candidates
  {
    uint8_t                implied = 0;     // SplitMode bit of the hard-map split (kNoSplit for none)
    std::array<double, 6>  prob{};          // by SplitMode bit index: NoSplit, QT, BT_H, BT_V, TT_H, TT_V
  };
  // False when the guide does not rule on this node (no maps of its tree, edge block, deeper than the tree's
  // level, chroma level 0).
  bool candidates(const CuQuery& cu, Candidates& out) const;

private:
  struct Node;
  // One tree's maps of the picture being coded.
  struct TreeMaps
  {
    int                  width = 0, height = 0, blocksX = 0, blocksY = 0;
    std::vector<float>   qt, inc, dir;               // probabilities
    std::vector<int8_t>  qtHard, incHard, dirHard;   // their argmax (the hard maps)
    std::vector<uint8_t> whole;                      // block lies wholly inside the picture

    void set(int w, int h, const float* qtP, const float* mttP, const float* dirP, size_t numBlocks);
    void clear();
    float qtProb(int b, int c, int r, int col) const
    {
      return qt[((size_t(b) * kQtClasses + c) * kQtGrid + r) * kQtGrid + col];
    }
    static float mttProb(const std::vector<float>& v, int b, int c, int layer, int r, int col)
    {
      return v[(((size_t(b) * kMttClasses + c) * kMttLayers + layer) * kMttGrid + r) * kMttGrid + col];
    }
    int8_t qtClass(int b, int r, int c) const { return qtHard[(size_t(b) * kQtGrid + r) * kQtGrid + c]; }
    static int8_t mttClass(const std::vector<int8_t>& v, int b, int layer, int r, int c)
    {
      return v[((size_t(b) * kMttLayers + layer) * kMttGrid + r) * kMttGrid + c];
    }
  };

  const TreeMaps& maps(const CuQuery& cu) const { return cu.chroma ? m_chroma : m_luma; }
  int  blockIndex(const CuQuery& cu) const;
  static uint8_t impliedSplit(const TreeMaps& m, const Node& n);
  static void modeProbabilities(const TreeMaps& m, const Node& n, std::array<double, 6>& prob);
  bool legal(const Node& n, uint8_t mode) const;
  uint8_t forceMask(const CuQuery& cu, uint8_t set, double threshold) const;
  bool    belowUnimpliedSplit(const CuQuery& cu) const;
  double  thresholdAt(int qp) const;

  MapSource         m_source;
  int               m_level;
  double            m_threshold;
  double            m_qtThreshold = -1.0;   // negative: m_threshold
  double            m_branchThreshold = -1.0;   // negative: off
  std::vector<std::pair<int, double>> m_thresholdByQp;
  std::vector<std::pair<int, double>> m_sideThresholds;
  int               m_chromaLevel     = 0;
  double            m_chromaThreshold = -1.0;   // negative: m_threshold
  bool              m_edgeBlocks;
  TreeLimits        m_lumaLimits;
  TreeLimits        m_chromaLimits = kChromaDefaultLimits;
  TreeMaps          m_luma, m_chroma;
  SearchStateTable  m_searchStates;   // of the picture being coded (filled by the source)
};
}   // namespace pmp
