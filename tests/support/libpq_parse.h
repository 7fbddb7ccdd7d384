// Test support: what libpq itself makes of a connection string (keyword -> value, for the
// keywords set); a string libpq rejects fails the current test.
#pragma once

#include <libpq-fe.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

namespace pgpilot::testing {

inline std::map<std::string, std::string> LibpqParse(const std::string& conninfo) {
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(conninfo.c_str(), &err);
  std::map<std::string, std::string> out;
  if (opts == nullptr) {
    ADD_FAILURE() << "libpq rejects '" << conninfo << "': " << (err ? err : "?");
    PQfreemem(err);
    return out;
  }
  for (PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  PQconninfoFree(opts);
  return out;
}

}  // namespace pgpilot::testing
