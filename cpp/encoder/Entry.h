// Entry points of the encoder and decoder: VTM's own applications, run in this process.
#pragma once

#include "encoder/Session.h"

#include <memory>
#include <string>
#include <vector>

namespace pmp
{
// Runs VTM's EncoderApp with these arguments (argv[0] included) and returns its exit code. An explicit guide
// overrides --PMPGuide/--PMPModel; the factory builds the guide those options name. The counter lines are
// appended to the log (stdout) at the end of a successful run.
int runEncoder(const std::vector<std::string>& args, std::shared_ptr<Guide> guide, GuideFactory factory);

// Runs VTM's DecoderApp with these arguments (argv[0] included) and returns its exit code.
int runDecoder(const std::vector<std::string>& args);
}   // namespace pmp
