// The image's identity, filled in by the Makefile on every build.
#include "version.hpp"

#ifndef BATON_VERSION
#error "BATON_VERSION must be defined by the build"
#endif
#ifndef BATON_BUILD_ID
#error "BATON_BUILD_ID must be defined by the build"
#endif

const char baton_version[] = BATON_VERSION;
const char baton_build_id[] = BATON_BUILD_ID;
