// Resolving a container path inside a rootfs on the host, following symlinks
// as the container would see them (absolute links re-rooted at the rootfs).
#pragma once

#include <string>

namespace insula::container {

// Returns root + the resolved path. A path (or a symlink on the way) that climbs
// above the rootfs with ".." is refused with an error naming it; missing
// trailing components are appended as given.
std::string secure_join(const std::string& root, const std::string& unsafe);

// mkdir -p of a resolved host path (each component re-checked not to be a symlink).
void mkdir_all(const std::string& path, unsigned mode);

}  // namespace insula::container
