#include "encoder/PartitionDump.h"

#include "CommonLib/CodingStructure.h"
#include "CommonLib/Picture.h"
#include "CommonLib/Slice.h"

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
  // The picture's CU list in coding order; traverseCUs over the picture area misses partial CTU columns.
  std::vector<CuRecord> cus;
  for (const CodingUnit* cu: pic.cs->cus)
  {
    // Chroma-tree CUs have no luma block: their position and size come from Cb, scaled to luma units.
    const bool     chroma = cu->chType == ChannelType::CHROMA;
    const Position pos    = chroma ? cu->Cb().lumaPos() : Position(cu->Y());
    const Size     size   = chroma ? cu->Cb().lumaSize() : Size(cu->Y());
    cus.push_back({ uint16_t(pos.x), uint16_t(pos.y), uint16_t(size.width), uint16_t(size.height), uint8_t(chroma),
                    uint8_t(cu->qtDepth), uint8_t(cu->btDepth), uint8_t(cu->mtDepth), uint64_t(cu->splitSeries) });
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
