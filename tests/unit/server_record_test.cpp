// The server-record decoder against hostile values: every value under a context's prefix
// comes from anyone who can write to etcd.
#include "registry/server_record.hpp"

#include <gtest/gtest.h>

#include "frodo/error.hpp"

namespace frodo::detail {
namespace {

std::optional<ServerInfo> decode(const std::string& value, std::string* problem, const std::string& key = "a:1") {
  return decode_server(key, value, problem);
}

TEST(ServerRecord, DecodesTheDocumentedSchema) {
  std::string problem;
  auto s = decode(R"({"address":"a:1","weight":2.5,"zone":"eu-1","meta":{"role":"ingest"}})", &problem);
  ASSERT_TRUE(s) << problem;
  EXPECT_EQ(s->weight, 2.5);
  EXPECT_EQ(s->zone, "eu-1");
  EXPECT_EQ(s->meta.at("role"), "ingest");
  EXPECT_EQ(decode_server("a:1", encode_server(*s), &problem), s);
}

TEST(ServerRecord, DeeplyNestedMetaIsSkippedNotACrash) {
  // 100,000 nested arrays: re-serialising such meta overflowed the stack of every process.
  std::string value = R"({"address":"a:1","meta":{"x":)" + std::string(100000, '[') + std::string(100000, ']') + "}}";
  std::string problem;
  EXPECT_FALSE(decode(value, &problem));
  EXPECT_NE(problem.find("over the limit"), std::string::npos) << problem;  // 200 KB: refused by size first
  EXPECT_FALSE(decode_server("a:1", value, &problem, 1 << 20));            // and by depth under a larger cap
  EXPECT_NE(problem.find("nests deeper"), std::string::npos) << problem;
}

TEST(ServerRecord, DeepNestingAnywhereIsRefusedBeforeParsing) {
  std::string value = R"({"address":"a:1","junk":)" + std::string(5000, '{') + std::string(5000, '}') + "}";
  std::string problem;
  EXPECT_FALSE(decode(value, &problem));
  EXPECT_NE(problem.find("nests deeper"), std::string::npos) << problem;
  // Brackets inside strings are text, not nesting.
  std::string quoted = R"({"address":"a:1","meta":{"x":")" + std::string(1000, '[') + R"("}})";
  EXPECT_TRUE(decode(quoted, &problem)) << problem;
}

TEST(ServerRecord, ValuesOverTheSizeLimitAreSkippedUnread) {
  std::string value = R"({"address":"a:1","meta":{"x":")" + std::string(70000, 'y') + R"("}})";
  std::string problem;
  EXPECT_FALSE(decode(value, &problem));
  EXPECT_NE(problem.find("over the limit of 65536"), std::string::npos) << problem;
  EXPECT_TRUE(decode_server("a:1", value, &problem, 128 * 1024)) << problem;
}

TEST(ServerRecord, MetaValuesMustBeStrings) {
  std::string problem;
  EXPECT_FALSE(decode(R"({"address":"a:1","meta":{"n":1}})", &problem));
  EXPECT_NE(problem.find("meta \"n\" is not a string"), std::string::npos) << problem;
  EXPECT_FALSE(decode(R"({"address":"a:1","meta":{"o":{"p":"q"}}})", &problem));
  EXPECT_FALSE(decode(R"({"address":"a:1","meta":[1,2]})", &problem));
  EXPECT_NE(problem.find("\"meta\" is not an object"), std::string::npos) << problem;
}

TEST(ServerRecord, WeightsOutsideTheRangeAreSkipped) {
  std::string problem;
  for (const char* weight : {"1e308", "1.8e19", "1e-320", "0", "-1", "0.0009", "1000001"}) {
    EXPECT_FALSE(decode(std::string(R"({"address":"a:1","weight":)") + weight + "}", &problem)) << weight;
    EXPECT_NE(problem.find("must be between"), std::string::npos) << weight << ": " << problem;
  }
  EXPECT_TRUE(decode(R"({"address":"a:1","weight":0.001})", &problem)) << problem;
  EXPECT_TRUE(decode(R"({"address":"a:1","weight":1000000})", &problem)) << problem;
}

TEST(ServerRecord, ZonesMustBePrintableUtf8) {
  std::string problem;
  EXPECT_FALSE(decode(R"({"address":"a:1","zone":"\u001b[2J"})", &problem));
  EXPECT_NE(problem.find("control character"), std::string::npos) << problem;
  EXPECT_EQ(problem.find('\x1b'), std::string::npos) << "the reason must not carry the escape itself";
  EXPECT_FALSE(decode(R"({"address":"a:1","zone":"\u0085"})", &problem));  // C1 control
  EXPECT_FALSE(decode(R"({"address":"a:1","zone":")" + std::string(300, 'z') + R"("})", &problem));
  EXPECT_NE(problem.find("at most 256"), std::string::npos) << problem;
  EXPECT_TRUE(decode(R"({"address":"a:1","zone":"zürich-1"})", &problem)) << problem;
}

TEST(ServerRecord, OtherShapesAreSkippedWithAReason) {
  std::string problem;
  EXPECT_FALSE(decode("", &problem));
  EXPECT_FALSE(decode("not json", &problem));
  EXPECT_FALSE(decode("[]", &problem));
  EXPECT_FALSE(decode(R"({"address":7})", &problem));
  EXPECT_FALSE(decode(R"({"address":"b:1"})", &problem));
  EXPECT_NE(problem.find("differs from the key"), std::string::npos);
  EXPECT_FALSE(decode(R"({"address":"a:1","weight":"1"})", &problem));
  EXPECT_FALSE(decode(R"({"address":"a:1","zone":1})", &problem));
  EXPECT_FALSE(decode("{\"address\":\"a:1\",\"zone\":\"\xff\"}", &problem));  // invalid UTF-8
  EXPECT_FALSE(decode(R"({"address":"a:1/x"})", &problem, "a:1/x"));
}

TEST(ServerRecord, ValidateRefusesWhatCouldNotBeWrittenOrReadBack) {
  // An invalid UTF-8 zone used to pass validation and then throw from the JSON encoder on
  // the lease keeper's thread at the next re-registration.
  EXPECT_THROW(validate_server({.address = "a:1", .zone = "\xff"}), Error);
  EXPECT_THROW(validate_server({.address = "a:1", .meta = {{"k", "\xc3"}}}), Error);
  EXPECT_THROW(validate_server({.address = "a:1", .meta = {{"", "v"}}}), Error);
  EXPECT_THROW(validate_server({.address = "a:1", .weight = 1e308}), Error);
  EXPECT_THROW(validate_server({.address = "a:1", .meta = {{"k", std::string(70000, 'v')}}}), Error);
  EXPECT_NO_THROW(validate_server({.address = "a:1", .zone = "z", .meta = {{"k", "line\nbreak"}}}));
  try {
    validate_server({.address = "a:1", .zone = "\x1b[31m"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("\\x1b[31m"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace frodo::detail
