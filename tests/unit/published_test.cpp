// Published<T>: lock-free reads of a value that writers replace, safe whatever the stalls.
#include "cluster/published.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <latch>
#include <string>
#include <thread>
#include <vector>

namespace frodo::detail {
namespace {

struct Value {
  std::int64_t n = 0;
  std::string text;
};

std::shared_ptr<const Value> value(std::int64_t n) {
  return std::make_shared<const Value>(Value{n, "value " + std::to_string(n) + std::string(100, '.')});
}

TEST(Published, NothingBeforeTheFirstPublish) {
  Published<Value> cell;
  EXPECT_EQ(cell.read(), nullptr);
  EXPECT_EQ(cell.get(), nullptr);
  cell.publish(value(1));
  ASSERT_NE(cell.read(), nullptr);
  EXPECT_EQ(cell.read()->n, 1);
}

// A reader stalls between taking the value and reading it while thousands of newer values
// are published: what it holds stays alive (ASan reports a use after free otherwise).
TEST(Published, AStalledReaderKeepsWhatItReadAcrossThousandsOfPublishes) {
  Published<Value> cell;
  cell.publish(value(0));
  std::weak_ptr<const Value> first = cell.get();
  std::latch reading(1), published(1), checked(1);
  std::string seen;
  std::int64_t after = -1;
  std::thread reader([&] {
    const Value* held = cell.read();
    reading.count_down();
    published.wait();  // stalled while the writer publishes
    seen = held->text;
    checked.count_down();
    after = cell.read()->n;  // reading again lets the old value go
  });
  reading.wait();
  for (int i = 1; i <= 5000; ++i) cell.publish(value(i));
  EXPECT_FALSE(first.expired()) << "the stalled reader's value was freed";
  published.count_down();
  checked.wait();
  reader.join();
  EXPECT_EQ(seen, value(0)->text);
  EXPECT_EQ(after, 5000);
  EXPECT_TRUE(first.expired()) << "a replaced value outlived its last reader";
}

// Readers on several threads while a writer publishes: each sees values in publish order,
// never a torn or freed one (TSan and ASan check the memory side).
TEST(Published, ConcurrentReadersSeeValuesInOrder) {
  Published<Value> cell;
  cell.publish(value(0));
  constexpr std::int64_t publishes = 20000;
  std::atomic<bool> failed{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 3; ++t) {
    readers.emplace_back([&] {
      std::int64_t last = 0;
      while (last < publishes) {
        const Value* v = cell.read();
        if (v->n < last || v->text != value(v->n)->text) failed = true;
        last = v->n;
      }
    });
  }
  for (std::int64_t i = 1; i <= publishes; ++i) cell.publish(value(i));
  for (auto& r : readers) r.join();
  EXPECT_FALSE(failed);
}

// One thread reading several cells keeps each one's value apart, and a cell's old values do
// not pile up in the thread's cache.
TEST(Published, SeveralCellsOnOneThread) {
  std::vector<std::unique_ptr<Published<Value>>> cells;
  for (int i = 0; i < 6; ++i) {
    cells.push_back(std::make_unique<Published<Value>>());
    cells.back()->publish(value(i * 100));
  }
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 6; ++i) EXPECT_EQ(cells[i]->read()->n, i * 100);
  }
  std::weak_ptr<const Value> old = cells[0]->get();
  cells[0]->publish(value(1));
  EXPECT_EQ(cells[0]->read()->n, 1);
  EXPECT_TRUE(old.expired()) << "the cell's previous value is still cached";
}

}  // namespace
}  // namespace frodo::detail
