// Writes the final partition of every coded picture (both trees), the final coding modes of its CUs, and the
// RD cost of every mode the split search tested at each node, in the compact binary format read by
// pmp_vvc.codec.dump.read_dump (version 2; version 1 files, CU records only, are still read there):
//   file:    8 bytes "PMPDUMP\x02", then one block per coded picture
//   picture: int32 poc, width, height, qp, num_cus, num_nodes (little-endian), then num_cus CU records, then
//            num_nodes node records
//   CU:      uint16 x, y, w, h; uint8 chroma, qtDepth, btDepth, mtDepth; uint64 splitSeries;
//            uint8 intraDir (the tree's own: luma mode or MIP index, chroma mode), mip (bit 0 MIP, bit 1
//            transposed), isp (0 none, 1 horizontal, 2 vertical), lfnstIdx, mtsIdx (first TU of the tree's
//            first component: 0 DCT2, 1 transform skip, 2..5 MTS), multiRefIdx, bdpcm (0 none, 1 hor, 2 ver),
//            reserved (28 bytes)
//   node:    uint16 x, y, w, h; uint8 chroma, qtDepth, btDepth, mtDepth; uint64 splitSeries (the path to the
//            node); uint8 tested (bits as pmp::SplitMode: the modes the search ran); then the state its intra
//            search started from (pmp::SearchState): uint8 relatedValid, bestISPIntraMode, uint8 reused (1: the
//            non-split coding was not searched but reused from an earlier visit, VTM's ETM_RECO_CACHED), uint16
//            ispPredModeVal (bits in VTM's declaration order: valid, notIsp, verIsp, ispLfnstIdx (2), mipFlag,
//            lowIspCost, bestPredModeDCT2 (9)), 2 reserved; float32 cost[6] (non-split, QT, BT_H, BT_V, TT_H,
//            TT_V; +inf where the mode was not run or gave up over its budget); float64 bestDCT2NonISPCost,
//            bestNonDCT2Cost (of the related CU), costBudget (76 bytes)
// Nodes are every visit of the split search to a node of at most 64x64 luma inside the picture, in the order
// the search finished them; the same area can be visited through several split paths.
// Positions and sizes are in luma samples for both trees; splitSeries holds 5 bits per tree level, root level
// in the low bits (1 QT, 2 BT_H, 3 BT_V, 4 TT_H, 5 TT_V), as VTM's CodingUnit::splitSeries.
#pragma once

#include "guide/Guide.h"

#include <array>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

struct Picture;

namespace pmp
{
struct NodeGeometry
{
  uint16_t x, y, w, h;
  uint8_t  chroma, qtDepth, btDepth, mtDepth;
  uint64_t splitSeries;
};

struct CuModes
{
  uint8_t intraDir, mip, isp, lfnstIdx, mtsIdx, multiRefIdx, bdpcm;
};

struct CuRecord
{
  NodeGeometry node;
  CuModes      modes;
};

// Order of NodeRecord::cost: the non-split search, then the split modes in SplitMode bit order.
constexpr int kNumNodeModes = 6;

struct NodeRecord
{
  NodeGeometry                        node;
  uint8_t                             tested = 0;
  bool                                reused = false;
  SearchState                         state;   // the intra search's starting state
  std::array<float, kNumNodeModes>    cost{};
};

class PartitionDump
{
public:
  // Opens (truncates) the file; throws std::runtime_error if it cannot be written.
  explicit PartitionDump(const std::string& path);
  // A finished node visit of the picture being compressed; written with the picture.
  void addNode(const NodeRecord& node) { m_nodes.push_back(node); }
  void writePicture(const Picture& pic, int qp);

private:
  static std::vector<CuRecord> collect(const Picture& pic);
  std::ofstream           m_out;
  std::string             m_path;
  std::vector<NodeRecord> m_nodes;
};
}   // namespace pmp
