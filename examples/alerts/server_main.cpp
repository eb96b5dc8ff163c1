// alerts-server: one alert-ingestion server (see README.md and server_command.hpp). Serves
// until SIGINT or SIGTERM, then hands its hosts over and leaves.
#include "server_command.hpp"

int main(int argc, char** argv) { return alerts::run_server_command(argc, argv); }
