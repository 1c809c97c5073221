// Hook points called from the patched VTM sources (see vtm_patches/README.md). Declarations only: the
// implementations live in cpp/encoder/Hooks.cpp, so that VTM's files include nothing else of ours.
#pragma once

class EncModeCtrl;
struct Picture;
class Slice;
class CodingStructure;
struct UnitArea;
namespace ProgramOptionsLite
{
struct Options;
}

namespace pmp
{
namespace hooks
{
// EncCu::create: the mode controller (VTM's EncModeCtrlMTnoRQT, extended with the guide and counters).
EncModeCtrl* createModeCtrl();
// EncAppCfg::parseCfg: registers the --PMP* options with VTM's option parser.
void addEncoderOptions(ProgramOptionsLite::Options& opts);
// EncGOP::compressGOP, before the slices of a picture are compressed.
void pictureStart(Picture& pic, const Slice& slice);
// EncSlice::encodeCtus, after each CTU's partition and modes are decided.
void ctuCompressed(const CodingStructure& cs, const UnitArea& ctuArea);
// EncGOP::compressGOP, after all slices of a picture are compressed (its partition is final).
void pictureCompressed(const Picture& pic);
}   // namespace hooks
}   // namespace pmp
