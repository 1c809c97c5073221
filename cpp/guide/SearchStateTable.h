// The intra-search state of an earlier encode's node visits, looked up by node (position, size, split path): what
// a replaying guide hands back to the encoder so that each replayed CU starts its intra search from the state the
// earlier encode had there (see Guide::searchState).
#pragma once

#include "guide/Guide.h"

#include <cstdint>
#include <unordered_map>

namespace pmp
{
class SearchStateTable
{
public:
  void clear() { m_entries.clear(); }
  void add(const CuQuery& node, const SearchState& state) { m_entries[key(node)] = state; }
  bool find(const CuQuery& node, SearchState& out) const
  {
    const auto it = m_entries.find(key(node));
    if (it == m_entries.end())
    {
      return false;
    }
    out = it->second;
    return true;
  }
  size_t size() const { return m_entries.size(); }

private:
  struct Key
  {
    uint64_t geometry, series;
    bool     operator==(const Key& o) const { return geometry == o.geometry && series == o.series; }
  };
  struct Hash
  {
    size_t operator()(const Key& k) const { return std::hash<uint64_t>()(k.geometry * 0x9e3779b97f4a7c15ull ^ k.series); }
  };
  static Key key(const CuQuery& n)
  {
    const uint64_t g = (uint64_t(uint16_t(n.x)) << 48) | (uint64_t(uint16_t(n.y)) << 32)
                       | (uint64_t(uint16_t(n.width)) << 16) | uint64_t(uint16_t(n.height));
    return { g, n.splitSeries };
  }
  std::unordered_map<Key, SearchState, Hash> m_entries;
};
}   // namespace pmp
