#include "encoder/Session.h"

#include <cstdio>
#include <ctime>
#include <sstream>

namespace pmp
{
std::map<std::string, std::string> EncoderOptions::asStrings() const
{
  std::ostringstream qtThr, branchThr, chromaThr;
  qtThr << qtThreshold;
  branchThr << branchThreshold;
  chromaThr << chromaThreshold;
  return { { "PMPGuide", guide },
           { "PMPModel", model },
           { "PMPLevel", std::to_string(level) },
           { "PMPThreshold", threshold },
           { "PMPQtThreshold", qtThr.str() },
           { "PMPBranchThreshold", branchThr.str() },
           { "PMPSideThreshold", sideThreshold },
           { "PMPThreads", std::to_string(threads) },
           { "PMPEdgeBlocks", edgeBlocks ? "1" : "0" },
           { "PMPChromaLevel", std::to_string(chromaLevel) },
           { "PMPChromaThreshold", chromaThr.str() },
           { "PMPChromaModel", chromaModel } };
}

Session& Session::current()
{
  static Session session;
  return session;
}

void Session::reset(std::shared_ptr<Guide> guide, GuideFactory factory)
{
  m_options      = EncoderOptions{};
  m_counters     = RdCounters{};
  m_guideStats   = GuideStats{};
  m_guide        = std::move(guide);
  m_factory      = std::move(factory);
  m_factoryTried = false;
  m_guideActive  = false;
  m_dump.reset();
}

PartitionDump* Session::openDump(int qp)
{
  if (!m_dump && !m_options.dumpPartition.empty())
  {
    std::string       path = m_options.dumpPartition;
    const std::string key  = "{qp}";
    for (size_t at = path.find(key); at != std::string::npos; at = path.find(key, at))
    {
      path.replace(at, key.size(), std::to_string(qp));
    }
    m_dump = std::make_unique<PartitionDump>(path);
  }
  return m_dump.get();
}

Guide* Session::guide()
{
  if (!m_guide && !m_factoryTried && m_options.wantsGuide())
  {
    m_factoryTried = true;
    if (!m_factory)
    {
      throw GuideError("--PMPGuide/--PMPModel need the Python package: run the encoder as pmp-encoder");
    }
    m_guide = m_factory(m_options.asStrings());
    if (!m_guide)
    {
      throw GuideError("the guide factory returned no guide for --PMPGuide='" + m_options.guide + "' --PMPModel='"
                       + m_options.model + "'");
    }
  }
  return m_guide.get();
}

std::string Session::summary() const
{
  static const char* names[2] = { "luma", "chroma" };
  std::ostringstream out;
  for (int ch = 0; ch < 2; ch++)
  {
    const auto& t = m_counters.tested[ch];
    out << "PMP counters: channel=" << names[ch] << " intra=" << t[kIntra] << " qt=" << t[kSplitQt]
        << " bt_h=" << t[kSplitBtH] << " bt_v=" << t[kSplitBtV] << " tt_h=" << t[kSplitTtH]
        << " tt_v=" << t[kSplitTtV] << " intra_samples=" << m_counters.intraSamples[ch] << "\n";
  }
  if (m_guide)
  {
    char buf[128];
    std::snprintf(buf, sizeof(buf), "%.3f", m_guideStats.cpuSeconds);
    out << "PMP guide: pictures=" << m_guideStats.pictures << " cpu_time=" << buf
        << " fallbacks=" << m_counters.fallbacks << "\n";
  }
  return out.str();
}

double processCpuSeconds()
{
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}
}   // namespace pmp
