// The only place that reads clocks: monotonic time for leases, wall time for humans and records.
#pragma once

#include "core/types.h"

namespace pgpilot {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime Now() const = 0;       // CLOCK_MONOTONIC, comparable across processes
  virtual WallTime WallNow() const = 0;
};

class RealClock final : public Clock {
 public:
  MonoTime Now() const override;
  WallTime WallNow() const override;
};

}  // namespace pgpilot
