#include "guide/MapGuide.h"

#include <algorithm>
#include <cmath>
#include <string>

namespace pmp
{
namespace
{
// Bit index of each SplitMode in Candidates::prob, and the priority order of TIP-23 (ties go to the first).
constexpr int     kIdxNoSplit = 0, kIdxQt = 1, kIdxBtH = 2, kIdxBtV = 3, kIdxTtH = 4, kIdxTtV = 5;
constexpr uint8_t kPriority[6] = { kQt, kTtV, kTtH, kBtV, kBtH, kNoSplit };

int bitIndex(uint8_t mode)
{
  int i = 0;
  while ((1u << i) != mode)
  {
    i++;
  }
  return i;
}

template<typename T> int argmax(const T* first, int count, size_t step)
{
  int best = 0;
  for (int c = 1; c < count; c++)
  {
    if (first[c * step] > first[best * step])
    {
      best = c;
    }
  }
  return best;
}
}   // namespace

// A node in its block's coordinates.
struct MapGuide::Node
{
  int b;              // block index
  int x, y, w, h;     // luma samples, relative to the block
  int qtLevel;        // qtDepth - 1 (0 at 64x64)
  int layer;          // mtDepth: the MTT layer whose maps decide this node
  bool chroma;        // a chroma-tree node (its legality)
};

MapGuide::MapGuide(MapSource source, int level, double threshold, bool edgeBlocks)
  : m_source(std::move(source))
  , m_level(level)
  , m_threshold(threshold)
  , m_edgeBlocks(edgeBlocks)
{
  if (level < 0 || level > kMttLayers)
  {
    throw GuideError("map guide: level must be 0..3, got " + std::to_string(level));
  }
  if (!(threshold >= 0.0 && threshold <= 1.0))
  {
    throw GuideError("map guide: threshold must be in [0, 1], got " + std::to_string(threshold));
  }
}

void MapGuide::setQtThreshold(double qtThreshold)
{
  if (qtThreshold < 0.0)
  {
    m_qtThreshold = -1.0;
    return;
  }
  if (!(qtThreshold <= 1.0))
  {
    throw GuideError("map guide: QT threshold must be in [0, 1] (or negative: the threshold), got "
                     + std::to_string(qtThreshold));
  }
  m_qtThreshold = qtThreshold;
}

void MapGuide::setBranchThreshold(double branchThreshold)
{
  if (!(branchThreshold <= 1.0))
  {
    throw GuideError("map guide: branch threshold must be in [0, 1] (or negative: off), got "
                     + std::to_string(branchThreshold));
  }
  m_branchThreshold = branchThreshold < 0.0 ? -1.0 : branchThreshold;
}

void MapGuide::setThresholdByQp(std::vector<std::pair<int, double>> knots)
{
  for (size_t i = 0; i < knots.size(); i++)
  {
    if (!(knots[i].second >= 0.0 && knots[i].second <= 1.0))
    {
      throw GuideError("map guide: the threshold at QP " + std::to_string(knots[i].first) + " must be in [0, 1], got "
                       + std::to_string(knots[i].second));
    }
    if (i > 0 && knots[i].first <= knots[i - 1].first)
    {
      throw GuideError("map guide: the QPs of a per-QP threshold must increase, got "
                       + std::to_string(knots[i - 1].first) + " before " + std::to_string(knots[i].first));
    }
  }
  m_thresholdByQp = std::move(knots);
}

void MapGuide::setSideThresholds(std::vector<std::pair<int, double>> sides)
{
  for (size_t i = 0; i < sides.size(); i++)
  {
    const int side = sides[i].first;
    if (side < 4 || side > kBlock || (side & (side - 1)) != 0)
    {
      throw GuideError("map guide: a node side of a side threshold must be 4, 8, 16, 32 or 64, got "
                       + std::to_string(side));
    }
    if (!(sides[i].second >= 0.0 && sides[i].second <= 1.0))
    {
      throw GuideError("map guide: the threshold at side " + std::to_string(side) + " must be in [0, 1], got "
                       + std::to_string(sides[i].second));
    }
    for (size_t j = 0; j < i; j++)
    {
      if (sides[j].first == side)
      {
        throw GuideError("map guide: side " + std::to_string(side) + " has two side thresholds");
      }
    }
  }
  m_sideThresholds = std::move(sides);
}

double MapGuide::thresholdAt(int qp) const
{
  const auto& k = m_thresholdByQp;
  if (qp <= k.front().first)
  {
    return k.front().second;
  }
  for (size_t i = 1; i < k.size(); i++)
  {
    if (qp <= k[i].first)
    {
      const double f = double(qp - k[i - 1].first) / double(k[i].first - k[i - 1].first);
      return k[i - 1].second + f * (k[i].second - k[i - 1].second);
    }
  }
  return k.back().second;
}

void MapGuide::setChromaRules(int level, double threshold)
{
  if (level < 0 || level > kMttLayers)
  {
    throw GuideError("map guide: the chroma level must be 0 (off) or 1..3, got " + std::to_string(level));
  }
  if (!(threshold <= 1.0))
  {
    throw GuideError("map guide: the chroma threshold must be in [0, 1] (or negative: the threshold), got "
                     + std::to_string(threshold));
  }
  m_chromaLevel     = level;
  m_chromaThreshold = threshold < 0.0 ? -1.0 : threshold;
}

void MapGuide::setLimits(const TreeLimits& luma, const TreeLimits& chroma)
{
  m_lumaLimits   = luma;
  m_chromaLimits = chroma;
}

void MapGuide::beginPicture(const PictureInfo& picture)
{
  setLimits(picture.lumaLimits, picture.chromaLimits);
  if (!m_thresholdByQp.empty())
  {
    m_threshold = thresholdAt(picture.qp);
  }
  if (m_chromaLevel > 0 && picture.chromaFormat != kChroma420)
  {
    static const char* names[4] = { "4:0:0", "4:2:0", "4:2:2", "4:4:4" };
    const int          f        = picture.chromaFormat;
    throw GuideError(std::string("map guide: the chroma guide (chroma level > 0) needs 4:2:0 pictures, got ")
                     + (f >= 0 && f < 4 ? names[f] : std::to_string(f).c_str()));
  }
  if (!m_source)
  {
    return;   // maps are set from outside (tests)
  }
  clearMaps();
  m_searchStates.clear();
  m_source(picture, *this);
  const auto checkSize = [&](const TreeMaps& m, const char* tree) {
    if (m.width != picture.luma.width || m.height != picture.luma.height)
    {
      throw GuideError(std::string("map guide: the map source gave ") + tree + " maps of a " + std::to_string(m.width)
                       + "x" + std::to_string(m.height) + " picture for the " + std::to_string(picture.luma.width)
                       + "x" + std::to_string(picture.luma.height) + " picture with POC "
                       + std::to_string(picture.poc));
    }
  };
  checkSize(m_luma, "luma");
  if (m_chromaLevel > 0)
  {
    checkSize(m_chroma, "chroma");
  }
}

bool MapGuide::searchState(const CuQuery& cu, SearchState& out) const
{
  return !cu.chroma && m_searchStates.find(cu, out);
}

void MapGuide::clearMaps()
{
  m_luma.clear();
  m_chroma.clear();
}

void MapGuide::TreeMaps::clear()
{
  width = height = blocksX = blocksY = 0;
  qt.clear(), inc.clear(), dir.clear();
  qtHard.clear(), incHard.clear(), dirHard.clear();
  whole.clear();
}

void MapGuide::setMaps(int width, int height, const float* qt, const float* mtt, const float* dir, size_t numBlocks)
{
  m_luma.set(width, height, qt, mtt, dir, numBlocks);
}

void MapGuide::setChromaMaps(int width, int height, const float* qt, const float* mtt, const float* dir,
                             size_t numBlocks)
{
  m_chroma.set(width, height, qt, mtt, dir, numBlocks);
}

void MapGuide::TreeMaps::set(int width, int height, const float* qtP, const float* mttP, const float* dirP,
                             size_t numBlocks)
{
  if (width <= 0 || height <= 0)
  {
    throw GuideError("map guide: bad picture size " + std::to_string(width) + "x" + std::to_string(height));
  }
  const int bx = (width + kBlock - 1) / kBlock, by = (height + kBlock - 1) / kBlock;
  if (numBlocks != size_t(bx) * size_t(by))
  {
    throw GuideError("map guide: " + std::to_string(numBlocks) + " blocks of maps for a " + std::to_string(width)
                     + "x" + std::to_string(height) + " picture, which has " + std::to_string(bx * by));
  }
  qt.assign(qtP, qtP + numBlocks * kQtPerBlock);
  inc.assign(mttP, mttP + numBlocks * kMttPerBlock);
  dir.assign(dirP, dirP + numBlocks * kMttPerBlock);
  for (const auto* v : { &qt, &inc, &dir })
  {
    if (!std::all_of(v->begin(), v->end(), [](float p) { return std::isfinite(p); }))
    {
      throw GuideError("map guide: the maps hold non-finite probabilities");
    }
  }
  this->width = width, this->height = height, blocksX = bx, blocksY = by;

  const size_t qtPlane = size_t(kQtGrid) * kQtGrid, mttPlane = size_t(kMttLayers) * kMttGrid * kMttGrid;
  qtHard.resize(numBlocks * qtPlane);
  incHard.resize(numBlocks * mttPlane);
  dirHard.resize(numBlocks * mttPlane);
  whole.resize(numBlocks);
  for (size_t b = 0; b < numBlocks; b++)
  {
    for (size_t i = 0; i < qtPlane; i++)
    {
      qtHard[b * qtPlane + i] = int8_t(argmax(&qt[b * kQtPerBlock + i], kQtClasses, qtPlane));
    }
    for (size_t i = 0; i < mttPlane; i++)
    {
      incHard[b * mttPlane + i] = int8_t(argmax(&inc[b * kMttPerBlock + i], kMttClasses, mttPlane));
      dirHard[b * mttPlane + i] = int8_t(argmax(&dir[b * kMttPerBlock + i], kMttClasses, mttPlane));
    }
    const int x = int(b % size_t(bx)) * kBlock, y = int(b / size_t(bx)) * kBlock;
    whole[b] = x + kBlock <= width && y + kBlock <= height;
  }
}

int MapGuide::blockIndex(const CuQuery& cu) const
{
  const TreeMaps& m  = maps(cu);
  const int       bx = cu.x / kBlock, by = cu.y / kBlock;
  if (cu.x < 0 || cu.y < 0 || bx >= m.blocksX || by >= m.blocksY || cu.x + cu.width > (bx + 1) * kBlock
      || cu.y + cu.height > (by + 1) * kBlock || cu.x + cu.width > m.width || cu.y + cu.height > m.height)
  {
    return -1;
  }
  const int b = by * m.blocksX + bx;
  return (m.whole[size_t(b)] || m_edgeBlocks) ? b : -1;
}

// VTM-23.13's QTBTPartitioner::canSplit for a node without implicit split, sizes in luma samples (minimum BT/TT
// size 4). Chroma-tree nodes (4:2:0) also obey the dual tree's chroma minimum sizes: no QT of a 4-wide chroma
// node, no split into chroma blocks of fewer than 16 samples (MIN_DUALTREE_CHROMA_SIZE) or 2 samples wide.
bool MapGuide::legal(const Node& n, uint8_t mode) const
{
  const TreeLimits& lim = n.chroma ? m_chromaLimits : m_lumaLimits;
  const int         area = n.w * n.h, chromaArea = area / 4, chromaW = n.w / 2;
  const bool        mtt = n.layer < lim.maxMtDepth;
  const bool        bt  = mtt && n.w <= lim.maxBt && n.h <= lim.maxBt;
  const bool        tt  = mtt && n.w <= lim.maxTt && n.h <= lim.maxTt;
  switch (mode)
  {
  case kNoSplit: return true;
  case kQt: return n.layer == 0 && n.w == n.h && n.w / 2 >= lim.minQt && (!n.chroma || chromaW > 4);
  case kBtH: return bt && n.h >= 8 && (!n.chroma || chromaArea > 16);
  case kBtV: return bt && n.w >= 8 && (!n.chroma || (chromaArea > 16 && chromaW != 4));
  case kTtH: return tt && n.h >= 16 && (!n.chroma || chromaArea > 32);
  case kTtV: return tt && n.w >= 16 && (!n.chroma || (chromaArea > 32 && chromaW != 8));
  default: return false;
  }
}

// The rules of pmp_vvc.codec.partition.maps_to_splits on the argmax maps.
uint8_t MapGuide::impliedSplit(const TreeMaps& m, const Node& n)
{
  if (n.layer == 0 && n.w == n.h && n.w >= 16)
  {
    const int r0 = n.y / 8, c0 = n.x / 8, cells = n.w / 8;
    int       deeper = 0;
    for (int r = r0; r < r0 + cells; r++)
    {
      for (int c = c0; c < c0 + cells; c++)
      {
        deeper += m.qtClass(n.b, r, c) > n.qtLevel;
      }
    }
    if (2 * deeper > cells * cells)
    {
      return kQt;
    }
  }
  if (n.layer >= kMttLayers)
  {
    return kNoSplit;
  }
  const int r0 = n.y / 4, c0 = n.x / 4, rows = n.h / 4, cols = n.w / 4;
  const int dir = TreeMaps::mttClass(m.dirHard, n.b, n.layer, r0, c0);
  for (int r = r0; r < r0 + rows; r++)
  {
    for (int c = c0; c < c0 + cols; c++)
    {
      if (TreeMaps::mttClass(m.dirHard, n.b, n.layer, r, c) != dir)
      {
        return kNoSplit;
      }
    }
  }
  if (dir == 0)
  {
    return kNoSplit;
  }
  const bool horizontal = dir == 1;
  const int  side       = horizontal ? n.h : n.w;
  const int  qRows = horizontal ? std::max(rows / 4, 1) : rows, qCols = horizontal ? cols : std::max(cols / 4, 1);
  int        plus2 = 0;
  for (int r = r0; r < r0 + qRows; r++)
  {
    for (int c = c0; c < c0 + qCols; c++)
    {
      plus2 += TreeMaps::mttClass(m.incHard, n.b, n.layer, r, c) >= 2;
    }
  }
  if (2 * plus2 > qRows * qCols && side >= 16)
  {
    return horizontal ? kTtH : kTtV;
  }
  if (side >= 8)
  {
    return horizontal ? kBtH : kBtV;
  }
  return kNoSplit;
}

// P(QT) = mean P(QT depth > level); the rest is shared by the layer's direction classes (mean over the node),
// each direction split into TT and BT by the mean P(+2) over its first quarter.
void MapGuide::modeProbabilities(const TreeMaps& m, const Node& n, std::array<double, 6>& prob)
{
  prob.fill(0.0);
  double pQt = 0.0;
  if (n.layer == 0 && n.w == n.h && n.w >= 16)
  {
    const int r0 = n.y / 8, c0 = n.x / 8, cells = n.w / 8;
    for (int r = r0; r < r0 + cells; r++)
    {
      for (int c = c0; c < c0 + cells; c++)
      {
        for (int k = n.qtLevel + 1; k < kQtClasses; k++)
        {
          pQt += m.qtProb(n.b, k, r, c);
        }
      }
    }
    pQt /= double(cells * cells);
  }
  prob[kIdxQt] = pQt;
  if (n.layer >= kMttLayers)
  {
    prob[kIdxNoSplit] = 1.0 - pQt;
    return;
  }
  const int r0 = n.y / 4, c0 = n.x / 4, rows = n.h / 4, cols = n.w / 4;
  double    pd[3] = { 0.0, 0.0, 0.0 }, ptt[3] = { 0.0, 0.0, 0.0 };
  int       quarterCells[3] = { 0, 0, 0 };
  for (int r = r0; r < r0 + rows; r++)
  {
    for (int c = c0; c < c0 + cols; c++)
    {
      for (int k = 0; k < kMttClasses; k++)
      {
        pd[k] += TreeMaps::mttProb(m.dir, n.b, k, n.layer, r, c);
      }
      const double plus2 = TreeMaps::mttProb(m.inc, n.b, 2, n.layer, r, c);
      if (r < r0 + std::max(rows / 4, 1))
      {
        ptt[1] += plus2, quarterCells[1]++;
      }
      if (c < c0 + std::max(cols / 4, 1))
      {
        ptt[2] += plus2, quarterCells[2]++;
      }
    }
  }
  const double rest = std::max(0.0, 1.0 - pQt), cellCount = double(rows * cols);
  const double th = ptt[1] / quarterCells[1], tv = ptt[2] / quarterCells[2];
  prob[kIdxNoSplit] = rest * pd[0] / cellCount;
  prob[kIdxTtH]     = rest * pd[1] / cellCount * th;
  prob[kIdxBtH]     = rest * pd[1] / cellCount * (1.0 - th);
  prob[kIdxTtV]     = rest * pd[2] / cellCount * tv;
  prob[kIdxBtV]     = rest * pd[2] / cellCount * (1.0 - tv);
}

bool MapGuide::candidates(const CuQuery& cu, Candidates& out) const
{
  // Luma Lk rules MTT layers 1..k (L0: the QT depth alone); chroma Lk the same, chroma L0 nothing.
  const int maxLayer = cu.chroma ? m_chromaLevel - 1 : std::max(m_level - 1, 0);
  if (maps(cu).width == 0 || cu.mtDepth > maxLayer || cu.qtDepth < 1)
  {
    return false;
  }
  const int b = blockIndex(cu);
  if (b < 0)
  {
    return false;
  }
  const Node n{ b, cu.x % kBlock, cu.y % kBlock, cu.width, cu.height, cu.qtDepth - 1, cu.mtDepth, cu.chroma };
  modeProbabilities(maps(cu), n, out.prob);
  double legalMass = 0.0;
  for (uint8_t mode : kPriority)
  {
    if (!legal(n, mode))
    {
      out.prob[bitIndex(mode)] = 0.0;
    }
    legalMass += out.prob[bitIndex(mode)];
  }
  if (legalMass > 0.0)
  {
    for (double& p : out.prob)
    {
      p /= legalMass;
    }
  }
  else
  {
    out.prob[kIdxNoSplit] = 1.0;
  }
  out.implied = impliedSplit(maps(cu), n);
  if (!legal(n, out.implied))
  {
    // Inconsistent maps (e.g. an MTT split of a 64x64 node): the most probable legal mode instead.
    out.implied = kNoSplit;
    for (uint8_t mode : kPriority)
    {
      if (out.prob[bitIndex(mode)] > out.prob[bitIndex(out.implied)])
      {
        out.implied = mode;
      }
    }
  }
  return true;
}

Decision MapGuide::decide(const CuQuery& cu)
{
  Candidates c;
  if (!candidates(cu, c))
  {
    return {};
  }
  const uint8_t allowed   = kAllModes;
  const Node    shape{ 0, 0, 0, cu.width, cu.height, cu.qtDepth - 1, cu.mtDepth, cu.chroma };
  const bool    qtLegal   = legal(shape, kQt);
  double        threshold = cu.chroma ? chromaThreshold() : qtLegal ? qtThreshold() : m_threshold;
  for (const auto& [side, t] : m_sideThresholds)
  {
    if (!cu.chroma && side == std::min(cu.width, cu.height))
    {
      threshold = t;
    }
  }
  if (m_branchThreshold >= 0.0 && m_branchThreshold < threshold && belowUnimpliedSplit(cu))
  {
    threshold = m_branchThreshold;
  }
  if (m_level == 0 && !cu.chroma)
  {
    // L0: the map fixes the QT depth only; MTT splits stay with VTM's RDO. A QT leaf forces the non-split
    // search (past LCTUFast), or a 64x64 leaf could be left with no mode at all.
    if (!qtLegal)
    {
      return {};
    }
    const bool   qt         = c.implied == kQt;
    const double confidence = qt ? c.prob[kIdxQt] : 1.0 - c.prob[kIdxQt];
    if (confidence < threshold)
    {
      return {};
    }
    return qt ? Decision{ uint8_t(allowed & ~kQt), kQt } : Decision{ kQt, forceMask(cu, kNoSplit, threshold) };
  }
  // Lk: the smallest set of modes, the map's own split first and then by probability, whose mass reaches
  // the threshold (threshold 0: the map's split alone, as in TIP-23).
  uint8_t set  = c.implied;
  double  mass = c.prob[bitIndex(c.implied)];
  while (mass < threshold)
  {
    uint8_t next = 0;
    for (uint8_t mode : kPriority)
    {
      if (!(set & mode) && c.prob[bitIndex(mode)] > 0.0 && (next == 0 || c.prob[bitIndex(mode)] > c.prob[bitIndex(next)]))
      {
        next = mode;
      }
    }
    if (next == 0)
    {
      break;
    }
    set |= next;
    mass += c.prob[bitIndex(next)];
  }
  return Decision{ uint8_t(allowed & ~set), forceMask(cu, set, threshold) };
}

// Walks the node's split path down from its 64x64 block: at each ancestor the guide rules, the split the path
// took against the one its maps imply. The child on the path is the one holding the node's top-left sample.
bool MapGuide::belowUnimpliedSplit(const CuQuery& cu) const
{
  constexpr int kSeriesBits = 5;
  CuQuery       a = cu;
  a.x           = cu.x - cu.x % kBlock;
  a.y           = cu.y - cu.y % kBlock;
  a.width = a.height = kBlock;
  a.qtDepth = 1;
  a.mtDepth = a.btDepth = 0;
  for (int level = 1; level < cu.qtDepth + cu.mtDepth; level++)
  {
    const unsigned split = unsigned(cu.splitSeries >> (kSeriesBits * level)) & 31u;
    Candidates     c;
    if (candidates(a, c) && c.implied != uint8_t(1u << split))
    {
      return true;
    }
    const int dx = cu.x - a.x, dy = cu.y - a.y;
    switch (split)
    {
    case 1:   // QT
      a.width /= 2;
      a.height /= 2;
      a.x += dx >= a.width ? a.width : 0;
      a.y += dy >= a.height ? a.height : 0;
      a.qtDepth++;
      continue;
    case 2: a.height /= 2; a.y += dy >= a.height ? a.height : 0; break;   // BT_H
    case 3: a.width /= 2; a.x += dx >= a.width ? a.width : 0; break;      // BT_V
    case 4:   // TT_H: quarter, half, quarter
    {
      const int q = a.height / 4;
      a.y += dy < q ? 0 : dy < 3 * q ? q : 3 * q;
      a.height = dy < q || dy >= 3 * q ? q : 2 * q;
      break;
    }
    case 5:   // TT_V
    {
      const int q = a.width / 4;
      a.x += dx < q ? 0 : dx < 3 * q ? q : 3 * q;
      a.width = dx < q || dx >= 3 * q ? q : 2 * q;
      break;
    }
    default: return false;   // not a split: the series ends above the node
    }
    a.mtDepth++;
    a.btDepth++;
  }
  return false;
}

// The non-split search is forced (past VTM's own refusals, such as LCTUFast's minimum QT depth) only with
// hard maps in whole blocks: there a map "no split" is the node's only candidate, and without the force it
// would end in the encoder's fallback (VTM's own list). With a candidate set (threshold > 0) or in a block
// that crosses the picture edge, the non-split search is left to VTM's heuristics, as when the bench curve
// was measured. (Forcing it there is safe: GuidedModeCtrl never forces ETM_INTRA while VTM reuses a cached
// coding of the CU.)
uint8_t MapGuide::forceMask(const CuQuery& cu, uint8_t set, double threshold) const
{
  const int  b     = blockIndex(cu);
  const bool whole = b >= 0 && maps(cu).whole[size_t(b)];
  return (threshold > 0.0 || !whole) ? uint8_t(set & ~kNoSplit) : set;
}
}   // namespace pmp
