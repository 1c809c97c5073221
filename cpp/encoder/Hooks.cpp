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
namespace
{
PlaneView planeView(const CPelBuf& buf)
{
  static_assert(sizeof(Pel) == sizeof(int16_t), "the guide's plane view expects 16-bit samples");
  return { reinterpret_cast<const int16_t*>(buf.buf), int(buf.width), int(buf.height), std::ptrdiff_t(buf.stride) };
}

// The split limits VTM's partitioner applies to a tree of this slice (sizes in luma samples).
TreeLimits treeLimits(const PreCalcValues& pcv, const Slice& slice, ChannelType ch)
{
  return { int(pcv.getMaxBtSize(slice, ch)), int(pcv.getMaxTtSize(slice, ch)), int(pcv.getMaxBtDepth(slice, ch)),
           int(pcv.getMinQtSize(slice, ch)) };
}
}   // namespace

namespace hooks
{

EncModeCtrl* createModeCtrl()
{
  // Value-initialised (note the parentheses): zeroed before construction, see GuidedModeCtrl.h.
  return new GuidedModeCtrl();
}

void addEncoderOptions(ProgramOptionsLite::Options& opts)
{
  EncoderOptions&      o = Session::current().options();
  const EncoderOptions d{};   // the defaults are EncoderOptions' member initialisers
  // clang-format off
  opts.addOptions()
  ("PMPDumpPartition",   o.dumpPartition,   d.dumpPartition,   "pmp-vvc: write the final partition of every coded picture to this file ({qp}: the first picture's QP)")
  ("PMPGuide",           o.guide,           d.guide,           "pmp-vvc: partition guide to use (a name known to pmp_vvc.codec.guides)")
  ("PMPModel",           o.model,           d.model,           "pmp-vvc: ONNX partition-map model; implies --PMPGuide=model")
  ("PMPLevel",           o.level,           d.level,           "pmp-vvc: acceleration level 0..3 (MTT layers the map decides)")
  ("PMPThreshold",       o.threshold,       d.threshold,       "pmp-vvc: confidence below which a node keeps more candidates (0: hard maps); or per QP: QP:t,QP:t,... (linear between)")
  ("PMPQtThreshold",     o.qtThreshold,     d.qtThreshold,     "pmp-vvc: the same at nodes where QT is legal (negative: PMPThreshold)")
  ("PMPBranchThreshold", o.branchThreshold, d.branchThreshold, "pmp-vvc: the threshold below a split the maps did not imply (negative: none)")
  ("PMPSideThreshold",   o.sideThreshold,   d.sideThreshold,   "pmp-vvc: side:t,side:t,...: the threshold at luma nodes of that shorter side (4..64), in place of the others")
  ("PMPThreads",         o.threads,         d.threads,         "pmp-vvc: onnxruntime intra-op threads")
  ("PMPEdgeBlocks",      o.edgeBlocks,      d.edgeBlocks,      "pmp-vvc: the model also rules inside 64x64 blocks that cross the picture edge")
  ("PMPChromaLevel",     o.chromaLevel,     d.chromaLevel,     "pmp-vvc: chroma tree (dual tree) ruled by chroma maps at level 1..3 (0: VTM's search)")
  ("PMPChromaThreshold", o.chromaThreshold, d.chromaThreshold, "pmp-vvc: the chroma tree's confidence threshold (negative: PMPThreshold)")
  ("PMPChromaModel",     o.chromaModel,     d.chromaModel,     "pmp-vvc: ONNX chroma model (file or shipped name; default: the --PMPModel's companion)");
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
    const Picture&  orig = pic;
    PictureInfo     info;
    info.luma         = planeView(orig.getTrueOrigBuf(COMPONENT_Y));
    info.chromaFormat = int(pic.chromaFormat);
    if (pic.chromaFormat != ChromaFormat::_400)
    {
      info.cb = planeView(orig.getTrueOrigBuf(COMPONENT_Cb));
      info.cr = planeView(orig.getTrueOrigBuf(COMPONENT_Cr));
    }
    info.bitDepth     = slice.getSPS()->getBitDepth(ChannelType::LUMA);
    info.qp           = slice.getSliceQp();
    info.poc          = slice.getPOC();
    info.lumaLimits   = treeLimits(*pic.cs->pcv, slice, ChannelType::LUMA);
    info.chromaLimits = treeLimits(*pic.cs->pcv, slice, ChannelType::CHROMA);
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
