#include "encoder/PartitionDump.h"

#include "CommonLib/CodingStructure.h"
#include "CommonLib/Picture.h"
#include "CommonLib/Slice.h"
#include "CommonLib/UnitTools.h"

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
}   // namespace

PartitionDump::PartitionDump(const std::string& path) : m_out(path, std::ios::binary | std::ios::trunc), m_path(path)
{
  if (!m_out)
  {
    throw std::runtime_error("cannot write the partition dump " + path);
  }
  m_out.write("PMPDUMP\x01", 8);
}

std::vector<CuRecord> PartitionDump::collect(const Picture& pic)
{
  const CodingStructure& cs = *pic.cs;
  std::vector<CuRecord>  cus;
  const int numTrees = (CS::isDualITree(cs) && isChromaEnabled(cs.pcv->chrFormat)) ? 2 : 1;
  for (int t = 0; t < numTrees; t++)
  {
    const ChannelType chType = ChannelType(t);
    for (const CodingUnit& cu: cs.traverseCUs(CS::getArea(cs, cs.area, chType), chType))
    {
      // Chroma-tree CUs have no luma block: their position and size come from Cb, scaled to luma units.
      const Position pos  = t == 0 ? Position(cu.Y()) : cu.Cb().lumaPos();
      const Size     size = t == 0 ? Size(cu.Y()) : cu.Cb().lumaSize();
      cus.push_back({ uint16_t(pos.x), uint16_t(pos.y), uint16_t(size.width), uint16_t(size.height), uint8_t(t),
                      uint8_t(cu.qtDepth), uint8_t(cu.btDepth), uint8_t(cu.mtDepth), uint64_t(cu.splitSeries) });
    }
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
  for (const CuRecord& c: cus)
  {
    putLE(m_out, c.x);
    putLE(m_out, c.y);
    putLE(m_out, c.w);
    putLE(m_out, c.h);
    putLE(m_out, c.chroma);
    putLE(m_out, c.qtDepth);
    putLE(m_out, c.btDepth);
    putLE(m_out, c.mtDepth);
    putLE(m_out, c.splitSeries);
  }
  m_out.flush();
  if (!m_out)
  {
    throw std::runtime_error("writing the partition dump " + m_path + " failed");
  }
}
}   // namespace pmp
