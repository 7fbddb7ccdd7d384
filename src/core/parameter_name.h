// Whether a text may name a PostgreSQL configuration parameter: it is written unquoted into the
// configuration file pgpilot renders, so a name is the only thing standing between the agent
// config or the store and a line of PostgreSQL's configuration of someone else's choosing.
#pragma once

#include <string_view>

namespace pgpilot {

// An identifier ([A-Za-z_][A-Za-z0-9_]*, at most 63 characters), or two joined by one '.' (a
// module's parameter, pg_stat_statements.max): what PostgreSQL's configuration file accepts as a
// name, without the bytes above 127 it also allows.
bool IsParameterName(std::string_view name);

}  // namespace pgpilot
