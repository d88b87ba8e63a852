// The image's identity: version string and build id (set by the build).
#pragma once

extern const char baton_version[];
extern const char baton_build_id[];
