#include "encoder/Entry.h"

#include <cstdio>
#include <exception>

int vtmEncoderMain(int argc, char* argv[]);
int vtmDecoderMain(int argc, char* argv[]);

namespace pmp
{
namespace
{
// VTM's mains take a mutable argv.
std::vector<char*> makeArgv(std::vector<std::string>& args)
{
  std::vector<char*> argv;
  for (auto& a: args)
  {
    argv.push_back(a.data());
  }
  argv.push_back(nullptr);
  return argv;
}

template<typename F> int runApp(const char* name, F&& run)
{
  int rc = 1;
  try
  {
    rc = run();
  }
  catch (const std::exception& e)
  {
    std::fflush(stdout);
    std::fprintf(stderr, "%s failed: %s\n", name, e.what());
  }
  std::fflush(stdout);
  std::fflush(stderr);
  return rc;
}
}   // namespace

int runEncoder(const std::vector<std::string>& args, std::shared_ptr<Guide> guide, GuideFactory factory)
{
  Session& session = Session::current();
  session.reset(std::move(guide), std::move(factory));
  std::vector<std::string> copy = args;
  std::vector<char*>       argv = makeArgv(copy);
  const int rc = runApp("pmp-encoder", [&] { return vtmEncoderMain(int(copy.size()), argv.data()); });
  if (rc == 0)
  {
    std::fputs(session.summary().c_str(), stdout);
  }
  std::fflush(stdout);
  // Release the guide now: a Python guide must not outlive the interpreter state of this call.
  session.reset(nullptr, nullptr);
  return rc;
}

int runDecoder(const std::vector<std::string>& args)
{
  std::vector<std::string> copy = args;
  std::vector<char*>       argv = makeArgv(copy);
  return runApp("pmp-decoder", [&] { return vtmDecoderMain(int(copy.size()), argv.data()); });
}
}   // namespace pmp
