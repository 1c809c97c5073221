// Errors from our code inside VTM's encode loop become VTM exceptions, which VTM's main reports and turns
// into exit code 1 (other exception types would escape its handlers). The message is the user's: one line,
// without the source location VTM's THROW would prepend.
#pragma once

#include "CommonLib/CommonDef.h"

#include <exception>
#include <string>

namespace pmp
{
template<typename F> void guarded(const char* what, F&& f)
{
  try
  {
    f();
  }
  catch (const Exception&)
  {
    throw;
  }
  catch (const std::exception& e)
  {
    throw Exception(std::string("pmp-vvc ") + what + ": " + e.what());
  }
}
}   // namespace pmp
