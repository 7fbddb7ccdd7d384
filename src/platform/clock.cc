#include "platform/clock.h"

#include <time.h>

namespace pgpilot {

MonoTime RealClock::Now() const {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return MonoTime{std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)};
}

WallTime RealClock::WallNow() const {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return WallTime{static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000};
}

}  // namespace pgpilot
