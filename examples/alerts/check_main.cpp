// alerts-check: compares the store with what a client acknowledged (see checker.hpp).
// Exit status: 0 no violation, 1 violations (or a runtime failure), 2 usage or input error.
#include <CLI/CLI.hpp>

#include <iostream>

#include "checker.hpp"
#include "cluster_flags.hpp"
#include "store.hpp"

int main(int argc, char** argv) {
  using namespace alerts;
  CLI::App app{"alerts-check: did the alert servers apply every acknowledged event exactly once, in order?",
               "alerts-check"};
  std::string store_path, acked_path;
  std::size_t worst = 10;
  app.add_option("--store", store_path, "the servers' SQLite store")->required()->check(CLI::ExistingFile);
  app.add_option("--acked", acked_path, "the client's acknowledged events (alerts-client --acked)")
      ->required()
      ->check(CLI::ExistingFile);
  app.add_option("--worst", worst, "hosts to detail when there are problems")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? exit_ok : exit_usage;
  }

  try {
    std::map<std::string, Acked> acked = read_acked(acked_path);
    Store store(store_path);
    CheckReport report = check(store.rows(), acked, {}, worst);
    std::cout << format_table(report) << '\n';
    if (report.ok()) {
      std::cout << "OK: every acknowledged event applied, in order, by one server at a time\n";
      return exit_ok;
    }
    std::cout << "VIOLATIONS: " << report.violations << " out of order, " << report.lost << " lost, "
              << report.final_mismatches << " wrong final states, " << report.token_violations
              << " token decreases, " << report.overlaps << " overlapping admissions\n";
    return exit_failure;
  } catch (const frodo::Error& e) {
    std::cerr << "alerts-check: " << e.what() << '\n';
    return e.code() == frodo::Errc::invalid_argument ? exit_usage : exit_failure;
  } catch (const std::exception& e) {
    std::cerr << "alerts-check: " << e.what() << '\n';
    return exit_failure;
  }
}
