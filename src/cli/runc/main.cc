// Entry point of the standalone `insula-runc` binary: the runtime alone, without
// the VMM and image-store libraries, since engines start it for every container
// operation (its start-up time and memory are what the lifecycle benchmark sees).
#include "cli/commands.h"

int main(int argc, char** argv) { return insula::cli::runc_main(argc, argv); }
