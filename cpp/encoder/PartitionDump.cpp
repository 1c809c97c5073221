#include "encoder/PartitionDump.h"

#include "CommonLib/CodingStructure.h"
#include "CommonLib/Picture.h"
#include "CommonLib/Slice.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace pmp
{
namespace
{
template<typename T> void putLE(std::ofstream& out, T value)
{
  for (size_t i = 0; i < sizeof(T); i++)
  {
    out.put(char((uint64_t(value) >> (8 * i)) & 0xff));
  }
}

// An IEEE float (float32 or float64) as the little-endian bytes of its bit pattern.
template<typename Bits, typename Float> void putFloat(std::ofstream& out, Float value)
{
  static_assert(sizeof(Bits) == sizeof(Float), "bit pattern and float must have the same size");
  Bits bits = 0;
  std::memcpy(&bits, &value, sizeof(bits));
  putLE(out, bits);
}

void putNode(std::ofstream& out, const NodeGeometry& n)
{
  putLE(out, n.x);
  putLE(out, n.y);
  putLE(out, n.w);
  putLE(out, n.h);
  putLE(out, n.chroma);
  putLE(out, n.qtDepth);
  putLE(out, n.btDepth);
  putLE(out, n.mtDepth);
  putLE(out, n.splitSeries);
}

CuModes modesOf(const CodingUnit& cu, bool chroma)
{
  const PredictionUnit& pu  = *cu.firstPU;
  const ChannelType     ch  = chroma ? ChannelType::CHROMA : ChannelType::LUMA;
  const ComponentID     cmp = chroma ? COMPONENT_Cb : COMPONENT_Y;
  CuModes               m{};
  m.intraDir    = uint8_t(pu.intraDir[ch]);
  m.mip         = chroma ? 0 : uint8_t((cu.mipFlag ? 1 : 0) | (pu.mipTransposedFlag ? 2 : 0));
  m.isp         = chroma ? 0 : uint8_t(int(cu.ispMode) + 1);
  m.lfnstIdx    = cu.lfnstIdx;
  m.mtsIdx      = cu.firstTU != nullptr ? uint8_t(std::max(0, int(cu.firstTU->mtsIdx[cmp]))) : 0;
  m.multiRefIdx = chroma ? 0 : pu.multiRefIdx;
  m.bdpcm       = uint8_t(cu.getBdpcmMode(cmp));
  return m;
}
}   // namespace

PartitionDump::PartitionDump(const std::string& path) : m_out(path, std::ios::binary | std::ios::trunc), m_path(path)
{
  if (!m_out)
  {
    throw std::runtime_error("cannot write the partition dump " + path);
  }
  m_out.write("PMPDUMP\x02", 8);
}

std::vector<CuRecord> PartitionDump::collect(const Picture& pic)
{
  // The picture's CU list in coding order; traverseCUs over the picture area misses partial CTU columns.
  std::vector<CuRecord> cus;
  for (const CodingUnit* cu: pic.cs->cus)
  {
    // Chroma-tree CUs have no luma block: their position and size come from Cb, scaled to luma units.
    const bool     chroma = cu->chType == ChannelType::CHROMA;
    const Position pos    = chroma ? cu->Cb().lumaPos() : Position(cu->Y());
    const Size     size   = chroma ? cu->Cb().lumaSize() : Size(cu->Y());
    cus.push_back({ { uint16_t(pos.x), uint16_t(pos.y), uint16_t(size.width), uint16_t(size.height),
                      uint8_t(chroma), uint8_t(cu->qtDepth), uint8_t(cu->btDepth), uint8_t(cu->mtDepth),
                      uint64_t(cu->splitSeries) },
                    modesOf(*cu, chroma) });
  }
  return cus;
}

void PartitionDump::writePicture(const Picture& pic, int qp)
{
  const std::vector<CuRecord> cus = collect(pic);
  putLE<int32_t>(m_out, pic.getPOC());
  putLE<int32_t>(m_out, int32_t(pic.lwidth()));
  putLE<int32_t>(m_out, int32_t(pic.lheight()));
  putLE<int32_t>(m_out, qp);
  putLE<int32_t>(m_out, int32_t(cus.size()));
  putLE<int32_t>(m_out, int32_t(m_nodes.size()));
  for (const CuRecord& c: cus)
  {
    putNode(m_out, c.node);
    for (uint8_t v: { c.modes.intraDir, c.modes.mip, c.modes.isp, c.modes.lfnstIdx, c.modes.mtsIdx,
                      c.modes.multiRefIdx, c.modes.bdpcm, uint8_t(0) })
    {
      putLE(m_out, v);
    }
  }
  for (const NodeRecord& n: m_nodes)
  {
    putNode(m_out, n.node);
    for (uint8_t v: { n.tested, uint8_t(n.state.relatedValid), n.state.bestISPIntraMode, uint8_t(n.reused) })
    {
      putLE(m_out, v);
    }
    putLE(m_out, n.state.ispPredModeVal);
    putLE(m_out, uint16_t(0));
    for (float c: n.cost)
    {
      putFloat<uint32_t>(m_out, c);
    }
    for (double c: { n.state.bestDCT2NonISPCost, n.state.bestNonDCT2Cost, n.state.costBudget })
    {
      putFloat<uint64_t>(m_out, c);
    }
  }
  m_nodes.clear();
  m_out.flush();
  if (!m_out)
  {
    throw std::runtime_error("writing the partition dump " + m_path + " failed");
  }
}
}   // namespace pmp
