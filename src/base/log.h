// Logging: a thin layer over spdlog so every module logs the same way.
// Logs go to stderr; the guest console owns stdout.
#pragma once

#include <spdlog/spdlog.h>

namespace insula::log {

enum class Level { kError, kWarn, kInfo, kDebug };

// Sets up the process-wide logger (stderr). Called once from main.
void init(Level level);

}  // namespace insula::log

#define INSULA_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
#define INSULA_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define INSULA_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define INSULA_LOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
