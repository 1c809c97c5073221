// VTM's all-intra mode controller (EncModeCtrlMTnoRQT) with two additions:
//  * it counts every RD test it lets through (the deterministic complexity counters), and
//  * when a guide is active, the guide may veto or force the test modes of each CU of at most 64x64 luma
//    that lies inside the picture.
// With no guide active, every decision is VTM's own, so the bitstream is identical to vanilla VTM.
#pragma once

#include "EncModeCtrl.h"
#include "encoder/PartitionDump.h"
#include "encoder/Session.h"

#include <memory>
#include <vector>

namespace pmp
{
class GuidedModeCtrl : public EncModeCtrlMTnoRQT
{
public:
  // No user-provided constructor on purpose: `new GuidedModeCtrl()` then value-initialises, which zeroes the
  // whole object, VTM's bases included, before they are constructed. VTM-23.13's BestEncInfoCache never
  // initialises its private m_runType when palette mode is off, yet init() reads it and destroy() delete[]s
  // it: harmless on the zero pages of a fresh process, a crash at teardown on a dirty heap (a fork of a busy
  // Python process).

  void initCULevel(Partitioner& partitioner, const CodingStructure& cs) override;
  void finishCULevel(Partitioner& partitioner) override;
  bool tryMode(const EncTestMode& encTestmode, const CodingStructure& cs, Partitioner& partitioner) override;
  bool useModeResult(const EncTestMode& encTestmode, CodingStructure*& tempCS, Partitioner& partitioner) override;

private:
  // Guidance of one CU level, kept in step with VTM's own per-level context stack.
  struct CuGuidance
  {
    bool                     guided       = false;
    bool                     asked        = false;   // the guide ruled on this node (query below)
    CuQuery                  query;
    Decision                 decision;
    bool                     listSeen     = false;   // the sentinel and the saved list are in place
    bool                     sentinelArmed = false;
    bool                     fallback     = false;   // the unmodified list is being re-run
    std::unique_ptr<ComprCUCtx> pristine;            // VTM's context as initCULevel left it, for the fallback
    bool                     recorded     = false;   // a node of the partition dump: its mode costs are kept
    NodeRecord               node;
    bool                     budgetSeen   = false;
  };

  bool guidedTry(CuGuidance& g, const EncTestMode& mode, const CodingStructure& cs, Partitioner& partitioner);
  void count(const EncTestMode& mode, const Partitioner& partitioner);

  Session&                m_session = Session::current();
  std::vector<CuGuidance> m_levels;
};
}   // namespace pmp
