// The vocabulary of the HA logic: WAL positions, timelines, monotonic and wall time.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgpilot {

using Duration = std::chrono::milliseconds;
using std::chrono_literals::operator""ms;
using std::chrono_literals::operator""s;

// A point on this machine's monotonic clock (CLOCK_MONOTONIC, shared by all processes of the
// machine). Never compared with wall time: the two are distinct types.
struct MonoTime {
  std::chrono::nanoseconds since_epoch{0};

  friend auto operator<=>(const MonoTime&, const MonoTime&) = default;
  MonoTime operator+(Duration d) const { return {since_epoch + d}; }
  MonoTime operator-(Duration d) const { return {since_epoch - d}; }
  Duration operator-(MonoTime other) const {
    return std::chrono::duration_cast<Duration>(since_epoch - other.since_epoch);
  }
};

// Wall-clock time in milliseconds since the Unix epoch: for humans and for records that outlive a
// process (history, member expiry in the embedded store), never for lease safety.
struct WallTime {
  int64_t unix_ms = 0;
  friend auto operator<=>(const WallTime&, const WallTime&) = default;
};

// "2026-11-22T21:42:46.123Z".
std::string FormatWallTime(WallTime t);
// "2026-11-22T21:42:46Z" or with fractional seconds, UTC only; nullopt for anything else.
std::optional<WallTime> ParseWallTime(std::string_view text);

// A PostgreSQL WAL position (pg_lsn).
struct Lsn {
  uint64_t value = 0;

  friend auto operator<=>(const Lsn&, const Lsn&) = default;
  // "16/B374D848", as PostgreSQL prints it.
  std::string ToString() const;
  static std::optional<Lsn> Parse(std::string_view text);
};

// Bytes from `behind` up to `ahead`, zero when `behind` is not behind.
uint64_t LsnDistance(Lsn ahead, Lsn behind);

using Timeline = uint32_t;

// Formats a duration as seconds with one decimal: "9.5s".
std::string FormatSeconds(Duration d);

}  // namespace pgpilot
