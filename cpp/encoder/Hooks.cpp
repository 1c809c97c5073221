// The hook implementations called from the patched VTM sources.
#include "hooks/PmpHooks.h"

#include "encoder/Guarded.h"
#include "encoder/GuidedModeCtrl.h"
#include "encoder/Session.h"

#include "CommonLib/CodingStructure.h"
#include "CommonLib/Picture.h"
#include "CommonLib/Slice.h"
#include "Utilities/program_options_lite.h"

namespace pmp
{
namespace hooks
{

EncModeCtrl* createModeCtrl()
{
  // Value-initialised (note the parentheses): zeroed before construction, see GuidedModeCtrl.h.
  return new GuidedModeCtrl();
}

void addEncoderOptions(ProgramOptionsLite::Options& opts)
{
  EncoderOptions& o = Session::current().options();
  // clang-format off
  opts.addOptions()
  ("PMPDumpPartition", o.dumpPartition, std::string(""), "pmp-vvc: write the final partition of every coded picture to this file ({qp}: the first picture's QP)")
  ("PMPGuide",         o.guide,         std::string(""), "pmp-vvc: partition guide to use (a name known to pmp_vvc.codec.guides)")
  ("PMPModel",         o.model,         std::string(""), "pmp-vvc: ONNX partition-map model; implies --PMPGuide=model")
  ("PMPLevel",         o.level,         2,               "pmp-vvc: acceleration level 0..3 (MTT layers the map decides)")
  ("PMPThreshold",     o.threshold,     0.0,             "pmp-vvc: confidence below which a node keeps more candidates (0: hard maps)")
  ("PMPQtThreshold",   o.qtThreshold,   -1.0,            "pmp-vvc: the same at nodes where QT is legal (negative: PMPThreshold)")
  ("PMPThreads",       o.threads,       1,               "pmp-vvc: onnxruntime intra-op threads")
  ("PMPEdgeBlocks",    o.edgeBlocks,    true,            "pmp-vvc: the model also rules inside 64x64 blocks that cross the picture edge")
  ("PMPChromaLuma",    o.chromaLuma,    0,               "pmp-vvc: chroma tree: test splits of a node only where a luma CU is smaller than 1/k of it (0: off)");
  // clang-format on
}

void pictureStart(Picture& pic, const Slice& slice)
{
  Session& session = Session::current();
  guarded("partition dump", [&] { session.openDump(slice.getSliceQp()); });
  guarded("guide", [&] {
    Guide* guide = session.guide();
    session.setGuideActive(guide != nullptr);
    if (guide == nullptr)
    {
      return;
    }
    static_assert(sizeof(Pel) == sizeof(int16_t), "the guide's plane view expects 16-bit samples");
    const CPelBuf luma = static_cast<const Picture&>(pic).getTrueOrigBuf(COMPONENT_Y);
    PictureInfo   info;
    info.luma.data   = reinterpret_cast<const int16_t*>(luma.buf);
    info.luma.width  = int(luma.width);
    info.luma.height = int(luma.height);
    info.luma.stride = std::ptrdiff_t(luma.stride);
    info.bitDepth    = slice.getSPS()->getBitDepth(ChannelType::LUMA);
    info.qp          = slice.getSliceQp();
    info.poc         = slice.getPOC();
    const double t0  = processCpuSeconds();
    guide->beginPicture(info);
    session.guideStats().cpuSeconds += processCpuSeconds() - t0;
    session.guideStats().pictures++;
  });
}

void ctuCompressed(const CodingStructure& cs, const UnitArea& ctuArea)
{
  Session& session = Session::current();
  if (session.guideActive())
  {
    guarded("guide", [&] { session.guide()->endCtu(int(ctuArea.lx()), int(ctuArea.ly())); });
  }
}

void pictureCompressed(const Picture& pic)
{
  Session& session = Session::current();
  if (PartitionDump* dump = session.dump())
  {
    guarded("partition dump", [&] { dump->writePicture(pic, pic.slices[0]->getSliceQp()); });
  }
}
}   // namespace hooks
}   // namespace pmp
