// print_owners, the output of `frodo ring lookup` and `frodo lookup`, on in-memory streams.
#include "lookup_output.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <string>

#include "usage_error.hpp"

namespace frodo::cli {
namespace {

// An in-memory FILE* for stdin or stdout; `text()` is what was written so far.
class MemoryFile {
 public:
  MemoryFile() : file_(open_memstream(&data_, &size_)) {}
  explicit MemoryFile(const std::string& input) : file_(std::tmpfile()) {
    std::fwrite(input.data(), 1, input.size(), file_);
    std::rewind(file_);
  }
  ~MemoryFile() {
    std::fclose(file_);
    std::free(data_);
  }
  MemoryFile(const MemoryFile&) = delete;
  MemoryFile& operator=(const MemoryFile&) = delete;

  std::FILE* get() const { return file_; }
  std::string text() {
    std::fflush(file_);
    return std::string(data_, size_);
  }

 private:
  char* data_ = nullptr;
  std::size_t size_ = 0;
  std::FILE* file_ = nullptr;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(PrintOwners, AnswersEachIdOnItsOwnLine) {
  Ring ring({{"a:1", 1, ""}, {"b:1", 2, ""}});
  MemoryFile in("x\n\ny"), out;
  print_owners(ring, 0, in.get(), out.get());
  EXPECT_EQ(out.text(), std::string(*ring.owner("x")) + "\n" + std::string(*ring.owner("")) + "\n" +
                            std::string(*ring.owner("y")) + "\n");
}

TEST(PrintOwners, AnIdWithoutOwnerStopsTheOutputAndNamesItsLine) {
  // An empty ring owns nothing: no line may pass for an answer, and the error says where it
  // stopped (it used to be a logic_error, and a ring with no points dereferenced nullopt).
  Ring empty;
  MemoryFile in("x\ny\n"), out;
  EXPECT_EQ(error_of([&] { print_owners(empty, 0, in.get(), out.get()); }),
            "no server owns the id on line 1: the ring is empty; the lines printed answer the ids before it");
  EXPECT_EQ(out.text(), "");

  MemoryFile out2;
  EXPECT_EQ(error_of([&] { print_owners(empty, 2, {"x", "y"}, out2.get()); }),
            "no server owns the id argument 1: the ring is empty; the lines printed answer the ids before it");
  EXPECT_EQ(out2.text(), "");

  // No ids, nothing to answer: no error.
  MemoryFile none(""), out3;
  print_owners(empty, 0, none.get(), out3.get());
  EXPECT_EQ(out3.text(), "");
}

TEST(PrintOwners, AnIdLongerThanTheLimitIsAUsageErrorNamingItsLine) {
  Ring ring({{"a:1", 1, ""}, {"b:1", 1, ""}});
  std::string longest(max_id_bytes, 'i');
  MemoryFile in("x\n" + longest + "\n" + longest + "j\ny\n"), out;
  try {
    print_owners(ring, 0, in.get(), out.get());
    FAIL() << "a too long id was answered";
  } catch (const UsageError& e) {
    EXPECT_EQ(std::string(e.what()),
              "the id on line 3 is longer than 65536 bytes; the lines printed answer the ids before it");
  }
  EXPECT_EQ(out.text(), std::string(*ring.owner("x")) + "\n" + std::string(*ring.owner(longest)) + "\n");

  MemoryFile out2;
  EXPECT_THROW(print_owners(ring, 2, {"x", longest + "j"}, out2.get()), UsageError);
  EXPECT_EQ(out2.text(), std::string(*ring.owner("x")) + "\t" + std::string(ring.owners("x", 2)[1]) + "\n");
}

TEST(PrintOwners, ALineWithoutNewlineIsReadOnlyAsFarAsTheLimit) {
  // A gigabyte without a newline must not be gathered into memory before it is refused:
  // reading stops within a buffer (64 KiB) of the limit.
  Ring ring({{"a:1", 1, ""}});
  MemoryFile in(std::string(64 * max_id_bytes, 'z')), out;
  EXPECT_THROW(print_owners(ring, 0, in.get(), out.get()), UsageError);
  EXPECT_LE(std::ftell(in.get()), static_cast<long>(2 * max_id_bytes));
  EXPECT_EQ(out.text(), "");
}

}  // namespace
}  // namespace frodo::cli
