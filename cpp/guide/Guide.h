// The partition guide: the one interface between whatever predicts partitions (a model, an oracle replaying a
// dump, a test) and the encoder's split search. Plain C++17, no VTM types, so guides are testable alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace pmp
{
// Test modes a guide can rule on, as bits of a mask.
enum SplitMode : uint8_t
{
  kNoSplit = 1u << 0,   // the non-split (intra) search of the CU
  kQt      = 1u << 1,
  kBtH     = 1u << 2,
  kBtV     = 1u << 3,
  kTtH     = 1u << 4,
  kTtV     = 1u << 5,
  kAllModes = kNoSplit | kQt | kBtH | kBtV | kTtH | kTtV,
};

// A read-only view of one picture plane; valid only during the call that receives it.
struct PlaneView
{
  const int16_t* data   = nullptr;
  int            width  = 0;
  int            height = 0;
  std::ptrdiff_t stride = 0;   // in samples
};

// The split-legality limits of one tree in a picture (VTM's SPS / picture header), all in luma samples.
// Defaults: VTM's all-intra cfg.
struct TreeLimits
{
  int maxBt      = 32;   // MaxBTLumaISlice (chroma: MaxBTChromaISlice, 64)
  int maxTt      = 32;   // MaxTTLumaISlice (chroma: MaxTTChromaISlice, 32)
  int maxMtDepth = 3;    // MaxMTTHierarchyDepthISliceL (chroma: ...ISliceC)
  int minQt      = 8;    // MinQTLumaISlice (chroma: MinQTChromaISliceInChromaSamples, in luma samples)
};

constexpr TreeLimits kChromaDefaultLimits{ 64, 32, 3, 8 };

// VTM's ChromaFormat values.
enum ChromaFormatIdc : int
{
  kChroma400 = 0,
  kChroma420 = 1,
  kChroma422 = 2,
  kChroma444 = 3,
};

struct PictureInfo
{
  PlaneView luma;       // the original (not LMCS-reshaped) planes, at the internal bit depth
  PlaneView cb, cr;     // empty for 4:0:0
  int       chromaFormat = kChroma420;
  int       bitDepth = 0;
  int       qp       = 0;   // slice QP
  int       poc      = 0;
  TreeLimits lumaLimits;
  TreeLimits chromaLimits = kChromaDefaultLimits;   // of the chroma tree of a dual-tree picture
};

// One CU node of the split search. Positions and sizes are in luma samples for both trees.
struct CuQuery
{
  int  x = 0, y = 0, width = 0, height = 0;
  bool chroma  = false;   // chroma tree of a dual-tree picture
  int  qtDepth = 0;
  int  mtDepth = 0;
  int  btDepth = 0;
  // The split path to the node: 5 bits per tree level, root level in the low bits (as VTM's splitSeries).
  uint64_t splitSeries = 0;
};

// The state a node's intra search starts from, beyond the picture itself. VTM's fast ISP search (1) reads what
// an earlier visit of the same area found (its "related CU": which ISP split and mode won, at what costs) and
// (2) gives up on ISP against a cost budget, the cost the parent can still afford. Both depend on which other
// split paths the search took before, so a guided encode that visits each area once starts elsewhere.
struct SearchState
{
  bool     relatedValid       = false;   // an earlier visit left its result
  uint8_t  bestISPIntraMode   = 0;
  uint16_t ispPredModeVal     = 0;       // VTM's IspPredModeVal bits, packed in declaration order from bit 0
  double   bestDCT2NonISPCost = 0.0;
  double   bestNonDCT2Cost    = 0.0;
  double   costBudget         = 0.0;     // the intra search's maxCostAllowed (a huge value: no budget)
};

// veto: modes that must not be RD-tested. force: modes that must be tested even where VTM's own heuristics
// (LCTUFast depth limits, TT skipping, ...) would skip them; illegal splits are never tested.
struct Decision
{
  uint8_t veto  = 0;
  uint8_t force = 0;
};

class Guide
{
public:
  virtual ~Guide() = default;
  virtual void     beginPicture(const PictureInfo& picture) = 0;
  virtual Decision decide(const CuQuery& cu)                 = 0;
  virtual void     endCtu(int /*x*/, int /*y*/) {}
  // The state the node's intra search should start from (true), or VTM's own (false). A guide that replays an
  // encode gives that encode's state at the same node, so that the replay codes its CUs as that encode did.
  virtual bool     searchState(const CuQuery& /*cu*/, SearchState& /*out*/) const { return false; }
};

// An error raised by a guide; the encoder reports it and stops with a non-zero exit code.
class GuideError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};
}   // namespace pmp
