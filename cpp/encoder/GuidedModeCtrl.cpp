#include "encoder/GuidedModeCtrl.h"

#include "encoder/Guarded.h"

#include "CommonLib/CodingStructure.h"
#include "CommonLib/UnitPartitioner.h"

#include <algorithm>
#include <limits>

namespace pmp
{
namespace
{
// The guide's bit for a test mode, or 0 for modes it does not rule on (POST_DONT_SPLIT bookkeeping, ...).
uint8_t modeBit(EncTestModeType type)
{
  switch (type)
  {
  case ETM_SPLIT_QT: return kQt;
  case ETM_SPLIT_BT_H: return kBtH;
  case ETM_SPLIT_BT_V: return kBtV;
  case ETM_SPLIT_TT_H: return kTtH;
  case ETM_SPLIT_TT_V: return kTtV;
  case ETM_INTRA:
  case ETM_RECO_CACHED:   // a non-split coding of this CU found earlier, reused
  case ETM_PALETTE:
  case ETM_IBC:
  case ETM_IBC_MERGE: return kNoSplit;
  default: return 0;
  }
}

// A mode's slot in NodeRecord::cost (the bit order of SplitMode), or -1.
int nodeSlot(EncTestModeType type)
{
  const uint8_t bit = modeBit(type);
  for (int slot = 0; slot < kNumNodeModes; slot++)
  {
    if (bit == (1u << slot))
    {
      return slot;
    }
  }
  return -1;
}

uint16_t packIspPredModeVal(const IspPredModeVal& v)
{
  return uint16_t(v.valid | (v.notIsp << 1) | (v.verIsp << 2) | (v.ispLfnstIdx << 3) | (v.mipFlag << 5)
                  | (v.lowIspCost << 6) | (v.bestPredModeDCT2 << 7));
}

// The related CU VTM's tryMode has loaded into a CU's context for its intra search (the budget comes later).
SearchState relatedState(const ComprCUCtx& ctx)
{
  SearchState r;
  r.relatedValid = ctx.relatedCuIsValid;
  if (r.relatedValid)
  {
    r.bestISPIntraMode   = ctx.bestISPIntraMode;
    r.ispPredModeVal     = packIspPredModeVal(ctx.ispPredModeVal);
    r.bestDCT2NonISPCost = ctx.bestDCT2NonISPCost;
    r.bestNonDCT2Cost    = ctx.bestNonDCT2Cost;
  }
  return r;
}

// Starts a CU's intra search from a given state. The budget: the search takes the smaller of its context's
// best non-split cost (none yet) and the parent's maxCostAllowed, so the context carries it.
void setSearchState(ComprCUCtx& ctx, const SearchState& r)
{
  ctx.relatedCuIsValid = r.relatedValid;
  if (r.relatedValid)
  {
    const uint16_t v                    = r.ispPredModeVal;
    ctx.ispPredModeVal.valid            = v & 1;
    ctx.ispPredModeVal.notIsp           = (v >> 1) & 1;
    ctx.ispPredModeVal.verIsp           = (v >> 2) & 1;
    ctx.ispPredModeVal.ispLfnstIdx      = (v >> 3) & 3;
    ctx.ispPredModeVal.mipFlag          = (v >> 5) & 1;
    ctx.ispPredModeVal.lowIspCost       = (v >> 6) & 1;
    ctx.ispPredModeVal.bestPredModeDCT2 = (v >> 7) & 0x1ff;
    ctx.bestISPIntraMode                = r.bestISPIntraMode;
    ctx.bestDCT2NonISPCost              = r.bestDCT2NonISPCost;
    ctx.bestNonDCT2Cost                 = r.bestNonDCT2Cost;
  }
  ctx.bestCostWithoutSplitFlags = std::min(ctx.bestCostWithoutSplitFlags, r.costBudget);
}

int counterIndex(EncTestModeType type)
{
  switch (type)
  {
  case ETM_INTRA: return kIntra;
  case ETM_SPLIT_QT: return kSplitQt;
  case ETM_SPLIT_BT_H: return kSplitBtH;
  case ETM_SPLIT_BT_V: return kSplitBtV;
  case ETM_SPLIT_TT_H: return kSplitTtH;
  case ETM_SPLIT_TT_V: return kSplitTtV;
  default: return -1;
  }
}

bool insidePicture(const CompArea& y, const CodingStructure& cs)
{
  return y.x + y.width <= cs.picture->lwidth() && y.y + y.height <= cs.picture->lheight();
}
}   // namespace

void GuidedModeCtrl::initCULevel(Partitioner& partitioner, const CodingStructure& cs)
{
  // The guidance is pushed first: VTM's initCULevel already asks tryMode about the first mode.
  CuGuidance      g;
  const UnitArea& area     = partitioner.currArea();
  const bool      chroma   = partitioner.isSepTree(cs) && isChroma(partitioner.chType);
  const CompArea  lumaArea = chroma ? CompArea(COMPONENT_Y, area.chromaFormat, area.Cb().lumaPos(),
                                               area.Cb().lumaSize())
                                    : area.Y();
  // Nodes above 64x64 and picture-boundary nodes keep VTM's implicit splits untouched.
  const bool ruled = lumaArea.width <= 64 && lumaArea.height <= 64 && insidePicture(lumaArea, cs);
  const bool asked = ruled && m_session.guideActive();
  const bool recorded = ruled && m_session.dump() != nullptr;
  const uint64_t series = asked || recorded ? uint64_t(partitioner.getSplitSeries()) : 0;
  if (asked)
  {
    CuQuery q;
    q.x       = lumaArea.x;
    q.y       = lumaArea.y;
    q.width   = lumaArea.width;
    q.height  = lumaArea.height;
    q.chroma  = chroma;
    q.qtDepth = partitioner.currQtDepth;
    q.mtDepth = partitioner.currMtDepth;
    q.btDepth = partitioner.currBtDepth;
    q.splitSeries = series;
    guarded("guide", [&] { g.decision = m_session.guide()->decide(q); });
    g.guided = (g.decision.veto | g.decision.force) != 0;
    g.asked  = true;
    g.query  = q;
  }
  if (recorded)
  {
    g.recorded = true;
    g.node.node = { uint16_t(lumaArea.x), uint16_t(lumaArea.y), uint16_t(lumaArea.width), uint16_t(lumaArea.height),
                    uint8_t(chroma), uint8_t(partitioner.currQtDepth), uint8_t(partitioner.currBtDepth),
                    uint8_t(partitioner.currMtDepth), series };
    g.node.cost.fill(std::numeric_limits<float>::infinity());
  }
  m_levels.push_back(std::move(g));
  EncModeCtrlMTnoRQT::initCULevel(partitioner, cs);
}

void GuidedModeCtrl::finishCULevel(Partitioner& partitioner)
{
  if (m_levels.back().recorded)
  {
    m_session.dump()->addNode(m_levels.back().node);
  }
  m_levels.pop_back();
  EncModeCtrlMTnoRQT::finishCULevel(partitioner);
}

bool GuidedModeCtrl::tryMode(const EncTestMode& encTestmode, const CodingStructure& cs, Partitioner& partitioner)
{
  // VTM may pass a reference into the mode stack itself, which guidedTry can reallocate: work on a copy.
  const EncTestMode mode = encTestmode;
  CuGuidance&       g    = m_levels.back();
  const bool        ok   = (g.guided && !g.fallback) ? guidedTry(g, mode, cs, partitioner)
                                                     : EncModeCtrlMTnoRQT::tryMode(mode, cs, partitioner);
  if (ok && g.asked && mode.type == ETM_INTRA)
  {
    // VTM's tryMode has just loaded the related CU of this area into the context of the intra search.
    SearchState state;
    if (m_session.guide()->searchState(g.query, state))
    {
      setSearchState(m_ComprCUCtxList.back(), state);
    }
  }
  if (ok)
  {
    count(mode, partitioner);
    if (g.recorded && mode.type == ETM_INTRA)
    {
      const double budget = g.node.state.costBudget;
      g.node.state        = relatedState(m_ComprCUCtxList.back());
      g.node.state.costBudget = budget;
    }
  }
  return ok;
}

bool GuidedModeCtrl::guidedTry(CuGuidance& g, const EncTestMode& mode, const CodingStructure& cs,
                               Partitioner& partitioner)
{
  auto& testModes = m_ComprCUCtxList.back().testModes;
  if (!g.listSeen)
  {
    // First question of this CU: VTM's context holds its whole list. Keep a copy for the fallback, and put a
    // sentinel at the bottom of the stack, so that the guide gets a last word before the list runs dry.
    g.listSeen      = true;
    g.pristine      = std::make_unique<ComprCUCtx>(m_ComprCUCtxList.back());
    testModes.insert(testModes.begin(), EncTestMode{ ETM_POST_DONT_SPLIT });
    g.sentinelArmed = true;
  }
  if (g.sentinelArmed && testModes.size() == 1)
  {
    g.sentinelArmed = false;
    if (m_ComprCUCtxList.back().bestCS == nullptr)
    {
      // Nothing was tested successfully: re-run VTM's own list from VTM's own context, as if the guide had
      // never ruled here. The caller pops the top entry after this returns false, hence the placeholder.
      g.fallback = true;
      m_session.counters().fallbacks++;
      m_ComprCUCtxList.back() = *g.pristine;
      m_ComprCUCtxList.back().testModes.push_back(EncTestMode{ ETM_POST_DONT_SPLIT });
    }
    return false;
  }

  const uint8_t bit = modeBit(mode.type);
  if (bit == 0 || partitioner.getImplicitSplit(cs) != CU_DONT_SPLIT)
  {
    return EncModeCtrlMTnoRQT::tryMode(mode, cs, partitioner);
  }
  if (g.decision.veto & bit)
  {
    // As VTM does when it skips a BT, so that its later TT/QT heuristics do not assume the BT was tested.
    if (mode.type == ETM_SPLIT_BT_H)
    {
      m_ComprCUCtxList.back().set(DID_HORZ_SPLIT, false);
    }
    if (mode.type == ETM_SPLIT_BT_V)
    {
      m_ComprCUCtxList.back().set(DID_VERT_SPLIT, false);
    }
    return false;
  }
  // VTM's own answer first: it keeps its bookkeeping (DID_QUAD_SPLIT, ISP hints) as in a normal run.
  const bool vtmSays = EncModeCtrlMTnoRQT::tryMode(mode, cs, partitioner);
  if (vtmSays || !(g.decision.force & bit))
  {
    return vtmSays;
  }
  // Forced past VTM's heuristics (LCTUFast minimum depth, TT skipping, ...), but never into an illegal split.
  // A forced non-split means the intra search, and not while VTM reuses a cached coding of this CU area
  // (ETM_RECO_CACHED then is the non-split): coding the CU twice would corrupt the coding structure.
  if (bit == kNoSplit)
  {
    return mode.type == ETM_INTRA && !m_ComprCUCtxList.back().get<bool>(IS_REUSING_CU);
  }
  return partitioner.canSplit(getPartSplit(mode), cs);
}

bool GuidedModeCtrl::useModeResult(const EncTestMode& encTestmode, CodingStructure*& tempCS, Partitioner& partitioner)
{
  CuGuidance& g = m_levels.back();
  if (g.recorded)
  {
    // The intra search reports once per transform pass (MTS, LFNST): the node's non-split cost is the best.
    if (encTestmode.type == ETM_INTRA && !g.budgetSeen)
    {
      // Only here does the mode carry the maxCostAllowed its intra search ran with.
      g.budgetSeen            = true;
      g.node.state.costBudget = encTestmode.maxCostAllowed;
    }
    const int slot = nodeSlot(encTestmode.type);
    if (slot >= 0 && tempCS->cost < double(g.node.cost[slot]))
    {
      g.node.cost[slot] = float(tempCS->cost);
    }
  }
  return EncModeCtrlMTnoRQT::useModeResult(encTestmode, tempCS, partitioner);
}

void GuidedModeCtrl::count(const EncTestMode& mode, const Partitioner& partitioner)
{
  const int idx = counterIndex(mode.type);
  if (idx >= 0)
  {
    const int ch = isChroma(partitioner.chType) ? 1 : 0;
    m_session.counters().tested[ch][idx]++;
    if (idx == kIntra)
    {
      m_session.counters().intraSamples[ch] += partitioner.currArea().block(partitioner.chType).area();
    }
  }
  CuGuidance& g = m_levels.back();
  if (g.recorded)
  {
    g.node.tested |= modeBit(mode.type);
    g.node.reused |= mode.type == ETM_RECO_CACHED;
  }
}
}   // namespace pmp
