// The pure parts of `frodo demo` (tools/frodo/demo_report.hpp): the churn plan and its
// timing, the evidence each step leaves in the store, the verdict and the report.
#include "demo_report.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>

namespace frodo::cli::demo {
namespace {

using std::chrono::milliseconds;

double s(milliseconds d) { return static_cast<double>(d.count()) / 1000.0; }

TEST(DemoPlan, TimingKeepsTheShortFreezeInsideTheLeaseAndTheLongOnePastIt) {
  for (int ttl : {1, 2, 5, 20, 60}) {
    ChurnTiming t = churn_timing(ttl);
    // A keepalive goes out every TTL / 3: at worst the lease has 2/3 of the TTL left when the
    // freeze begins; half the TTL stays inside it.
    EXPECT_LT(t.short_freeze, t.ttl * 2 / 3) << ttl;
    EXPECT_GT(t.long_freeze, t.ttl) << ttl;
    // The client gives up on a frozen or slow server while it still holds the admission, so
    // the retry reaches the new owner during the pause.
    EXPECT_LT(t.client_timeout, t.short_freeze) << ttl;
    EXPECT_GT(t.slow_work, t.client_timeout) << ttl;
    EXPECT_LT(t.catch_up, t.client_timeout) << ttl;
  }
}

TEST(DemoPlan, TheStepsAreSpacedAndTheLastThawLeavesTimeToServe) {
  for (int ttl : {1, 2, 5, 20}) {
    ChurnTiming t = churn_timing(ttl);
    int shortest = shortest_churn_duration(t);
    EXPECT_FALSE(plan_churn(shortest - 1, t)) << ttl;
    for (int d : {shortest, shortest + 7, 3600}) {
      std::optional<std::vector<PlannedStep>> plan = plan_churn(d, t);
      ASSERT_TRUE(plan) << "ttl " << ttl << " duration " << d;
      ASSERT_EQ(plan->size(), 5u);
      EXPECT_EQ((*plan)[0].step, ChurnStep::freeze_join);
      EXPECT_EQ((*plan)[1].step, ChurnStep::partition_past_ttl);
      EXPECT_EQ((*plan)[2].step, ChurnStep::slow_leave);
      EXPECT_EQ((*plan)[3].step, ChurnStep::kill);
      EXPECT_EQ((*plan)[4].step, ChurnStep::freeze_past_ttl);
      EXPECT_GE((*plan)[0].at_s - s(t.slow_lead), 1.0);  // events flow before the first step
      for (std::size_t i = 1; i < plan->size(); ++i) EXPECT_GE((*plan)[i].at_s - (*plan)[i - 1].at_s, 1.0);
      // The partition outlives the lease, and its server has time to rejoin before the last
      // step, which needs two servers serving.
      EXPECT_GT(t.one_way, t.ttl / 3) << ttl;  // a keepalive reaches etcd after the last answered one
      EXPECT_GT(t.partition, t.one_way + t.ttl) << ttl;
      EXPECT_LE((*plan)[1].at_s + s(t.partition) + s(t.rejoin), (*plan)[4].at_s + 1e-9) << "ttl " << ttl << " d " << d;
      EXPECT_LE((*plan)[4].at_s + s(t.long_freeze) + s(t.serve_again), d) << "the thaw leaves time to serve";
    }
  }
  // `frodo demo --duration 18` at the default TTL (tests/integration/demo_test.cpp and
  // hostile_etcd_test.cpp run it).
  EXPECT_TRUE(plan_churn(18, churn_timing(2)));
  EXPECT_EQ(shortest_churn_duration(churn_timing(2)), 18);
}

alerts::StoreRow row(std::int64_t id, const std::string& host, const std::string& server, std::int64_t admitted_us,
                     std::int64_t done_us, alerts::RowResult result = alerts::RowResult::applied) {
  alerts::StoreRow r;
  r.id = id;
  r.host = host;
  r.seq = id;
  r.status = id % 2 ? "DOWN" : "UP";
  r.result = result;
  r.server = server;
  r.admitted_us = admitted_us;
  r.done_us = done_us;
  return r;
}

TEST(DemoEvidence, CountsAdmissionsSpanningAPauseAndTheHostsThatMovedAfter) {
  // a is frozen from 100 to 200; two of its admissions span the freeze (h1, h2), one ended
  // before it (h3); h1's next row is b's (moved), h2's is a's again. c leaves at 300 with one
  // admission open across it (h4), whose next row is b's.
  std::vector<alerts::StoreRow> rows = {
      row(1, "h3", "a", 10, 20),  row(2, "h1", "a", 90, 210),  row(3, "h2", "a", 95, 220),
      row(4, "h1", "b", 230, 240), row(5, "h2", "a", 250, 260), row(6, "h4", "c", 290, 310),
      row(7, "h4", "b", 320, 330), row(8, "h3", "a", 400, 410, alerts::RowResult::duplicate)};
  std::vector<StepRecord> steps(3);
  steps[0].step = ChurnStep::freeze_join;
  steps[0].victim = "a";
  steps[0].action_us = 100;
  steps[0].thaw_us = 200;
  steps[1].step = ChurnStep::slow_leave;
  steps[1].victim = "c";
  steps[1].action_us = 300;
  steps[2].step = ChurnStep::kill;
  steps[2].skipped = "only one server is serving";
  std::vector<ServerRecord> servers(3);
  servers[0].address = "a";
  servers[0].last_thaw_us = 200;
  servers[1].address = "b";
  servers[2].address = "c";
  step_evidence(rows, steps, servers);
  EXPECT_EQ(steps[0].spanning, 2);
  EXPECT_EQ(steps[0].moved, 1);
  EXPECT_EQ(steps[1].spanning, 1);
  EXPECT_EQ(steps[1].moved, 1);
  EXPECT_EQ(steps[2].spanning, 0);
  EXPECT_EQ(servers[0].applied, 4);            // the duplicate answer is not an application
  EXPECT_EQ(servers[0].served_after_thaw, 1);  // admitted after 200: row 5
  EXPECT_EQ(servers[1].applied, 2);
  EXPECT_EQ(host_moves(rows), 2);  // h1 a -> b, h4 c -> b
}

TEST(DemoEvidence, CountsAdmissionsOfAServerCutOffBeforeAndPastItsLeaseDeadline) {
  // a is cut off from 1,000,000 to 5,000,000 with a TTL of 2 s: its deadline is at most
  // 3,000,000. Before the cut: row 1. Cut off, before the deadline: rows 2 and 3 (one of them a
  // duplicate answer: an admission all the same). Within the slack after the deadline: row 4,
  // not counted. Past it: row 5. After the heal: row 6. Another server's rows never count.
  const std::int64_t deadline = 3'000'000;
  std::vector<alerts::StoreRow> rows = {
      row(1, "h1", "a", 900'000, 910'000),
      row(2, "h2", "a", 1'500'000, 1'510'000),
      row(3, "h3", "a", 2'900'000, 2'910'000, alerts::RowResult::duplicate),
      row(4, "h4", "a", deadline + deadline_slack_us - 1, deadline + deadline_slack_us + 10),
      row(5, "h5", "a", deadline + deadline_slack_us, deadline + deadline_slack_us + 10),
      row(6, "h6", "a", 5'000'001, 5'000'100),
      row(7, "h7", "b", 4'000'000, 4'000'100)};
  std::vector<StepRecord> steps(1);
  steps[0].step = ChurnStep::partition_past_ttl;
  steps[0].victim = "a";
  steps[0].action_us = 1'000'000;
  steps[0].lease_deadline_us = deadline;
  steps[0].thaw_us = 5'000'000;
  std::vector<ServerRecord> servers(1);
  servers[0].address = "a";
  servers[0].last_thaw_us = 5'000'000;
  step_evidence(rows, steps, servers);
  EXPECT_EQ(steps[0].admitted_cut_off, 2);
  EXPECT_EQ(steps[0].admitted_past_deadline, 1);
  EXPECT_EQ(steps[0].spanning, 0);
  EXPECT_EQ(servers[0].served_after_thaw, 1);  // row 6, after the heal

  // The server's own Cluster reported the loss earlier than action + TTL: that counts.
  steps[0].lease_lost_us = 2'000'000;
  step_evidence(rows, steps, servers);
  EXPECT_EQ(steps[0].admitted_cut_off, 1);        // row 2
  EXPECT_EQ(steps[0].admitted_past_deadline, 3);  // rows 3, 4 and 5
  // A report later than action + TTL does not move the deadline.
  steps[0].lease_lost_us = 4'000'000;
  step_evidence(rows, steps, servers);
  EXPECT_EQ(steps[0].admitted_cut_off, 2);
  EXPECT_EQ(steps[0].admitted_past_deadline, 1);

  // The guarded verdict fails on it, with fencing or without, even when the checker found
  // nothing else.
  alerts::CheckReport clean;
  clean.rows = clean.acknowledged = 100;
  for (bool fencing : {true, false}) {
    Judgement j = judge(clean, true, fencing, steps);
    EXPECT_FALSE(j.pass) << fencing;
    EXPECT_NE(j.verdict.find("admitted 1 event after its lease deadline"), std::string::npos) << j.verdict;
  }
  steps[0].admitted_past_deadline = 0;
  EXPECT_TRUE(judge(clean, true, true, steps).pass);
  // Without the guard nothing is judged but the losses.
  steps[0].admitted_past_deadline = 3;
  EXPECT_TRUE(judge(clean, false, true, steps).pass);

  // The report names the step and its counts.
  DemoFacts facts;
  facts.started_us = 0;
  steps[0].admitted_past_deadline = 1;
  std::string text = report_text(facts, clean, judge(clean, true, true, steps), steps, servers);
  EXPECT_NE(text.find("partition past the TTL"), std::string::npos) << text;
  EXPECT_NE(text.find("lease lost by its own clock at 4.0s (deadline by 3.0s); 2 admissions before, 1 after"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("healed at 5.0s"), std::string::npos) << text;
  nlohmann::json json = report_json(facts, clean, judge(clean, true, true, steps), steps, servers);
  EXPECT_EQ(json["steps"][0]["step"], "partition_past_ttl");
  EXPECT_DOUBLE_EQ(json["steps"][0]["heal_at"].get<double>(), 5.0);
  EXPECT_DOUBLE_EQ(json["steps"][0]["lease_deadline_at"].get<double>(), 3.0);
  EXPECT_DOUBLE_EQ(json["steps"][0]["lease_lost_at"].get<double>(), 4.0);
  EXPECT_EQ(json["steps"][0]["admitted_cut_off"], 2);
  EXPECT_EQ(json["steps"][0]["admitted_past_deadline"], 1);
}

alerts::CheckReport report_with(std::int64_t violations, std::int64_t overlaps, std::int64_t late_violations,
                                std::int64_t late_overlaps) {
  alerts::CheckReport r;
  r.rows = 100;
  r.acknowledged = 100;
  r.violations = r.token_violations = violations;
  r.duplicates = violations;
  r.overlaps = overlaps;
  r.late.rows = late_violations > 0 || late_overlaps > 0 ? 1 : 0;
  r.late.violations = r.late.token_violations = late_violations;
  r.late.overlaps = late_overlaps;
  return r;
}

TEST(DemoJudge, WithoutFencingOnlyWhatLateWritesExplainIsExcused) {
  EXPECT_TRUE(judge(report_with(0, 0, 0, 0), true, false, {}).pass);
  Judgement late_only = judge(report_with(3, 40, 3, 40), true, false, {});
  EXPECT_TRUE(late_only.pass) << late_only.verdict;
  EXPECT_NE(late_only.verdict.find("outside the guard's no-fencing guarantee"), std::string::npos) << late_only.verdict;
  Judgement one_more = judge(report_with(4, 40, 3, 40), true, false, {});
  EXPECT_FALSE(one_more.pass);
  EXPECT_NE(one_more.verdict.find("1 order violations"), std::string::npos) << one_more.verdict;
  EXPECT_FALSE(judge(report_with(3, 41, 3, 40), true, false, {}).pass);
  alerts::CheckReport lost = report_with(0, 0, 0, 0);
  lost.lost = 1;
  EXPECT_FALSE(judge(lost, true, false, {}).pass);
}

TEST(DemoJudge, WithFencingALateWriteMayOverlapButNeverReorder) {
  // A write admitted before a freeze past the lease may land before the new owner's first
  // write: accepted, overlapping, in order. Anything out of order fails.
  Judgement overlap = judge(report_with(0, 5, 0, 5), true, true, {});
  EXPECT_TRUE(overlap.pass) << overlap.verdict;
  EXPECT_NE(overlap.verdict.find("fencing kept the order"), std::string::npos) << overlap.verdict;
  EXPECT_FALSE(judge(report_with(1, 5, 1, 5), true, true, {}).pass);
  EXPECT_FALSE(judge(report_with(0, 6, 0, 5), true, true, {}).pass);
}

TEST(DemoJudge, WithoutTheGuardOnlyLostEventsFail) {
  Judgement unguarded = judge(report_with(12, 80, 0, 0), false, true, {});
  EXPECT_TRUE(unguarded.pass);
  EXPECT_NE(unguarded.verdict.find("12 order violations"), std::string::npos) << unguarded.verdict;
  alerts::CheckReport lost = report_with(12, 80, 0, 0);
  lost.lost = 2;
  EXPECT_FALSE(judge(lost, false, true, {}).pass);
}

TEST(DemoReport, StatesWhetherFencingWasOnAndWhatHoldsWithoutIt) {
  DemoFacts facts;
  facts.fencing = false;
  facts.seconds = 15;
  facts.started_us = 1'000'000;
  std::vector<StepRecord> steps(1);
  steps[0].step = ChurnStep::freeze_past_ttl;
  steps[0].victim = "127.0.0.1:7001";
  steps[0].begin_us = steps[0].action_us = 9'000'000;
  steps[0].thaw_us = 12'500'000;
  steps[0].victim_out_us = 11'100'000;
  std::vector<ServerRecord> servers(1);
  servers[0].address = "127.0.0.1:7001";
  servers[0].history = {{Happening::frozen, 9'000'000}, {Happening::thawed, 12'500'000}};
  servers[0].last_thaw_us = 12'500'000;
  servers[0].served_after_thaw = 321;
  alerts::CheckReport r = report_with(2, 30, 2, 30);
  Judgement j = judge(r, true, false, {});
  nlohmann::json json = report_json(facts, r, j, steps, servers);
  EXPECT_EQ(json["fencing"], false);
  EXPECT_NE(json["guarantee"].get<std::string>().find("outside the guard's no-fencing guarantee"), std::string::npos);
  EXPECT_EQ(json["late"]["violations"], 2);
  EXPECT_EQ(json["token_violations"], 2);
  EXPECT_EQ(json["overlaps"], 30);
  EXPECT_EQ(json["steps"][0]["step"], "freeze_past_ttl");
  EXPECT_DOUBLE_EQ(json["steps"][0]["action_at"].get<double>(), 8.0);
  EXPECT_DOUBLE_EQ(json["steps"][0]["thaw_at"].get<double>(), 11.5);
  EXPECT_DOUBLE_EQ(json["steps"][0]["victim_out_of_ring_at"].get<double>(), 10.1);
  EXPECT_EQ(json["servers"][0]["served_after_thaw"], 321);
  EXPECT_EQ(json["servers"][0]["history"][1]["event"], "thawed");

  std::string text = report_text(facts, r, j, steps, servers);
  EXPECT_NE(text.find("fencing off: the store accepts any token"), std::string::npos) << text;
  EXPECT_NE(text.find("outside the guard's no-fencing guarantee"), std::string::npos) << text;
  EXPECT_NE(text.find("freeze past the TTL"), std::string::npos) << text;
  EXPECT_NE(text.find("SIGCONT at 11.5s"), std::string::npos) << text;
  EXPECT_NE(text.find("served 321 events after its last thaw"), std::string::npos) << text;
  EXPECT_NE(text.find("token decreases"), std::string::npos) << text;

  facts.fencing = true;
  text = report_text(facts, r, judge(r, true, true, {}), steps, servers);
  EXPECT_NE(text.find("fencing on: the store refuses a token older"), std::string::npos) << text;
  EXPECT_NE(text.find("verdict: FAIL"), std::string::npos) << text;  // with fencing, order violations fail
}

}  // namespace
}  // namespace frodo::cli::demo
