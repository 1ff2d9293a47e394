// Process-wide logger setup.
#include "base/log.h"

#include <spdlog/sinks/stdout_sinks.h>

namespace insula::log {

void init(Level level) {
  auto logger = spdlog::stderr_logger_st("insula");
  logger->set_pattern("insula: %l: %v");
  switch (level) {
    case Level::kError: logger->set_level(spdlog::level::err); break;
    case Level::kWarn: logger->set_level(spdlog::level::warn); break;
    case Level::kInfo: logger->set_level(spdlog::level::info); break;
    case Level::kDebug: logger->set_level(spdlog::level::debug); break;
  }
  spdlog::set_default_logger(logger);
}

}  // namespace insula::log
