// State of one encoder run in this process: the --PMP* options, the active guide, the RD-check counters and
// the partition dump. VTM creates its encoder objects deep inside its own main(), so the hooks reach this
// state through Session::current(); runEncoder() resets it before every run.
#pragma once

#include "encoder/PartitionDump.h"
#include "guide/Guide.h"

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace pmp
{
// The --PMP* encoder options, with VTM-style names (see addEncoderOptions in Hooks.cpp).
struct EncoderOptions
{
  std::string dumpPartition;   // --PMPDumpPartition
  std::string guide;           // --PMPGuide: name of a guide built by the guide factory
  std::string model;           // --PMPModel
  int         level     = 2;   // --PMPLevel
  std::string threshold = "0"; // --PMPThreshold: a number, or QP:threshold knots (checked in Python)
  double      qtThreshold = -1.0; // --PMPQtThreshold (negative: --PMPThreshold)
  double      branchThreshold = -1.0; // --PMPBranchThreshold (negative: off)
  std::string sideThreshold;   // --PMPSideThreshold: side:threshold pairs (checked in Python); empty: none
  int         threads   = 1;   // --PMPThreads
  bool        edgeBlocks = true; // --PMPEdgeBlocks
  int         chromaLevel = 0; // --PMPChromaLevel (0: the chroma tree keeps VTM's search)
  double      chromaThreshold = -1.0; // --PMPChromaThreshold (negative: --PMPThreshold)
  std::string chromaModel;     // --PMPChromaModel (empty: the luma model's companion)

  // Name/value strings handed to the guide factory.
  std::map<std::string, std::string> asStrings() const;
  bool wantsGuide() const { return !guide.empty() || !model.empty(); }
};

enum CounterIndex
{
  kIntra = 0,
  kSplitQt,
  kSplitBtH,
  kSplitBtV,
  kSplitTtH,
  kSplitTtV,
  kNumCounters
};

// Deterministic complexity counters: RD tests that were run, per channel type (0 luma, 1 chroma).
struct RdCounters
{
  std::array<std::array<uint64_t, kNumCounters>, 2> tested{};
  // Samples of the tree's first component over its non-split (intra) tests: the work of the intra search
  // grows with the block's area, so this follows the time where the count of tests does not.
  std::array<uint64_t, 2> intraSamples{};
  uint64_t fallbacks = 0;   // CUs where every guided mode was vetoed or failed and the full list was re-run
};

struct GuideStats
{
  uint64_t pictures   = 0;
  double   cpuSeconds = 0.0;   // process CPU time of beginPicture (where models run their network)
};

using GuideFactory = std::function<std::shared_ptr<Guide>(const std::map<std::string, std::string>&)>;

class Session
{
public:
  static Session& current();

  // Starts a run: clears the counters and options; an explicit guide overrides --PMPGuide/--PMPModel.
  void reset(std::shared_ptr<Guide> guide, GuideFactory factory);

  EncoderOptions&       options() { return m_options; }
  const EncoderOptions& options() const { return m_options; }
  RdCounters&           counters() { return m_counters; }
  const RdCounters&     counters() const { return m_counters; }
  GuideStats&           guideStats() { return m_guideStats; }

  // The guide for the coming picture; built by the factory on first use (errors surface before frame 0).
  Guide* guide();
  // Guides only rule on pictures they were handed; false between runs and before the first picture.
  bool guideActive() const { return m_guideActive; }
  void setGuideActive(bool active) { m_guideActive = active; }

  // The partition dump of --PMPDumpPartition, opened at the first picture (a "{qp}" in the path becomes its slice
  // QP, so that one option string serves a sweep over QPs); nullptr when not asked for or not open yet.
  PartitionDump* openDump(int qp);
  PartitionDump* dump() { return m_dump.get(); }

  // Appends one text block with the counters (and guide time) to the encoder's log.
  std::string summary() const;

private:
  EncoderOptions         m_options;
  RdCounters             m_counters;
  GuideStats             m_guideStats;
  std::shared_ptr<Guide> m_guide;
  GuideFactory           m_factory;
  std::unique_ptr<PartitionDump> m_dump;
  bool                   m_factoryTried = false;
  bool                   m_guideActive  = false;
};

// Process CPU time in seconds (all threads: onnxruntime's work is counted too).
double processCpuSeconds();
}   // namespace pmp
