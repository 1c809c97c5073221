// Writes the final partition of every coded picture (both trees) in the compact binary format read by
// pmp_vvc.partition.read_dump:
//   file:    8 bytes "PMPDUMP\x01", then one block per coded picture
//   picture: int32 poc, width, height, qp, num_cus (little-endian), then num_cus CU records
//   CU:      uint16 x, y, w, h; uint8 chroma, qtDepth, btDepth, mtDepth; uint64 splitSeries (20 bytes)
// Positions and sizes are in luma samples for both trees; splitSeries holds 5 bits per tree level, root level
// in the low bits (1 QT, 2 BT_H, 3 BT_V, 4 TT_H, 5 TT_V), as VTM's CodingUnit::splitSeries.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

struct Picture;

namespace pmp
{
struct CuRecord
{
  uint16_t x, y, w, h;
  uint8_t  chroma, qtDepth, btDepth, mtDepth;
  uint64_t splitSeries;
};

class PartitionDump
{
public:
  // Opens (truncates) the file; throws std::runtime_error if it cannot be written.
  explicit PartitionDump(const std::string& path);
  void writePicture(const Picture& pic, int qp);

private:
  static std::vector<CuRecord> collect(const Picture& pic);
  std::ofstream m_out;
  std::string   m_path;
};
}   // namespace pmp
